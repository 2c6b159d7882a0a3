#!/usr/bin/env bash
# Runs `cpp_api prometheus` (against the receiver of run_with_receiver.sh) and
# checks its output with prometheus_client's parser.
#
#   run_with_receiver.sh -- check_prometheus.sh path/to/cpp_api PYTHON
set -euo pipefail
program=$1 python=$2
if ! "$python" -c 'import prometheus_client' 2>/dev/null; then
  echo "check_prometheus: FAIL: $python cannot import prometheus_client (scripts/install-deps.sh installs it in a venv; configure with -DFLUME_CLIENT_TEST_PYTHON=that venv's python)" >&2
  exit 1
fi
out=$(mktemp "${TMPDIR:-/tmp}/flume-prometheus.XXXXXX")
trap 'rm -f "$out"' EXIT
"$program" prometheus >"$out"
"$python" "$(dirname "$0")/check_prometheus.py" "$out"
