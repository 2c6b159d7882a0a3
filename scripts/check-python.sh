#!/usr/bin/env bash
# Checks that the scripts work with a stock Debian Python (PEP 668: its pip
# refuses to install into the system's Python, "externally-managed-environment"):
#   - no script runs pip but scripts/pip-install.sh, which installs into a venv;
#   - the tests' Python ($PYTHON, default python3) imports thrift;
#   - scripts/pip-install.sh makes a venv whose pip works and which still sees
#     Debian's packages (a throwaway venv, so no PyPI download is needed).
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "check-python: FAIL: $*" >&2; exit 1; }

# pip, pip3 or `-m pip` followed by install, anywhere in a script but pip-install.sh.
if uses=$(grep -rnE '(^|[^-[:alnum:]_])(pip3?|-m pip)[[:space:]]+install' --include='*.sh' --include='run' \
            scripts bench .ci c-tests 2>/dev/null | grep -v '^scripts/pip-install.sh:' | grep -vE ':[0-9]+:[[:space:]]*#'); then
  fail "pip used outside scripts/pip-install.sh (refused by a PEP 668 Python; use scripts/pip-install.sh):"$'\n'"$uses"
fi

python=${PYTHON:-python3}
"$python" -c 'import thrift' || fail "$python cannot import thrift (scripts/install-deps.sh installs python3-thrift)"
echo "check-python: $python imports thrift from $("$python" -c 'import os, thrift; print(os.path.dirname(thrift.__file__))')"

if [ -f "$(python3 -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')/EXTERNALLY-MANAGED" ]; then
  echo "check-python: python3 is externally managed (PEP 668)"
fi
venv=$(mktemp -d "${TMPDIR:-/tmp}/flume-venv.XXXXXX")
trap 'rm -rf "$venv"' EXIT
py=$(FLUME_CLIENT_VENV="$venv/venv" scripts/pip-install.sh --python)
[ "$py" = "$venv/venv/bin/python3" ] || fail "pip-install.sh --python printed '$py', not $venv/venv/bin/python3"
"$py" -m pip --version >/dev/null || fail "the venv's pip does not run"
"$py" -c 'import thrift' || fail "the venv does not see Debian's python3-thrift"
# Installing into it needs no network for a requirement Debian already meets.
FLUME_CLIENT_VENV="$venv/venv" scripts/pip-install.sh thrift || fail "pip-install.sh thrift failed in the venv"
echo "check-python: ok (scripts/pip-install.sh makes a working venv that sees Debian's packages)"
