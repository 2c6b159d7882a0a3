#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh Debian machine, and
# nothing already there: cmake and pkg-config for the C package, valgrind for
# the memory checks, Apache Thrift's Java library and compiler and its Python
# package for the interop tests, openssl (and the JDK's keytool) for the TLS
# tests' certificates. Needs root (or sudo) for apt-get.
set -euo pipefail

# TLS tests: certificates made with openssl; the system CA store (ca-certificates).
# tests/connect.rs: libnss-myhostname resolves *.localhost to ::1 and 127.0.0.1
# (its package adds "myhostname" to /etc/nsswitch.conf).
"$(dirname "$0")/apt-install.sh" --jdk cmake pkg-config gcc g++ make valgrind libthrift-java libslf4j-java \
  thrift-compiler openssl ca-certificates libnss-myhostname

# Packaging and ABI (README "Debian packages", "ABI and versioning"): dpkg-dev
# (dpkg-shlibdeps, for CPack's Depends), abigail-tools (abidiff), python3-venv
# (Conan and prometheus_client come from PyPI into a venv: Debian's Python is
# externally managed).
"$(dirname "$0")/apt-install.sh" dpkg-dev abigail-tools python3-venv
"$(dirname "$0")/python-venv.sh" >/dev/null

if ! python3 -c 'import thrift' 2>/dev/null; then
  echo "install-deps: installing Python's thrift"
  python3 -m pip install -q thrift
fi

# The fuzz targets (scripts/fuzz.sh) run with cargo-fuzz, from crates.io.
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "install-deps: installing cargo-fuzz (compiles for a few minutes)"
  cargo install cargo-fuzz --locked
fi
