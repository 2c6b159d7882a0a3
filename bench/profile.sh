#!/usr/bin/env bash
# Where this library's client spends its time: runs the C benchmark (through the
# C API, against the null sink) under `perf stat` and under valgrind's callgrind,
# and prints the hottest functions with their share of instructions.
# Run bench/run.sh (or run.sh --quick) first: it builds what this uses.
#
# Usage: bench/profile.sh [PROTOCOL [BATCH [BODY]]]   (default compact 1000 256)
# Needs: linux-perf (perf), valgrind (apt).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$here/build"
p="${1:-compact}"; n="${2:-1000}"; b="${3:-256}"
[ -x "$build/bench_flume" ] && [ -x "$here/target/release/nullsink" ] || { echo "run bench/run.sh first" >&2; exit 1; }

"$here/target/release/nullsink" 0 >"$build/profile-sink.out" &
sink=$!
trap 'kill $sink 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  port="$(sed -n 's/^PORT //p' "$build/profile-sink.out")"; [ -n "$port" ] && break; sleep 0.05
done

echo "== perf stat: flume-client, $p, batch $n, body $b (2 s) =="
perf stat -e task-clock,context-switches,cpu-migrations,page-faults,instructions,cycles \
  "$build/bench_flume" flume "$port" null "$p" "$n" "$b" 0.2 2 2>&1 || true
echo "== perf stat: floor, same frames =="
[ -f "$build/frames/$p-$n-$b.bin" ] || "$here/target/release/make_frames" "$p" "$n" "$b" "$build/frames/$p-$n-$b.bin"
perf stat -e task-clock,context-switches,instructions,cycles \
  "$build/bench_flume" floor "$port" "$build/frames/$p-$n-$b.bin" null "$p" "$n" "$b" 0.2 2 2>&1 || true

echo "== syscalls per call (strace -c, 0.3 s) =="
if command -v strace >/dev/null; then
  strace -f -c -o "$build/profile-strace.txt" "$build/bench_flume" flume "$port" null "$p" "$n" "$b" 0 0.3 >/dev/null
  head -15 "$build/profile-strace.txt"
fi

echo "== callgrind: instructions by function (inclusive of nothing: self cost) =="
out="$build/callgrind.out"
valgrind --tool=callgrind --callgrind-out-file="$out" \
  "$build/bench_flume" flume "$port" null "$p" "$n" "$b" 0 1 >/dev/null 2>"$build/profile-valgrind.err"
callgrind_annotate --threshold=98 "$out" 2>/dev/null | sed -n '1,45p'
echo "(full profile: callgrind_annotate $out; inclusive: add --inclusive=yes)"
