#!/usr/bin/env bash
# The Debian packages end to end (README "Debian packages"), from a configured
# and built CMake tree (scripts/test.sh passes build/test, configured with
# -DCMAKE_INSTALL_PREFIX=/usr):
#   1. cpack -G DEB: libflume-client0 and libflume-client-dev;
#   2. dpkg -i both on this machine (needs root; refuses if they are installed already);
#   3. c-tests/outside, an outside C and C++ project, built against the system
#      install with no path given (find_package, then plain pkg-config and the
#      compiler's default paths), run against flume-receive, checked;
#   4. dpkg --purge both, and checks that nothing is left.
# The packages are removed on every exit path.
#
#   scripts/test-packages.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(cd "${1:?usage: test-packages.sh BUILD_DIR}" && pwd)
source_dir=$(pwd)

fail() { echo "test-packages: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "dpkg -i needs root"
[ -f "$build/CPackConfig.cmake" ] || fail "$build/CPackConfig.cmake not found (configure the top-level project there)"
receiver="$build/bin/flume-receive"
[ -x "$receiver" ] || fail "$receiver not found (build $build first)"
packages=(libflume-client0 libflume-client-dev)
for p in "${packages[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    fail "$p is installed already: this test installs and removes it (dpkg --purge ${packages[*]})"
  fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/flume-packages.XXXXXX")
installed=0
cleanup() {
  local status=$?
  if [ "$installed" -eq 1 ]; then
    dpkg_locked --purge "${packages[@]}" >"$work/purge.log" 2>&1 || cat "$work/purge.log" >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

# dpkg, waiting (bounded) while another dpkg or apt holds the lock.
dpkg_locked() {
  local i out status
  for i in $(seq 1 60); do
    status=0
    out=$(dpkg "$@" 2>&1) || status=$?
    if [ "$status" -eq 0 ] || ! grep -q "lock" <<<"$out"; then
      printf '%s\n' "$out"
      return "$status"
    fi
    sleep 2
  done
  printf '%s\n' "$out"
  return 1
}

echo "== cpack -G DEB"
cpack --config "$build/CPackConfig.cmake" -G DEB -B "$work/debs" >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log" >&2; fail "cpack failed"; }
runtime_deb=$(ls "$work"/debs/libflume-client0_*.deb)
dev_deb=$(ls "$work"/debs/libflume-client-dev_*.deb)
version=$(dpkg-deb -f "$runtime_deb" Version)
dpkg-deb -f "$runtime_deb" Depends | grep -q "libc6" || fail "libflume-client0 does not depend on libc6"
dpkg-deb -f "$dev_deb" Depends | grep -qx "libflume-client0 (= $version)" ||
  fail "libflume-client-dev does not depend on libflume-client0 (= $version): $(dpkg-deb -f "$dev_deb" Depends)"
# (Listings captured first: `dpkg-deb -c | grep -q` under pipefail fails when grep stops reading early.)
runtime_files=$(dpkg-deb -c "$runtime_deb")
dev_files=$(dpkg-deb -c "$dev_deb")
grep -q "usr/lib/x86_64-linux-gnu/libflume_client.so.0 -> libflume_client.so." <<<"$runtime_files" ||
  fail "libflume-client0 lacks the SONAME link in Debian's multiarch libdir"
if grep -Eq "include/|\.a$|cmake|pkgconfig|libflume_client\.so ->|bin/" <<<"$runtime_files"; then
  fail "libflume-client0 holds development files:"$'\n'"$runtime_files"
fi
for f in usr/include/flume_client.h usr/include/flume_client.hpp usr/lib/x86_64-linux-gnu/libflume_client.a \
         usr/lib/x86_64-linux-gnu/libflume_client.so usr/lib/x86_64-linux-gnu/cmake/FlumeClient/FlumeClientConfig.cmake \
         usr/lib/x86_64-linux-gnu/pkgconfig/flume_client.pc; do
  grep -q " \./$f" <<<"$dev_files" || fail "libflume-client-dev lacks /$f"
done
echo "ok: $(basename "$runtime_deb") ($(du -k "$runtime_deb" | cut -f1) KiB), $(basename "$dev_deb") ($(du -k "$dev_deb" | cut -f1) KiB)"

echo "== dpkg -i"
installed=1
dpkg_locked -i "$runtime_deb" "$dev_deb" >"$work/install.log" || { cat "$work/install.log" >&2; fail "dpkg -i failed"; }
ldconfig -p | grep -q "libflume_client.so.0 " || fail "ldconfig does not know libflume_client.so.0"
echo "ok: installed ${packages[*]} $version"

echo "== an outside C and C++ project against the system install"
# No CMAKE_PREFIX_PATH, no PKG_CONFIG_PATH, no -I or -L: only what the system finds.
env -u CMAKE_PREFIX_PATH -u PKG_CONFIG_PATH cmake -S c-tests/outside -B "$work/outside" >"$work/outside.log" 2>&1 ||
  { cat "$work/outside.log" >&2; fail "configuring c-tests/outside against the system install failed"; }
grep -q "FlumeClient .* from /usr/lib/x86_64-linux-gnu/cmake/FlumeClient" "$work/outside.log" ||
  fail "find_package did not find the installed package:"$'\n'"$(cat "$work/outside.log")"
cmake --build "$work/outside" >>"$work/outside.log" 2>&1 || { cat "$work/outside.log" >&2; fail "building c-tests/outside failed"; }
env -u PKG_CONFIG_PATH cc -o "$work/pc_c" c-tests/outside/main.c $(env -u PKG_CONFIG_PATH pkg-config --cflags --libs flume_client) ||
  fail "cc with pkg-config flume_client failed"
env -u PKG_CONFIG_PATH c++ -std=c++17 -Wall -Wextra -Werror -o "$work/pc_cpp" c-tests/outside/main.cpp \
  $(env -u PKG_CONFIG_PATH pkg-config --cflags --libs flume_client) || fail "c++ with pkg-config flume_client failed"
cc -o "$work/plain_c" c-tests/outside/main.c -lflume_client || fail "cc main.c -lflume_client failed"

ldd_c=$(ldd "$work/outside/outside_c")
grep -Eq "libflume_client.so.0 => (/usr)?/lib/x86_64-linux-gnu/libflume_client.so.0" <<<"$ldd_c" ||
  fail "outside_c does not load the system's library:"$'\n'"$ldd_c"
ldd_cpp=$(ldd "$work/outside/outside_cpp")
if grep -q libflume_client <<<"$ldd_cpp"; then
  fail "outside_cpp (BUILD_SHARED_LIBS unset: FlumeClient::FlumeClient is the static library) loads libflume_client.so"
fi
echo "ok: built with CMake (outside_c on the shared library, outside_cpp on the static one), pkg-config and plain -lflume_client"

run() {
  FLUME_RECEIVER="$receiver" bash c-tests/run_with_receiver.sh -- bash -c '
    set -e
    for p in "$@"; do "$p" "$FLUME_TEST_HOSTS"; done
    n=$(wc -l <"$FLUME_TEST_OUTPUT")
    [ "$n" -eq $# ] || { echo "the receiver got $n events, expected $#" >&2; exit 1; }' _ "$@"
}
run "$work/outside/outside_c" "$work/outside/outside_cpp" "$work/pc_c" "$work/pc_cpp" "$work/plain_c" >"$work/run.log" 2>&1 ||
  { cat "$work/run.log" >&2; fail "the outside programs failed against flume-receive"; }
grep "^outside_" "$work/run.log"
echo "ok: 5 programs delivered their event to flume-receive"

echo "== dpkg --purge"
dpkg_locked --purge "${packages[@]}" >"$work/purge.log" || { cat "$work/purge.log" >&2; fail "dpkg --purge failed"; }
installed=0
for f in /usr/include/flume_client.h /usr/include/flume_client.hpp /usr/lib/x86_64-linux-gnu/libflume_client.so.0 \
         /usr/lib/x86_64-linux-gnu/cmake/FlumeClient /usr/lib/x86_64-linux-gnu/pkgconfig/flume_client.pc; do
  [ ! -e "$f" ] || fail "$f is left after dpkg --purge"
done
if ldconfig -p | grep -q "libflume_client.so.0 "; then fail "ldconfig still lists libflume_client.so.0"; fi
if "$work/outside/outside_c" 127.0.0.1:1 2>/dev/null; then fail "outside_c still runs without the library"; fi
echo "ok: removed; nothing left"
