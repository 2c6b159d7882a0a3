#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh Debian machine, and
# nothing already there: cmake and pkg-config for the C package, valgrind for
# the memory checks, Apache Thrift's Java library and compiler and its Python
# package for the interop tests, openssl (and the JDK's keytool) for the TLS
# tests' certificates, Maven for Apache Flume 1.11.0 (the real agent of
# tests/real_flume*.rs, the benchmark and scripts/flume-agent.sh), whose jars it
# brings from Maven Central into ~/.m2 (once per machine). Needs root (or sudo)
# for apt-get.
#
# Python packages come from Debian (python3-NAME, in the apt list below), never
# from `pip install` into the system's Python: Debian refuses that (PEP 668,
# "externally-managed-environment"). A package Debian lacks goes into the
# project's virtual environment with scripts/pip-install.sh NAME==VERSION (add
# the line below); scripts/test.sh then runs the tests with that venv's python.
set -euo pipefail

# TLS tests: certificates made with openssl; the system CA store (ca-certificates).
# tests/connect.rs: libnss-myhostname resolves *.localhost to ::1 and 127.0.0.1
# (its package adds "myhostname" to /etc/nsswitch.conf).
# Python's thrift: Debian's python3-thrift.
"$(dirname "$0")/apt-install.sh" --jdk cmake pkg-config gcc g++ make valgrind libthrift-java libslf4j-java \
  thrift-compiler openssl ca-certificates libnss-myhostname python3 python3-thrift maven

# Apache Flume 1.11.0 from Maven Central (tests/flume/pom.xml), cached in ~/.m2:
# a failure here stops the run loudly rather than failing each test.
"$(dirname "$0")/flume-agent.sh" fetch >/dev/null

# Packaging and ABI (README "Debian packages", "ABI and versioning"): dpkg-dev
# (dpkg-shlibdeps, for CPack's Depends), abigail-tools (abidiff); Conan and
# prometheus_client from PyPI into the project's venv.
"$(dirname "$0")/apt-install.sh" dpkg-dev abigail-tools
"$(dirname "$0")/python-venv.sh" >/dev/null

# Kerberos tests (cargo feature `kerberos`): a real MIT KDC made on loopback
# (kdb5_util, kadmin.local, krb5kdc), kinit/ktutil, and libfaketime for the
# clock-skew test's second KDC. The library itself needs only libgssapi-krb5-2
# at run time (already a dependency of these). Hadoop's authentication jars
# for the real agent's Kerberos source come with Maven (above), fetched by
# scripts/flume-kerberos-lib.sh when the test needs them.
"$(dirname "$0")/apt-install.sh" krb5-kdc krb5-admin-server krb5-user libgssapi-krb5-2 faketime

# The fuzz targets (scripts/fuzz.sh) run with cargo-fuzz, from crates.io.
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "install-deps: installing cargo-fuzz (compiles for a few minutes)"
  cargo install cargo-fuzz --locked
fi
