#!/usr/bin/env bash
# Checks the shared library in LIBDIR (the build tree's lib/, or an installed one):
#   - SONAME libflume_client.so.MAJOR, and the chain
#     libflume_client.so -> libflume_client.so.MAJOR -> libflume_client.so.VERSION;
#   - it needs nothing beyond the C runtime (no libstdc++, boost, libevent,
#     libthrift, libssl...), in its NEEDED entries and in what ldd resolves;
#   - it exports only the flume_* functions of the header.
#
#   check_shared_lib.sh LIBDIR VERSION
set -euo pipefail

fail() { echo "check_shared_lib: FAIL: $*" >&2; exit 1; }

[ $# -eq 2 ] || fail "usage: check_shared_lib.sh LIBDIR VERSION"
libdir=$1
version=$2
major=${version%%.*}
for tool in readelf ldd nm; do
  command -v "$tool" >/dev/null || fail "$tool not found (binutils, libc-bin)"
done

real="$libdir/libflume_client.so.$version"
[ -f "$real" ] && [ ! -L "$real" ] || fail "$real is missing or not a regular file"
[ "$(readlink "$libdir/libflume_client.so.$major")" = "libflume_client.so.$version" ] ||
  fail "libflume_client.so.$major does not link to libflume_client.so.$version"
[ "$(readlink "$libdir/libflume_client.so")" = "libflume_client.so.$major" ] ||
  fail "libflume_client.so does not link to libflume_client.so.$major"
echo "ok: libflume_client.so -> libflume_client.so.$major -> libflume_client.so.$version"

soname=$(readelf -d "$real" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libflume_client.so.$major" ] || fail "SONAME is '$soname', expected libflume_client.so.$major"
echo "ok: SONAME $soname"

# The C runtime, and nothing else.
allowed='^(linux-vdso\.so\.1|linux-gate\.so\.1|libc\.so\.6|libgcc_s\.so\.1|ld-linux[-a-z0-9_.]*\.so\.[0-9]+|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1)$'

needed=$(readelf -d "$real" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
[ -n "$needed" ] || fail "readelf shows no NEEDED entries at all"
for lib in $needed; do
  [[ $lib =~ $allowed ]] || fail "NEEDED $lib is not part of the C runtime"
done
echo "ok: NEEDED" $needed

ldd_out=$(ldd "$real") || fail "ldd failed: $ldd_out"
while read -r name _; do
  [ -n "$name" ] || continue
  base=${name##*/}
  [[ $base =~ $allowed ]] || fail "ldd shows $name, which is not part of the C runtime:"$'\n'"$ldd_out"
done <<<"$ldd_out"
if grep -q 'not found' <<<"$ldd_out"; then
  fail "ldd cannot resolve everything:"$'\n'"$ldd_out"
fi
echo "ok: ldd shows only the C runtime"

exports=$(nm -D --defined-only "$real" | awk '{print $3}' | grep -v '^$' | sort)
others=$(grep -v '^flume_' <<<"$exports" || true)
[ -z "$others" ] || fail "exports symbols beyond flume_*:"$'\n'"$others"
count=$(wc -l <<<"$exports")
[ "$count" -ge 10 ] || fail "only $count exported symbols:"$'\n'"$exports"
echo "ok: exports only flume_* ($count functions)"
