#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh Debian machine, and
# nothing already there: cmake and pkg-config for the C package, valgrind for
# the memory checks, Apache Thrift's Java library and compiler and its Python
# package for the interop tests, openssl (and the JDK's keytool) for the TLS
# tests' certificates. Needs root (or sudo) for apt-get.
set -euo pipefail

apt_packages=(cmake pkg-config gcc g++ make valgrind libthrift-java libslf4j-java thrift-compiler
              openssl ca-certificates)  # TLS tests: certificates made with openssl; the system CA store
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
command -v javac >/dev/null || missing+=(default-jdk-headless)
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "install-deps: installing ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! python3 -c 'import thrift' 2>/dev/null; then
  echo "install-deps: installing Python's thrift"
  python3 -m pip install -q thrift
fi

# The fuzz targets (scripts/fuzz.sh) run with cargo-fuzz, from crates.io.
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "install-deps: installing cargo-fuzz (compiles for a few minutes)"
  cargo install cargo-fuzz --locked
fi
