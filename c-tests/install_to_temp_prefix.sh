# Sourced by the consumer tests. Installs this build (FLUME_BUILD_DIR) with
# `cmake --install --prefix`, then MOVES the installed tree: everything after
# this runs against $prefix, a tree that was never where it was installed, so
# the package must be relocatable. Also checks the installed files:
#   lib/libflume_client.so -> .so.MAJOR -> .so.VERSION, lib/libflume_client.a,
#   include/flume_client.h, lib/cmake/FlumeClient/*, lib/pkgconfig/flume_client.pc,
#   bin/flume-send and bin/flume-receive (which must run from there),
#   and that no text file points into the source or build tree.
# Sets: work (a temp dir removed on exit), prefix, libdir (= $prefix/$FLUME_LIBDIR).

fail() { echo "$(basename "$0"): FAIL: $*" >&2; exit 1; }

for v in CMAKE_COMMAND FLUME_BUILD_DIR FLUME_SOURCE_DIR FLUME_LIBDIR FLUME_VERSION FLUME_TEST_HOSTS FLUME_TEST_OUTPUT; do
  [ -n "${!v:-}" ] || fail "$v is not set (run through ctest)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/flume-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$CMAKE_COMMAND" --install "$FLUME_BUILD_DIR" --prefix "$work/staged" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log" >&2; fail "cmake --install failed"; }
mv "$work/staged" "$work/prefix"
prefix="$work/prefix"
libdir="$prefix/$FLUME_LIBDIR"
major=${FLUME_VERSION%%.*}

for f in "$libdir/libflume_client.so.$FLUME_VERSION" "$libdir/libflume_client.a" \
         "$prefix/include/flume_client.h" "$libdir/cmake/FlumeClient/FlumeClientConfig.cmake" \
         "$libdir/cmake/FlumeClient/FlumeClientConfigVersion.cmake" "$libdir/pkgconfig/flume_client.pc"; do
  [ -f "$f" ] || fail "not installed: ${f#"$prefix"/}"
done
for tool in flume-send flume-receive; do
  [ -x "$prefix/bin/$tool" ] || fail "not installed: bin/$tool"
  "$prefix/bin/$tool" --help >/dev/null || fail "installed bin/$tool --help failed"
done
[ "$(readlink "$libdir/libflume_client.so.$major")" = "libflume_client.so.$FLUME_VERSION" ] ||
  fail "installed libflume_client.so.$major is not a symlink to libflume_client.so.$FLUME_VERSION"
[ "$(readlink "$libdir/libflume_client.so")" = "libflume_client.so.$major" ] ||
  fail "installed libflume_client.so is not a symlink to libflume_client.so.$major"
if leaks=$(grep -rIlF -e "$FLUME_SOURCE_DIR" -e "$FLUME_BUILD_DIR" -e "$work/staged" "$prefix"); then
  fail "installed files point into the source or build tree: $leaks"
fi
echo "ok: installed and moved to $prefix (symlink chain, no paths into the source tree)"
