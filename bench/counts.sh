#!/usr/bin/env bash
# The client's own cost in deterministic counts, which a loaded machine does not
# blur (bench/run.sh's events/s do move): user-space instructions per event
# (valgrind's callgrind, counting only inside flume_client_append and
# flume_client_append_batch, connecting excluded) and syscalls per call (strace),
# for both protocols and batches of 1, 100 and 1,000 events of BODY bytes with
# three headers (the events of bench/run.sh, which share one header array; at
# batch 1,000 also with arrays and strings of their own), through the C API of
# bench_flume.c against the null sink; then the instructions of each
# flume_client_send.
#
# Usage: bench/counts.sh [BODY]   (default 256)
# bench/run.sh runs it too and adds its table to bench/results/latest.md.
# Builds what it needs (the library, the null sink, bench_flume). Needs valgrind
# and strace (apt). About a minute and a half on 2 cores after the builds.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="$here/build/counts"
body="${1:-256}"
mkdir -p "$build/lib"
command -v valgrind >/dev/null && command -v strace >/dev/null || "$root/scripts/apt-install.sh" valgrind strace

# bench/run.sh passes the library it measures (COUNTS_LIB, COUNTS_INCLUDE: a --rev snapshot's).
if [ -n "${COUNTS_LIB:-}" ]; then
  cp "$COUNTS_LIB" "$build/lib/libflume_client.so"
else
  (cd "$root" && cargo build --release --lib -q)
  cp "$root/target/release/libflume_client_ffi.so" "$build/lib/libflume_client.so"
fi
include="${COUNTS_INCLUDE:-$root/include}"
soname="$(readelf -d "$build/lib/libflume_client.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')"
[ -n "$soname" ] && [ "$soname" != libflume_client.so ] && ln -sf libflume_client.so "$build/lib/$soname"
CARGO_TARGET_DIR="$here/target" cargo build --release -q --manifest-path "$here/Cargo.toml" --bin nullsink
cc -O2 -g -Wall -Wextra -o "$build/bench_flume" "$here/bench_flume.c" "$here/alloc_count.c" \
  -I "$include" -L "$build/lib" -lflume_client -Wl,-rpath,"$build/lib" -rdynamic

"$here/target/release/nullsink" 0 >"$build/sink.out" &
sink=$!
trap 'kill $sink 2>/dev/null || true' EXIT
port=""
for _ in $(seq 1 100); do
  port="$(sed -n 's/^PORT //p' "$build/sink.out")"; [ -n "$port" ] && break; sleep 0.05
done
[ -n "$port" ] || { echo "counts.sh: the null sink did not start" >&2; exit 1; }

# Inclusive instructions of the functions whose names match $2 in callgrind file $1.
inclusive() {
  callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
    awk -v pat="$2" '$0 ~ pat { gsub(",", "", $1); s += $1 } END { print s + 0 }'
}

# The events' headers (bench_flume.c's BENCH_HEADERS): "shared", one array for
# every event, at each batch size; "own" arrays pointing to the same strings and
# "copied" arrays with strings of their own, at batch 1,000.
echo "| protocol | batch | headers | calls | instructions per event | per call | syscalls per call (strace, steady state) |"
echo "| --- | ---: | --- | ---: | ---: | ---: | --- |"
for p in compact binary; do
  for cell in 1:shared 100:shared 1000:shared 1000:own 1000:copied; do
    n="${cell%:*}"; headers="${cell#*:}"
    export BENCH_HEADERS="$headers"
    out="$build/callgrind-$p-$n-$headers.out"
    # Seconds of valgrind time: enough calls that the per-call figure is exact to the instruction.
    secs=1; [ "$n" = 1000 ] && secs=3
    json="$(valgrind --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no \
      --toggle-collect='flume_client_append' --toggle-collect='flume_client_append_batch' \
      "$build/bench_flume" flume "$port" null "$p" "$n" "$body" 0 "$secs" 2>"$build/valgrind.err")"
    calls="$(sed -n 's/.*"calls":\([0-9]*\).*/\1/p' <<<"$json")"
    total="$(sed -n 's/^summary: *//p; s/^totals: *//p' "$out" | head -1 | awk '{print $1}')"
    connect="$(inclusive "$out" 'transport::Connection::open')"
    per_call=$(( (total - connect) / calls ))
    per_event=$(( (total - connect) / (calls * n) ))
    # strace: every syscall of 2 s of calls, after 0.3 s of warm-up outside it, divided by the calls.
    sjson="$(strace -f -qq -c -o "$build/strace-$p-$n-$headers.txt" -e trace='!futex' \
      "$build/bench_flume" flume "$port" null "$p" "$n" "$body" 0 2)"
    scalls="$(sed -n 's/.*"calls":\([0-9]*\).*/\1/p' <<<"$sjson")"
    per_sys="$(awk -v c="$scalls" 'NR > 2 && $1 ~ /^[0-9.]+$/ && $NF != "total" {
        n = (NF == 6) ? $4 : $4; name = $NF; if ($4 + 0 >= c / 2) printf "%s %.2f, ", name, $4 / c }' \
      "$build/strace-$p-$n-$headers.txt")"
    echo "| $p | $n | $headers | $calls | $per_event | $per_call | ${per_sys%, } |"
  done
done
unset BENCH_HEADERS

# The asynchronous path's caller: instructions per flume_client_send (its
# check, the encoding and the copy into the queue; the sender thread's work,
# on its own thread, is not counted), batch-size 1,000, in steady state (the
# queue full, so send waits for the sender: bench_flume send).
echo
echo "| protocol | flume_client_send: the caller's instructions per event (batch-size 1,000) |"
echo "| --- | ---: |"
for p in compact binary; do
  out="$build/callgrind-send-$p.out"
  json="$(valgrind --tool=callgrind --callgrind-out-file="$out" --collect-atstart=no \
    --toggle-collect='flume_client_send' \
    "$build/bench_flume" send "$port" null "$p" 1000 "$body" 0 2 2>"$build/valgrind.err")"
  calls="$(sed -n 's/.*"calls":\([0-9]*\).*/\1/p' <<<"$json")"
  total="$(sed -n 's/^summary: *//p; s/^totals: *//p' "$out" | head -1 | awk '{print $1}')"
  echo "| $p | $(( total / (calls * 1000) )) |"
done
