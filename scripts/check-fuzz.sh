#!/usr/bin/env bash
# Checks that scripts/fuzz.sh tells an environment failure from a found input.
# It runs one target with the address space limited (`ulimit -v`), so that
# AddressSanitizer cannot map its shadow memory and the fuzzer dies before its
# first input: a real failure of the environment, like LeakSanitizer unable to
# fork its tracer (EAGAIN). fuzz.sh must retry once, then say "ENVIRONMENT
# FAILURE" (exit 3), quote the sanitizer, never say it found an input or ask
# for a fix, and leave no artifact among the findings.
#
# Run after scripts/fuzz.sh (scripts/test.sh does): it needs the fuzz build,
# and it keeps that run's log of the target.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "check-fuzz: FAIL: $*" >&2; exit 1; }
target=parse_host_list
log="fuzz/artifacts/$target.log"
work=$(mktemp -d "${TMPDIR:-/tmp}/flume-check-fuzz.XXXXXX")
[ -f "$log" ] && cp "$log" "$work/kept.log"
restore() {
  [ -f "$work/kept.log" ] && cp "$work/kept.log" "$log"
  rm -rf "$work" "fuzz/artifacts/$target.environment-1" "fuzz/artifacts/$target.environment-2"
}
trap restore EXIT
before=$(find "fuzz/artifacts/$target" -type f 2>/dev/null | sort)

status=0
# 8 GB of address space: plenty for cargo, far too little for ASan's shadow.
(ulimit -v 8000000 && scripts/fuzz.sh 2 "$target") >"$work/out.log" 2>&1 || status=$?
out=$(cat "$work/out.log")
[ "$status" -eq 3 ] || { echo "$out"; fail "fuzz.sh exited $status, expected 3 (an environment failure)"; }
grep -q "fuzz $target: attempt 1 failed (exit [0-9]*) in the environment, not on an input" <<<"$out" ||
  { echo "$out"; fail "the first failure is not reported as the environment's"; }
grep -q "fuzz $target: attempt 2 failed" <<<"$out" || { echo "$out"; fail "fuzz.sh did not retry"; }
grep -q "ENVIRONMENT FAILURE twice" <<<"$out" || { echo "$out"; fail "no ENVIRONMENT FAILURE verdict"; }
grep -q "AddressSanitizer\|Sanitizer" <<<"$out" || { echo "$out"; fail "the sanitizer's own words are not quoted"; }
if grep -qE "FOUND AN INPUT|fix the bug" <<<"$out"; then echo "$out"; fail "an environment failure was reported as a found input"; fi
after=$(find "fuzz/artifacts/$target" -type f 2>/dev/null | sort)
[ "$before" = "$after" ] || fail "new files among the findings in fuzz/artifacts/$target: $(comm -13 <(echo "$before") <(echo "$after"))"
echo "check-fuzz: ok: under ulimit -v, fuzz.sh retried once and reported an environment failure (exit 3), not a found input"
