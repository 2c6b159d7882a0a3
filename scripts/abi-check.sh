#!/usr/bin/env bash
# The ABI check (README "ABI and versioning"): compares the exported functions
# and types of libflume_client.so with the baseline committed for its SONAME,
# abi/libflume_client.so.<major>.abi, using abidiff (Debian's abigail-tools).
#
#   scripts/abi-check.sh [LIBRARY]           check (default target/debug/libflume_client_ffi.so)
#   scripts/abi-check.sh --update [LIBRARY]  write the baseline of LIBRARY's SONAME
#   scripts/abi-check.sh --self-test [LIB]   show that the check fails on a removed or
#                                            changed function and passes on an added one
#
# Added functions and types pass. A removed function or variable, or one whose
# parameters, return type or the types they reach changed (struct layout,
# integer width, callback signature), fails: that is an incompatible change,
# which needs a new major version, hence a new SONAME and a new baseline.
# --update refuses to overwrite a baseline of the same SONAME with an
# incompatible ABI.
#
# The library must carry DWARF: the dev profile's (`cargo build --lib`, which
# `cargo test` has already done) does, and its ABI is the release build's (same
# code, same exported items; only optimisation differs). flume_client and
# flume_config are opaque in C, so changes inside them (Rust's private fields)
# are suppressed (abi/suppressions.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=check
case "${1:-}" in
  --update) mode=update; shift ;;
  --self-test) mode=self-test; shift ;;
esac
lib=${1:-target/debug/libflume_client_ffi.so}
supp=abi/suppressions.txt

fail() { echo "abi-check: FAIL: $*" >&2; exit 1; }
command -v abidiff >/dev/null || fail "abidiff not found (apt-get install abigail-tools)"
[ -f "$lib" ] || fail "$lib not found (cargo build --lib)"

soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ -n "$soname" ] || fail "$lib has no SONAME"
baseline="abi/$soname.abi"
work=$(mktemp -d "${TMPDIR:-/tmp}/abi-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The ABI of a library or an .abi file, as XML.
abi_of() {
  case "$1" in
    *.abi) cp "$1" "$2" ;;
    *) abidw --no-show-locs --no-corpus-path "$1" >"$2" ;;
  esac
}

# compare OLD NEW: prints abidiff's report; exit 0 when NEW is compatible with OLD.
compare() {
  local report status=0
  report=$(abidiff --suppressions "$supp" "$1" "$2") || status=$?
  printf '%s\n' "$report"
  # abidiff's status bits: 1 error, 2 usage error, 4 an ABI change, 8 an incompatible one.
  if (( status & 3 )); then
    echo "abi-check: abidiff failed (status $status)" >&2
    return 2
  fi
  if (( status & 8 )); then return 1; fi
  # Bit 4 covers additions too: fail only on removals and changes.
  if grep -Eq '(^|, )[1-9][0-9]* (Removed|Changed)' <<<"$(grep -E 'changes summary' <<<"$report")"; then
    return 1
  fi
  return 0
}

case "$mode" in
  check)
    [ -f "$baseline" ] || fail "no baseline $baseline for SONAME $soname: a new major version needs one (scripts/abi-check.sh --update)"
    echo "== abidiff $baseline $lib"
    if compare "$baseline" "$lib"; then
      echo "abi-check: ok: $soname is compatible with its baseline"
    else
      fail "$soname is not compatible with $baseline (a removed or changed function or type): keep the ABI, or bump the major version in Cargo.toml (new SONAME) and write its baseline with --update"
    fi
    ;;
  update)
    if [ -f "$baseline" ]; then
      compare "$baseline" "$lib" >/dev/null ||
        fail "$lib is incompatible with $baseline of the same SONAME: bump the major version instead of rewriting the baseline"
    fi
    abi_of "$lib" "$baseline"
    echo "abi-check: wrote $baseline"
    ;;
  self-test)
    [ -f "$baseline" ] || fail "no baseline $baseline"
    abi_of "$lib" "$work/current.abi"
    # Variants of the current ABI, edited as XML: without flume_client_flush (so the
    # real library "adds" it), and with flume_client_flush's timeout as u64.
    python3 - "$work/current.abi" "$work" <<'PY'
import re, sys
src, out = sys.argv[1], sys.argv[2]
xml = open(src).read()
flush = re.compile(r"\s*<function-decl name='flume_client_flush'.*?</function-decl>", re.S)
assert flush.search(xml), "flume_client_flush not in the ABI"
removed = flush.sub("", xml, count=1)
removed = re.sub(r"\s*<elf-symbol name='flume_client_flush'[^>]*/>", "", removed, count=1)
open(out + "/without_flush.abi", "w").write(removed)
u64 = re.search(r"<type-decl name='u64'[^>]* id='([^']+)'", xml)
assert u64, "no u64 type in the ABI"
decl = flush.search(xml).group(0)
params = re.findall(r"<parameter type-id='([^']+)'", decl)
changed_decl = decl.replace("<parameter type-id='%s'" % params[1], "<parameter type-id='%s'" % u64.group(1), 1)
assert changed_decl != decl
open(out + "/flush_u64.abi", "w").write(xml.replace(decl, changed_decl, 1))
PY
    status=0; compare "$work/without_flush.abi" "$work/current.abi" >"$work/added.txt" || status=$?
    [ "$status" -eq 0 ] || { cat "$work/added.txt"; fail "an added function failed the check"; }
    grep -q "1 Added function" "$work/added.txt" || { cat "$work/added.txt"; fail "abidiff did not see the added function"; }
    echo "ok: an added function passes"
    status=0; compare "$work/current.abi" "$work/without_flush.abi" >"$work/removed.txt" || status=$?
    [ "$status" -eq 1 ] || { cat "$work/removed.txt"; fail "a removed function did not fail the check (status $status)"; }
    echo "ok: a removed function fails: $(grep 'Functions changes summary' "$work/removed.txt")"
    status=0; compare "$work/current.abi" "$work/flush_u64.abi" >"$work/changed.txt" || status=$?
    [ "$status" -eq 1 ] || { cat "$work/changed.txt"; fail "a changed parameter type did not fail the check (status $status)"; }
    echo "ok: a changed parameter type fails: $(grep 'Functions changes summary' "$work/changed.txt")"
    ;;
esac
