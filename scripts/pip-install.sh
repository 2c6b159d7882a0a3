#!/usr/bin/env bash
# Installs Python packages from PyPI that Debian does not package, into the
# project's own virtual environment, never into the system's Python: Debian's
# pip refuses that (PEP 668, "externally-managed-environment"), and it would
# mix PyPI's files with Debian's. Prefer Debian's python3-NAME packages
# (scripts/apt-install.sh); use this for what Debian lacks.
#
# Usage: scripts/pip-install.sh [NAME[==VERSION]...]
#        scripts/pip-install.sh --python     prints the venv's python (making the venv)
#
# The venv is $FLUME_CLIENT_VENV, by default ${XDG_CACHE_HOME:-~/.cache}/flume-client/venv,
# made from /usr/bin/python3 with --system-site-packages so that Debian's
# packages (python3-thrift) stay importable. scripts/test.sh runs the tests with its python (PYTHON) when
# it exists. pip skips what the venv (or Debian) already has.
set -euo pipefail

venv=${FLUME_CLIENT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/flume-client/venv}
# Debian's Python (whose packages the venv sees), even when another python3
# (pyenv, conda) comes first on the PATH.
base=/usr/bin/python3
[ -x "$base" ] || base=python3
if [ ! -x "$venv/bin/python3" ] || ! "$venv/bin/python3" -m pip --version >/dev/null 2>&1; then
  # Debian's python3 makes venvs only with python3-venv (its ensurepip is a stub without it).
  if [ "$base" = /usr/bin/python3 ] && command -v dpkg >/dev/null; then
    "$(dirname "$0")/apt-install.sh" python3-venv
  fi
  echo "pip-install: making the virtual environment $venv (from $base)" >&2
  rm -rf "$venv"
  "$base" -m venv --system-site-packages "$venv"
fi

if [ "${1:-}" = --python ]; then
  echo "$venv/bin/python3"
  exit 0
fi
[ $# -gt 0 ] || exit 0
echo "pip-install: installing $* into $venv" >&2
"$venv/bin/python3" -m pip install -q --disable-pip-version-check "$@"
