#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ (cargo-fuzz, libFuzzer, AddressSanitizer)
# for a bounded time each, and prints each target's executions.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS per target: 20 by default (what CI runs); e.g. `scripts/fuzz.sh 600`
# fuzzes ten minutes each, `scripts/fuzz.sh 3600 decode_reply` one target an hour.
# Targets: decode_reply (the client's reply decoder, both protocols),
# decode_call (the receiver's call decoder, both protocols), parse_host_list,
# load_properties.
#
# Each run starts from the checked-in seeds (fuzz/seeds/<target>, from
# tests/data/wire-vectors.txt by fuzz/make_seeds.py) plus the working corpus
# fuzz/corpus/<target> (kept between runs, not committed). An input that
# panics, overflows, reads out of bounds, allocates more than 256 MB at once
# or takes more than 10 s is saved under fuzz/artifacts/<target>/ and fails the
# script: copy it to fuzz/regressions/<target>/, where tests/fuzz_regressions.rs
# replays it as a normal cargo test.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`; scripts/install-deps.sh
# installs it). The sanitizer flags are nightly-only: RUSTC_BOOTSTRAP=1 lets
# the stable toolchain accept them.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-20}
case "$seconds" in
  '' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number, not '$seconds'" >&2; exit 2 ;;
esac
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decode_reply decode_call parse_host_list load_properties)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo-fuzz is not installed (cargo install cargo-fuzz --locked)" >&2
  exit 1
fi

export RUSTC_BOOTSTRAP=1
echo "fuzz.sh: building the fuzz targets ($(cargo fuzz --version))"
mkdir -p fuzz/artifacts
if ! cargo fuzz build --fuzz-dir fuzz >fuzz/artifacts/build.log 2>&1; then
  tail -n 40 fuzz/artifacts/build.log >&2
  exit 1
fi
tail -n 1 fuzz/artifacts/build.log

summary=()
failed=0
for target in "${targets[@]}"; do
  [ -d "fuzz/seeds/$target" ] || { echo "fuzz.sh: no target '$target' (no fuzz/seeds/$target)" >&2; exit 2; }
  mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
  extra=()
  [ -f "fuzz/dicts/$target.dict" ] && extra+=("-dict=fuzz/dicts/$target.dict")
  log="fuzz/artifacts/$target.log"
  echo "== fuzz $target: ${seconds}s"
  status=0
  cargo fuzz run --fuzz-dir fuzz "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 \
    -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$target/" ${extra[@]+"${extra[@]}"} \
    >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  per_sec=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  units=$(find "fuzz/corpus/$target" -type f | wc -l)
  if [ "$status" -ne 0 ]; then
    failed=1
    echo "fuzz $target: FAILED (exit $status) after ${runs:-?} executions; the end of $log:"
    tail -n 60 "$log" | sed 's/^/  | /'
    ls "fuzz/artifacts/$target/" | sed 's/^/  artifact: /'
    echo "  reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz $target fuzz/artifacts/$target/<artifact>"
    echo "  then copy it to fuzz/regressions/$target/ (tests/fuzz_regressions.rs replays it) and fix the bug"
    summary+=("fuzz $target: FAILED after ${runs:-?} executions")
  else
    line="fuzz $target: ${runs:-?} executions in ${seconds}s (${per_sec:-?}/s), corpus $units inputs, 0 crashes"
    echo "$line"
    summary+=("$line")
  fi
done

echo "== fuzz summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
