#!/usr/bin/env bash
# The installed CMake package: find_package(FlumeClient) from c-tests/consumer,
# an executable on FlumeClient::flume_client and one on
# FlumeClient::flume_client_static, both run against the receiver of
# run_with_receiver.sh. The static one must not depend on libflume_client.so.
# Environment: see install_to_temp_prefix.sh, and CMAKE_GENERATOR, CC, CXX, FLUME_TLS.
set -euo pipefail
source "$(dirname "$0")/install_to_temp_prefix.sh"

build="$work/consumer-build"
"$CMAKE_COMMAND" -S "$FLUME_SOURCE_DIR/c-tests/consumer" -B "$build" \
  ${CMAKE_GENERATOR:+-G "$CMAKE_GENERATOR"} \
  -DCMAKE_PREFIX_PATH="$prefix" \
  ${CC:+-DCMAKE_C_COMPILER="$CC"} ${CXX:+-DCMAKE_CXX_COMPILER="$CXX"} \
  -DEXPECTED_FLUME_VERSION="$FLUME_VERSION" ${FLUME_TLS:+-DEXPECTED_FLUME_TLS="$FLUME_TLS"} ||
  fail "configuring the consumer failed"
"$CMAKE_COMMAND" --build "$build" || fail "building the consumer failed"

"$build/consumer_shared" || fail "consumer_shared failed"
"$build/consumer_static" || fail "consumer_static failed"

# The shared one loads the installed library; the static one none at all.
# (ldd's output is captured first: `ldd | grep -q` under pipefail fails when grep stops reading early.)
ldd_shared=$(ldd "$build/consumer_shared")
ldd_static=$(ldd "$build/consumer_static")
grep -q "libflume_client.so.${FLUME_VERSION%%.*} => $libdir/" <<<"$ldd_shared" ||
  fail "consumer_shared does not load the installed library:"$'\n'"$ldd_shared"
if grep -q libflume_client <<<"$ldd_static"; then
  fail "consumer_static depends on libflume_client.so:"$'\n'"$ldd_static"
fi
echo "ok: consumer_shared loads $libdir/libflume_client.so.${FLUME_VERSION%%.*}; consumer_static has no libflume_client dependency"

# 3 events from each: two from C, one from C++.
expected='{"headers":{"from":"c","kind":"shared"},"body":"one"}
{"headers":{"from":"c","kind":"shared"},"body":"two"}
{"headers":{"from":"cpp","kind":"shared"},"body":"three"}
{"headers":{"from":"c","kind":"static"},"body":"one"}
{"headers":{"from":"c","kind":"static"},"body":"two"}
{"headers":{"from":"cpp","kind":"static"},"body":"three"}'
got=$(cat "$FLUME_TEST_OUTPUT")
[ "$got" = "$expected" ] || fail "the receiver got:"$'\n'"$got"
echo "ok: the receiver got the 6 events"
