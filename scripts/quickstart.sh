#!/usr/bin/env bash
# Quick start: builds everything with CMake into ./build (the Rust library with
# cargo, the C example, the C tests), then sends the example's events:
#   - to FLUME_HOSTS when it is set (a real agent's Thrift source, e.g.
#     FLUME_HOSTS=agent1:4141 scripts/quickstart.sh), or
#   - to the bundled flume-receive, started on a free port and stopped at the
#     end, printing what it received (the example's events, then two lines
#     sent with the flume-send command-line tool), or
#   - with --real-agent, to a real Apache Flume 1.11.0 agent started on a free
#     port by scripts/flume-agent.sh (Flume from Maven Central: needs mvn and a
#     JDK), whose Thrift sink forwards to that flume-receive; what it printed is
#     then what went through Flume.
#
# On a fresh Debian/Ubuntu machine it installs cmake, gcc, g++, make and
# pkg-config with apt-get when they are missing. Rust (cargo) must be installed:
# https://rustup.rs
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "quickstart: $*"; }
die() { echo "quickstart: $*" >&2; exit 1; }

real_agent=0
case "${1:-}" in
  "") ;;
  --real-agent) real_agent=1 ;;
  *) die "usage: scripts/quickstart.sh [--real-agent]" ;;
esac

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
agent_dir=""
stop() {
  if [ -n "$agent_dir" ]; then
    scripts/flume-agent.sh stop --dir "$agent_dir" || true
  fi
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
if [ "$real_agent" = 1 ]; then
  say "starting a real Apache Flume 1.11.0 agent (scripts/flume-agent.sh; the first run downloads it from Maven Central)"
  agent_dir="$work/agent"
  scripts/flume-agent.sh start --dir "$agent_dir" --sink "thrift:$hosts" --sink-batch-size 100 >"$work/agent.out"
  agent="127.0.0.1:$(sed -n 's/^PORT //p' "$work/agent.out")"
  say "the agent's Thrift source listens on $agent; its Thrift sink forwards to flume-receive on $hosts"
  say "agent configuration ($agent_dir/agent.conf):"
  grep -v '^#' "$agent_dir/agent.conf" | sed 's/^/  /'
  hosts="$agent"
fi

"$example" "$hosts"
say "sending two lines with $sender"
printf 'hello from the shell\nsecond line\n' | "$sender" --hosts "$hosts" --header source=quickstart

if [ "$real_agent" = 1 ]; then
  # The agent's sink forwards in its own time: wait until the count settles.
  last=-1
  for _ in $(seq 1 50); do
    now=$(wc -l <"$work/events.txt" 2>/dev/null || echo 0)
    [ "$now" -gt 0 ] && [ "$now" = "$last" ] && break
    last=$now
    sleep 0.3
  done
  say "flume-receive received from the agent's Thrift sink:"
else
  say "flume-receive received:"
fi
sed 's/^/  /' "$work/events.txt"
say "done; the example is build/examples/send_events, the library build/lib/, the header include/flume_client.h,"
say "the tools build/bin/flume-send and build/bin/flume-receive (--help for each)"
