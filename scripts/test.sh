#!/usr/bin/env bash
# Runs every test: the Rust tests of the workspace (unit, wire vectors, property
# test against Apache Thrift's encoder, interop with Apache Thrift's Python and
# Java servers, a real Apache Flume 1.11.0 agent (tests/real_flume.rs, agents
# started by scripts/flume-agent.sh), fault injection, allocation count; the
# command-line tools in tools/ run as built), then the C and C++ tests under ctest
# (smoke tests, bad input under valgrind and ASan/UBSan, consumer projects built
# against the installed CMake and pkg-config packages, the C++ API), the ABI
# check, the Debian packages and the Conan recipe.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

# The tests' Python (PYTHON, read by the interop and TLS tests): the project's
# venv if scripts/pip-install.sh made one, else a python3 that imports thrift,
# else Debian's /usr/bin/python3 (python3-thrift), also when pyenv or conda put
# another python3 first on the PATH.
if [ -z "${PYTHON:-}" ]; then
  PYTHON=/usr/bin/python3
  for p in "${FLUME_CLIENT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/flume-client/venv}/bin/python3" python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import thrift' 2>/dev/null; then PYTHON=$p; break; fi
  done
  export PYTHON
fi
echo "== Python for the tests, on a PEP 668 (externally managed) Python too"
scripts/check-python.sh

# Formatting (rustfmt.toml) and lints, every feature on so no cfg branch is left out.
echo "== cargo fmt --check, cargo clippy"
cargo fmt --all --check
cargo clippy --workspace --all-targets --features flume-client/tls,flume-client/kerberos,flume-tools/tls,flume-tools/kerberos \
  -- -D warnings

echo "== cargo test"
cargo test --workspace --all-targets

# The Rust API's documentation: its examples compile and run (doctests, which
# --all-targets leaves out), and rustdoc warns about nothing, with and without
# the features.
echo "== cargo test --doc, cargo doc"
cargo test -p flume-client --doc
RUSTDOCFLAGS="-D warnings" cargo doc -p flume-client --no-deps
RUSTDOCFLAGS="-D warnings" cargo doc -p flume-client --no-deps --features tls,kerberos

# rust-version (Cargo.toml [workspace.package]) is true for Cargo.lock: no
# dependency needs a newer Rust.
echo "== rust-version"
scripts/check-rust-version.py

# Reliability (README "Reliability"): the soak, a minute of faults and receiver
# restarts (FLUME_SOAK_SECONDS for longer), and each fuzz target for 20 s
# (scripts/fuzz.sh SECONDS for longer), printing their figures.
echo "== soak"
cargo test --test soak -- --nocapture
echo "== fuzz"
scripts/fuzz.sh 20
# A fuzzer that cannot run (its sanitizer cannot start) is an environment
# failure, retried once, never a found input.
scripts/check-fuzz.sh

# TLS (cargo feature `tls`, off by default): interop with Java's and Python's
# TLS Thrift servers, mutual TLS, and every TLS failure (tests/tls.rs); the real
# Flume agent's TLS source (tests/real_flume_tls.rs).
echo "== cargo test --features tls --test tls --test real_flume_tls"
cargo test --features tls --test tls --test real_flume_tls
# flume-send to flume-receive over TLS, the tools built with TLS.
echo "== cargo test -p flume-tools --features tls --test tls"
cargo test -p flume-tools --features tls --test tls

# Kerberos (cargo feature `kerberos`, off by default): a real MIT KDC on
# loopback and Apache Thrift's Java TSaslServerTransport set up as Flume's
# source (tests/kerberos.rs: both protocols, inside TLS, async, failover, pool,
# every failure, ticket expiry, flume-send, valgrind over 1,000 connections),
# and the real Flume agent with kerberos=true (tests/real_flume_kerberos.rs).
echo "== cargo test --features kerberos,tls --test kerberos --test real_flume_kerberos"
cargo test --features kerberos,tls --test kerberos --test real_flume_kerberos
# GSSAPI is loaded at run time: the Kerberos build's shared library links nothing new.
cargo build --features kerberos --lib
needed=$(readelf -d "${CARGO_TARGET_DIR:-target}/debug/libflume_client_ffi.so" | awk '/NEEDED/ {print $NF}' | tr -d '[]' | sort | tr '\n' ' ')
case "$needed" in
  *gssapi*|*krb5*) echo "the kerberos build links $needed(GSSAPI must be loaded with dlopen)" >&2; exit 1 ;;
esac
echo "kerberos build's shared library needs: $needed"

# The default build must stay dependency-light: libc only (TLS's rustls and
# ring come only with --features tls).
echo "== default build's dependencies"
deps=$(cargo tree -p flume-client-ffi -e normal --prefix none | awk '{print $1}' | sort -u | tr '\n' ' ')
if [ "$deps" != "flume-client flume-client-ffi libc " ]; then
  echo "the default build depends on: $deps(expected flume-client flume-client-ffi libc: put new dependencies behind a feature)" >&2
  exit 1
fi
echo "flume-client flume-client-ffi libc: ok"

# The C ABI against its committed baseline (abidiff on the dev build's DWARF,
# which cargo test has just built), and the check's own self-test.
echo "== ABI"
cargo build --lib
scripts/abi-check.sh
scripts/abi-check.sh --self-test

# Installed under /usr by the Debian packages below: GNUInstallDirs then picks
# Debian's multiarch libdir. The Prometheus test parses with prometheus_client
# from the venv of scripts/python-venv.sh.
echo "== ctest"
cmake -S . -B build/test -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DFLUME_CLIENT_TEST_PYTHON="$(scripts/python-venv.sh)/bin/python"
cmake --build build/test -j2
ctest --test-dir build/test --output-on-failure
# cmake --install --strip strips; the README's pkg-config recipe, as written,
# builds a program that runs from a non-system prefix.
echo "== install --strip and the README's pkg-config recipe"
scripts/check-install.sh build/test
echo "== valgrind and sanitizer figures"
scripts/ctest-figures.sh build/test

# Debian packages from the ctest build (cpack, dpkg -i, an outside project, dpkg --purge),
# then the Conan recipe (conan create, offline, with its test package).
echo "== Debian packages"
scripts/test-packages.sh build/test
echo "== Conan"
scripts/test-conan.sh
