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
# A failed run is a found input only if its artifact fails again when replayed
# alone. Otherwise the environment failed, not the code: LeakSanitizer that
# cannot fork its tracer (EAGAIN under load; it writes an empty artifact),
# AddressSanitizer that cannot map its shadow memory (ulimit -v), and the like.
# Such a run is retried once, and the script says which it was: "FOUND AN INPUT"
# (exit 1), "passed on retry after an environment failure", or "ENVIRONMENT
# FAILURE" twice (exit 3, with the sanitizer's own words; exit 1 wins when
# another target found an input).
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
# fuzz TARGET LOG: one bounded run from the corpus and the seeds; its exit status.
fuzz() {
  local target=$1 log=$2 extra=()
  [ -f "fuzz/dicts/$target.dict" ] && extra+=("-dict=fuzz/dicts/$target.dict")
  cargo fuzz run --fuzz-dir fuzz "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 \
    -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$target/" ${extra[@]+"${extra[@]}"} \
    >"$log" 2>&1
}
# What sanitizers print when they themselves cannot work (a replay failing so
# says nothing about the input).
environment_failures='LeakSanitizer has encountered a fatal error|Failed spawning a tracer|ReserveShadowMemoryRange failed|AddressSanitizer failed to allocate|Resource temporarily unavailable|ERROR: Failed to mmap'
# found TARGET LOG: the artifacts of the failed run that fail again when
# replayed alone, one a line (none: the environment failed, not the code).
found() {
  local target=$1 log=$2 artifact
  sed -n 's/.*Test unit written to \(fuzz\/artifacts\/[^ ]*\).*/\1/p' "$log" | sort -u | while read -r artifact; do
    [ -f "$artifact" ] || continue
    if ! cargo fuzz run --fuzz-dir fuzz "$target" "$artifact" -- -runs=1 -timeout=10 -rss_limit_mb=2048 \
      -malloc_limit_mb=256 >"$artifact.replay.log" 2>&1 &&
      ! grep -qE "$environment_failures" "$artifact.replay.log"; then
      echo "$artifact"
    fi
  done
}
# why LOG: the sanitizer's or libFuzzer's own words about the failure.
why() {
  grep -m 4 -E 'Sanitizer|ERROR|[Ff]ailed|errno|Resource temporarily unavailable|Cannot allocate memory|panicked' "$1" |
    sed 's/^/  | /' || tail -n 5 "$1" | sed 's/^/  | /'
}

for target in "${targets[@]}"; do
  [ -d "fuzz/seeds/$target" ] || { echo "fuzz.sh: no target '$target' (no fuzz/seeds/$target)" >&2; exit 2; }
  mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
  log="fuzz/artifacts/$target.log"
  echo "== fuzz $target: ${seconds}s"
  outcome=""
  for attempt in 1 2; do
    status=0
    fuzz "$target" "$log" || status=$?
    [ "$status" -eq 0 ] && break
    findings=$(found "$target" "$log")
    if [ -n "$findings" ]; then
      outcome=found
      break
    fi
    # Not reproducible: keep the log and any artifact aside, out of the findings.
    env_dir="fuzz/artifacts/$target.environment-$attempt"
    rm -rf "$env_dir" && mkdir -p "$env_dir"
    cp "$log" "$env_dir/"
    written=$(sed -n 's/.*Test unit written to \(fuzz\/artifacts\/[^ ]*\).*/\1/p' "$log" | sort -u)
    for artifact in $written; do
      [ -f "$artifact" ] && mv "$artifact" "$env_dir/" && { mv "$artifact.replay.log" "$env_dir/" 2>/dev/null || true; }
    done
    if [ -n "$written" ]; then
      evidence="its artifact does not fail again when replayed alone"
    else
      evidence="it wrote no artifact"
    fi
    echo "fuzz $target: attempt $attempt failed (exit $status) in the environment, not on an input: $evidence; kept in $env_dir/:"
    why "$log"
    outcome=environment
  done
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  per_sec=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  units=$(find "fuzz/corpus/$target" -type f | wc -l)
  if [ "$outcome" = found ]; then
    failed=1
    echo "fuzz $target: FOUND AN INPUT (exit $status) after ${runs:-?} executions; the end of $log:"
    tail -n 60 "$log" | sed 's/^/  | /'
    for artifact in $findings; do
      echo "  artifact (fails again when replayed alone): $artifact"
    done
    echo "  reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz $target <artifact>"
    echo "  then copy it to fuzz/regressions/$target/ (tests/fuzz_regressions.rs replays it) and fix the bug"
    summary+=("fuzz $target: FOUND AN INPUT after ${runs:-?} executions")
  elif [ "$status" -ne 0 ]; then
    [ "$failed" -eq 1 ] || failed=3
    echo "fuzz $target: ENVIRONMENT FAILURE twice (exit $status): the fuzzer could not run here; no input was found (see above and $env_dir/)"
    summary+=("fuzz $target: ENVIRONMENT FAILURE twice, not a found input")
  else
    line="fuzz $target: ${runs:-?} executions in ${seconds}s (${per_sec:-?}/s), corpus $units inputs, 0 crashes"
    [ "$outcome" = environment ] && line+=" (passed on retry after an environment failure)"
    echo "$line"
    summary+=("$line")
  fi
done

echo "== fuzz summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
