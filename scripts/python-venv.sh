#!/usr/bin/env bash
# Prints the path of the Python virtual environment with the tests' PyPI tools
# (Conan 2 for scripts/test-conan.sh, prometheus_client for the Prometheus
# format test), creating or completing it first. A venv, because Debian's
# Python is externally managed (PEP 668): pip may not install into it.
#   FLUME_CLIENT_VENV   where (default ~/.cache/flume-client/venv)
set -euo pipefail
venv=${FLUME_CLIENT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/flume-client/venv}
# Versions the tests were written against.
requirements=(conan==2.34.0 prometheus_client==0.26.0)
python=$(command -v /usr/bin/python3 || command -v python3)
if [ ! -x "$venv/bin/python" ]; then
  echo "python-venv: creating $venv" >&2
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv" >&2
fi
if ! "$venv/bin/python" -c 'import conan, prometheus_client' 2>/dev/null ||
   [ "$("$venv/bin/python" -c 'import conan; print(conan.__version__)')" != "${requirements[0]#conan==}" ]; then
  echo "python-venv: installing ${requirements[*]} into $venv" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${requirements[@]}" >&2
fi
echo "$venv"
