#!/usr/bin/env bash
# The installed pkg-config module: examples/send_events.c built with plain cc,
# once against the shared library (`pkg-config --cflags --libs`) and once
# statically (`pkg-config --static --libs`, with -lflume_client forced to the
# archive), both run against the receiver of run_with_receiver.sh.
# Environment: see install_to_temp_prefix.sh, and CC.
set -euo pipefail
source "$(dirname "$0")/install_to_temp_prefix.sh"

command -v pkg-config >/dev/null || fail "pkg-config not found (apt-get install pkg-config)"
cc=${CC:-cc}
export PKG_CONFIG_PATH="$libdir/pkgconfig"
export PKG_CONFIG_LIBDIR="$libdir/pkgconfig" # this module only, not a system-wide copy

[ "$(pkg-config --modversion flume_client)" = "$FLUME_VERSION" ] ||
  fail "pkg-config --modversion is $(pkg-config --modversion flume_client), expected $FLUME_VERSION"
echo "pkg-config --cflags --libs: $(pkg-config --cflags --libs flume_client)"
echo "pkg-config --static --libs: $(pkg-config --static --libs flume_client)"
pkg_libdir=$(pkg-config --variable=libdir flume_client)
[ "$(cd "$pkg_libdir" && pwd -P)" = "$(cd "$libdir" && pwd -P)" ] ||
  fail "the module's libdir $pkg_libdir is not $libdir"

src="$FLUME_SOURCE_DIR/examples/send_events.c"
flags=(-std=c11 -Wall -Wextra -Werror)

# Shared: the command of the example's comment (plus an rpath, since the prefix is not a system directory).
# shellcheck disable=SC2046
"$cc" "${flags[@]}" -o "$work/send_shared" "$src" $(pkg-config --cflags --libs flume_client) \
  -Wl,-rpath,"$pkg_libdir" || fail "shared build failed"
# Static: the archive instead of the .so, then the system libraries it needs.
static_libs=$(pkg-config --static --libs flume_client | sed 's/-lflume_client/-Wl,-Bstatic -lflume_client -Wl,-Bdynamic/')
# shellcheck disable=SC2046,SC2086
"$cc" "${flags[@]}" -o "$work/send_static" "$src" $(pkg-config --cflags flume_client) $static_libs ||
  fail "static build failed"

"$work/send_shared" "$FLUME_TEST_HOSTS" || fail "send_shared failed"
"$work/send_static" "$FLUME_TEST_HOSTS" || fail "send_static failed"

# (ldd's output is captured first: `ldd | grep -q` under pipefail fails when grep stops reading early.)
ldd_shared=$(ldd "$work/send_shared")
ldd_static=$(ldd "$work/send_static")
grep -q "libflume_client.so.${FLUME_VERSION%%.*} => $libdir/" <<<"$ldd_shared" ||
  fail "send_shared does not load the installed library:"$'\n'"$ldd_shared"
if grep -q libflume_client <<<"$ldd_static"; then
  fail "send_static depends on libflume_client.so:"$'\n'"$ldd_static"
fi
echo "ok: send_shared loads the installed library; send_static has no libflume_client dependency"

lines=$(wc -l <"$FLUME_TEST_OUTPUT")
[ "$lines" -eq 6 ] || fail "the receiver got $lines events, expected 6:"$'\n'"$(cat "$FLUME_TEST_OUTPUT")"
echo "ok: the receiver got the 6 events"
