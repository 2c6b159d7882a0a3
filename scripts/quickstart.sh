#!/usr/bin/env bash
# Quick start: builds everything with CMake into ./build (the Rust library with
# cargo, the C example, the C tests), then sends the example's events:
#   - to FLUME_HOSTS when it is set (a real agent's Thrift source, e.g.
#     FLUME_HOSTS=agent1:4141 scripts/quickstart.sh), or
#   - to the bundled flume-receive, started on a free port and stopped at the
#     end, printing what it received (the example's events, then two lines
#     sent with the flume-send command-line tool).
#
# On a fresh Debian/Ubuntu machine it installs cmake, gcc, g++, make and
# pkg-config with apt-get when they are missing. Rust (cargo) must be installed:
# https://rustup.rs
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "quickstart: $*"; }
die() { echo "quickstart: $*" >&2; exit 1; }

# --- Tools -----------------------------------------------------------------------
missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v cc >/dev/null || missing+=(gcc)
command -v c++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
command -v pkg-config >/dev/null || missing+=(pkg-config)
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "missing ${missing[*]}; install them and run again"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "missing ${missing[*]}; run as root or install sudo"
    sudo_cmd=(sudo)
  fi
  say "installing ${missing[*]} with apt-get"
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null ||
  die "cargo not found: install Rust with  curl --proto '=https' -sSf https://sh.rustup.rs | sh  and run again"

# --- Build -----------------------------------------------------------------------
jobs=$(nproc 2>/dev/null || echo 2)
say "cmake -S . -B build -DCMAKE_BUILD_TYPE=Release"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
say "cmake --build build -j$jobs"
cmake --build build -j"$jobs"

example=build/examples/send_events
receiver=build/bin/flume-receive
sender=build/bin/flume-send
[ -x "$example" ] || die "$example was not built"

# --- Send --------------------------------------------------------------------------
if [ -n "${FLUME_HOSTS:-}" ]; then
  say "sending to $FLUME_HOSTS"
  "$example" "$FLUME_HOSTS"
  exit
fi

[ -x "$receiver" ] || die "$receiver was not built"
[ -x "$sender" ] || die "$sender was not built"
work=$(mktemp -d "${TMPDIR:-/tmp}/flume-quickstart.XXXXXX")
receiver_pid=""
stop() {
  if [ -n "$receiver_pid" ]; then
    kill "$receiver_pid" 2>/dev/null || true
    wait "$receiver_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop EXIT

"$receiver" --port 0 --port-file "$work/port" --output "$work/events.txt" 2>"$work/receiver.log" &
receiver_pid=$!
for _ in $(seq 1 100); do
  [ -s "$work/port" ] && break
  kill -0 "$receiver_pid" 2>/dev/null || { cat "$work/receiver.log" >&2; die "flume-receive did not start"; }
  sleep 0.1
done
[ -s "$work/port" ] || die "flume-receive did not start listening within 10 s"
hosts="127.0.0.1:$(cat "$work/port")"
say "started flume-receive on $hosts (set FLUME_HOSTS to send to a real agent instead)"

"$example" "$hosts"
say "sending two lines with $sender"
printf 'hello from the shell\nsecond line\n' | "$sender" --hosts "$hosts" --header source=quickstart

say "flume-receive received:"
sed 's/^/  /' "$work/events.txt"
say "done; the example is build/examples/send_events, the library build/lib/, the header include/flume_client.h,"
say "the tools build/bin/flume-send and build/bin/flume-receive (--help for each)"
