#!/usr/bin/env bash
# add_subdirectory use: c-tests/outside adds this source tree with
# BUILD_SHARED_LIBS=ON. Checks that only the library is built (no flume-send,
# no flume-receive, no tests), that FlumeClient::FlumeClient is then the shared
# library (outside_cpp loads libflume_client.so), and that both programs
# deliver their event to the receiver of run_with_receiver.sh.
# Environment (from ctest): CMAKE_COMMAND, CMAKE_GENERATOR, CC, CXX,
# FLUME_SOURCE_DIR, FLUME_CARGO_TARGET_DIR (shared with the main build, so
# cargo finds its work done; the configure-time rustc question is skipped, the
# main build asked it), FLUME_TEST_HOSTS, FLUME_TEST_OUTPUT.
set -euo pipefail
fail() { echo "test_consumer_subdirectory: FAIL: $*" >&2; exit 1; }
for v in CMAKE_COMMAND FLUME_SOURCE_DIR FLUME_CARGO_TARGET_DIR FLUME_TEST_HOSTS FLUME_TEST_OUTPUT; do
  [ -n "${!v:-}" ] || fail "$v is not set (run through ctest)"
done
work=$(mktemp -d "${TMPDIR:-/tmp}/flume-subdir.XXXXXX")
trap 'rm -rf "$work"' EXIT
build="$work/build"

"$CMAKE_COMMAND" -S "$FLUME_SOURCE_DIR/c-tests/outside" -B "$build" \
  ${CMAKE_GENERATOR:+-G "$CMAKE_GENERATOR"} ${CC:+-DCMAKE_C_COMPILER="$CC"} ${CXX:+-DCMAKE_CXX_COMPILER="$CXX"} \
  -DFLUME_CLIENT_SOURCE_DIR="$FLUME_SOURCE_DIR" -DBUILD_SHARED_LIBS=ON \
  -DFLUME_CLIENT_CARGO_TARGET_DIR="$FLUME_CARGO_TARGET_DIR" -DFLUME_CLIENT_QUERY_NATIVE_STATIC_LIBS=OFF \
  >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log" >&2; fail "configuring failed"; }
"$CMAKE_COMMAND" --build "$build" >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; fail "building failed"; }

[ ! -e "$build/flume-client/bin/flume-receive" ] && [ ! -e "$build/flume-client/bin/flume-send" ] ||
  fail "add_subdirectory built the tools"
if grep -q "flume-tools" "$work/build.log"; then fail "cargo built flume-tools:"$'\n'"$(cat "$work/build.log")"; fi
[ ! -e "$build/flume-client/c-tests" ] || fail "add_subdirectory configured the tests"
[ ! -e "$build/flume-client/examples" ] || fail "add_subdirectory configured the examples"
echo "ok: add_subdirectory built the library alone"

ldd_cpp=$(ldd "$build/outside_cpp")
grep -q "libflume_client.so.0 => $build/flume-client/lib/" <<<"$ldd_cpp" ||
  fail "with BUILD_SHARED_LIBS=ON, outside_cpp does not load the shared library:"$'\n'"$ldd_cpp"
echo "ok: BUILD_SHARED_LIBS=ON: FlumeClient::FlumeClient is the shared library"

"$build/outside_c" "$FLUME_TEST_HOSTS" || fail "outside_c failed"
"$build/outside_cpp" "$FLUME_TEST_HOSTS" || fail "outside_cpp failed"
expected='{"headers":{"from":"outside_c"},"body":"outside C"}
{"headers":{"from":"outside_cpp"},"body":"outside C++"}'
got=$(cat "$FLUME_TEST_OUTPUT")
[ "$got" = "$expected" ] || fail "the receiver got:"$'\n'"$got"
echo "ok: the receiver got both events"
