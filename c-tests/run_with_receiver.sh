#!/usr/bin/env bash
# Runs a test command against a fresh flume-receive on a free port.
#
#   run_with_receiver.sh [receiver options...] -- command [args...]
#
# The receiver is $FLUME_RECEIVER (required), started as
#   flume-receive --port 0 --port-file F --format json --output O [receiver options...]
# e.g. `--protocol binary`, `--reply failed`, `--delay-ms 2000`. The command then
# runs with
#   FLUME_TEST_HOSTS=127.0.0.1:PORT    where the receiver listens
#   FLUME_TEST_OUTPUT=O                the events it received, one JSON object a line
#   FLUME_RECEIVER                     unchanged (for tests that start their own)
# and this script exits with the command's status. The receiver is stopped on
# every exit path; its log is printed if the command fails. Anything that keeps
# the test from running (no receiver, receiver not listening within 20 s) is a
# failure, never a skip.
set -euo pipefail

fail() { echo "run_with_receiver: $*" >&2; exit 1; }

receiver_args=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  receiver_args+=("$1")
  shift
done
[ $# -gt 0 ] || fail "usage: run_with_receiver.sh [receiver options...] -- command [args...]"
shift
[ $# -gt 0 ] || fail "no command given after --"

[ -n "${FLUME_RECEIVER:-}" ] || fail "FLUME_RECEIVER is not set (path to flume-receive)"
[ -x "$FLUME_RECEIVER" ] || fail "FLUME_RECEIVER=$FLUME_RECEIVER is not an executable"

work=$(mktemp -d "${TMPDIR:-/tmp}/flume-test.XXXXXX")
port_file="$work/port"
output="$work/events.jsonl"
log="$work/receiver.log"
receiver_pid=""

cleanup() {
  local status=$?
  if [ -n "$receiver_pid" ] && kill -0 "$receiver_pid" 2>/dev/null; then
    kill "$receiver_pid" 2>/dev/null || true
    wait "$receiver_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -s "$log" ]; then
    echo "run_with_receiver: receiver log:" >&2
    sed 's/^/  | /' "$log" >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$FLUME_RECEIVER" --port 0 --port-file "$port_file" --format json --output "$output" \
  ${receiver_args[@]+"${receiver_args[@]}"} >"$log" 2>&1 &
receiver_pid=$!

# Wait (bounded) for the receiver to write its port: it does so once listening.
for _ in $(seq 1 200); do
  [ -s "$port_file" ] && break
  kill -0 "$receiver_pid" 2>/dev/null || fail "flume-receive exited before listening"
  sleep 0.1
done
[ -s "$port_file" ] || fail "flume-receive did not write $port_file within 20 s"
port=$(tr -d '[:space:]' <"$port_file")
case "$port" in
  '' | *[!0-9]*) fail "flume-receive wrote a bad port: '$port'" ;;
esac

export FLUME_TEST_HOSTS="127.0.0.1:$port"
export FLUME_TEST_OUTPUT="$output"
echo "run_with_receiver: flume-receive ${receiver_args[*]:-} on $FLUME_TEST_HOSTS; running $*"

status=0
"$@" || status=$?
exit "$status"
