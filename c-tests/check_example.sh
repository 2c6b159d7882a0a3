#!/usr/bin/env bash
# Runs examples/send_events against the receiver of run_with_receiver.sh and
# checks what arrived; then against a port where nothing listens, where it must
# fail with a message.
#
#   run_with_receiver.sh -- check_example.sh path/to/send_events [LAST_BODY]
#
# LAST_BODY is the third event's body ("from C"; "from C++" for send_events.cpp).
set -euo pipefail

fail() { echo "check_example: FAIL: $*" >&2; exit 1; }

example=$1
last_body=${2:-from C}
: "${FLUME_TEST_HOSTS:?run through run_with_receiver.sh}" "${FLUME_TEST_OUTPUT:?}"

"$example" "$FLUME_TEST_HOSTS" || fail "send_events $FLUME_TEST_HOSTS exited $?"

expected='{"headers":{"host":"web-1","topic":"clicks"},"body":"hello"}
{"headers":{"host":"web-1","topic":"clicks"},"body":"flume"}
{"headers":{"host":"web-1","topic":"clicks"},"body":"'"$last_body"'"}'
got=$(cat "$FLUME_TEST_OUTPUT")
[ "$got" = "$expected" ] || fail "the receiver got:"$'\n'"$got"$'\n'"expected:"$'\n'"$expected"
echo "ok: the receiver got the example's 3 events"

# Port 1 (tcpmux) is closed on any test machine: the example must say so and exit non-zero.
if err=$("$example" 127.0.0.1:1 2>&1); then
  fail "send_events 127.0.0.1:1 succeeded: $err"
fi
grep -q "FLUME_ERR_CONNECT" <<<"$err" || fail "send_events 127.0.0.1:1 printed no FLUME_ERR_CONNECT: $err"
echo "ok: against a closed port it fails: $err"
if err=$("$example" "not a host list" 2>&1); then
  fail "send_events with a bad host list succeeded"
fi
[ -n "$err" ] || fail "send_events with a bad host list printed nothing"
echo "ok: a bad host list fails: $err"
