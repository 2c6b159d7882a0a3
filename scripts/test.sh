#!/usr/bin/env bash
# Runs every test: the Rust tests (unit, wire vectors, property test against
# Apache Thrift's encoder, interop with Apache Thrift's Python and Java servers,
# fault injection, allocation count), then the C and C++ tests under ctest
# (smoke tests, bad input under valgrind and ASan/UBSan, consumer projects built
# against the installed CMake and pkg-config packages).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

echo "== cargo test"
cargo test --all-targets

echo "== ctest"
cmake -S . -B build/test -DCMAKE_BUILD_TYPE=Release
cmake --build build/test -j2
ctest --test-dir build/test --output-on-failure
