#!/usr/bin/env bash
# By hand only, never in CI: what Flume 1.11's Thrift source does with its
# default `threads` (unset: Integer.MAX_VALUE, so its selector server runs each
# call on a new thread of newFixedThreadPool(Integer.MAX_VALUE), never
# reclaimed), under one-event calls.
#
# Safe on a shared machine: the agent runs inside its own pids cgroup capped
# at CAP tasks (threads count as tasks), so only the agent can run out of
# threads, never the machine. Needs root (to make the cgroup), cgroup v1's
# pids controller or cgroup v2, and what scripts/flume-agent.sh needs.
#
# Usage: scripts/measure-default-threads.sh [CAP [ROUND [THREADS [ROUNDS]]]]
#   CAP      the cgroup's pids.max [2000]
#   ROUND    one-event calls per flume-send run (one connection each) [250]
#   THREADS  the source's `threads` [unset: Flume's default]; a number shows
#            the remedy (the thread count stays flat)
#   ROUNDS   stop after this many rounds even if nothing failed [1000]
# Prints, after each round, the calls acknowledged so far and the agent
# JVM's thread count; then what happened at the cap.
set -euo pipefail
cd "$(dirname "$0")/.."

cap=${1:-2000}
round=${2:-250}
source_threads=${3:-unset}
rounds=${4:-1000}
send=${FLUME_SEND:-target/debug/flume-send}
[ -x "$send" ] || cargo build -q -p flume-tools --bin flume-send

name="flume-threads-$$"
if [ -d /sys/fs/cgroup/pids ]; then
  cg=/sys/fs/cgroup/pids/$name # cgroup v1
else
  cg=/sys/fs/cgroup/$name # cgroup v2
fi
mkdir "$cg"
echo "$cap" >"$cg/pids.max"

dir=$(mktemp -d "${TMPDIR:-/tmp}/flume-threads.XXXXXX")
cleanup() {
  scripts/flume-agent.sh stop --dir "$dir" 2>/dev/null || true
  sleep 1
  rmdir "$cg" 2>/dev/null || true
}
trap cleanup EXIT

# The agent (and only it) inside the cgroup: this subshell joins it, then
# starts the agent, whose JVM inherits the cgroup.
(
  echo "$BASHPID" >"$cg/cgroup.procs"
  exec scripts/flume-agent.sh start --dir "$dir" --threads "$source_threads" --sink null --capacity 1000000
) >"$dir/started"
port=$(sed -n 's/^PORT //p' "$dir/started")
pid=$(sed -n 's/^PID //p' "$dir/started")
threads() { awk '/^Threads:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo gone; }
echo "agent pid $pid on port $port in $cg (pids.max $cap); threads at start: $(threads)"

seq 1 "$round" >"$dir/lines"
total=0
for _ in $(seq 1 "$rounds"); do
  if out=$("$send" --hosts "127.0.0.1:$port" --batch-size 1 --connect-timeout 5000 --request-timeout 10000 \
    -F "$dir/lines" 2>&1); then
    total=$((total + round))
    echo "calls acknowledged: $total  agent threads: $(threads)  cgroup tasks: $(cat "$cg/pids.current")"
  else
    done=$(echo "$out" | sed -n 's/.*resume with --skip \([0-9]*\).*/\1/p' | tail -1)
    total=$((total + ${done:-0}))
    echo "calls acknowledged: $total, then flume-send failed:"
    echo "$out" | tail -n 3 | sed 's/^/  /'
    break
  fi
done
echo "agent threads now: $(threads); cgroup tasks: $(cat "$cg/pids.current") of $cap"
echo "the agent's log on threads:"
grep -m 3 -iE "unable to create (new )?native thread|OutOfMemoryError" "$dir/flume.log" "$dir/flume.out" | sed 's/^/  /' || true
if "$send" --hosts "127.0.0.1:$port" --connect-timeout 3000 --request-timeout 5000 -F "$dir/lines" >/dev/null 2>&1; then
  echo "a new connection's calls: acknowledged"
else
  echo "a new connection's calls: refused or failed"
fi
