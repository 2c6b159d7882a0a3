#!/usr/bin/env bash
# The Conan 2 recipe end to end (README "Conan"): `conan create .` builds the
# package from this tree (offline: no remote is enabled, cargo runs with
# CARGO_NET_OFFLINE) and runs test_package/ against it. Uses a Conan home of
# its own (CONAN_HOME, default a temporary directory), so it neither reads nor
# changes the user's ~/.conan2. The recipe builds without LTO (option
# lto=False, its default) to keep this short.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(scripts/python-venv.sh)
conan="$venv/bin/conan"
own_home=""
if [ -z "${CONAN_HOME:-}" ]; then
  own_home=$(mktemp -d "${TMPDIR:-/tmp}/flume-conan.XXXXXX")
  export CONAN_HOME="$own_home"
fi
# test_package/'s build folder and user presets are Conan's, not the project's.
cleanup() { rm -rf test_package/build test_package/CMakeUserPresets.json ${own_home:+"$own_home"}; }
trap cleanup EXIT

"$conan" profile detect --exist-ok >/dev/null 2>&1
"$conan" remote disable "*" >/dev/null
echo "== conan create . (Conan $("$conan" --version | awk '{print $3}'), offline)"
log="$CONAN_HOME/create.log"
if ! "$conan" create . --build="flume-client/*" >"$log" 2>&1; then
  tail -60 "$log" >&2
  echo "test-conan: FAIL: conan create failed" >&2
  exit 1
fi
grep -E "^test_(c|cpp): " "$log"
grep -q "^test_cpp: flume-client .* works" "$log" && grep -q "^test_c: flume-client .* works" "$log" ||
  { tail -40 "$log" >&2; echo "test-conan: FAIL: test_package did not run" >&2; exit 1; }
echo "ok: conan create built the package and its test_package ran"
