#!/usr/bin/env bash
# Prints the path of the project's Python virtual environment (scripts/pip-install.sh)
# after making sure it has the tests' PyPI tools: Conan 2 for scripts/test-conan.sh,
# prometheus_client for the Prometheus format test.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# Versions the tests were written against.
requirements=(conan==2.34.0 prometheus_client==0.26.0)
python=$("$here/pip-install.sh" --python)
if ! "$python" -c 'import conan, prometheus_client' 2>/dev/null ||
   [ "$("$python" -c 'import conan; print(conan.__version__)')" != "${requirements[0]#conan==}" ]; then
  "$here/pip-install.sh" "${requirements[@]}" >&2
fi
dirname "$(dirname "$python")"
