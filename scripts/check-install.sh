#!/usr/bin/env bash
# Checks a CMake build's install (scripts/test.sh runs it after ctest):
#   1. `cmake --install BUILD --strip` strips: the shared library and the tools
#      lose their symbol tables (`file` says "stripped"; the library's exported
#      functions stay, `nm -D`), the static library its debug sections (its
#      symbols stay, `readelf -s`); a plain install keeps both.
#   2. The README's pkg-config recipe ("From pkg-config"), run as written with
#      the stripped install as its non-system prefix, builds examples/send_events.c
#      shared and static; both run, without LD_LIBRARY_PATH, against the
#      installed flume-receive.
#
#   scripts/check-install.sh BUILD_DIR     (e.g. build/test)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: scripts/check-install.sh BUILD_DIR}
fail() { echo "check-install: FAIL: $*" >&2; exit 1; }
for tool in cmake file nm readelf pkg-config cc; do
  command -v "$tool" >/dev/null || fail "$tool not found (scripts/install-deps.sh installs what the tests need)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/flume-install.XXXXXX")
receiver=""
cleanup() {
  [ -n "$receiver" ] && kill "$receiver" 2>/dev/null && wait "$receiver" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# --- 1. --strip ------------------------------------------------------------------
cmake --install "$build" --prefix "$work/plain" >"$work/plain.log" 2>&1 || { cat "$work/plain.log"; fail "cmake --install"; }
cmake --install "$build" --prefix "$work/prefix" --strip >"$work/strip.log" 2>&1 ||
  { cat "$work/strip.log"; fail "cmake --install --strip"; }
prefix="$work/prefix"
libdir=$(dirname "$(find "$prefix" -name 'libflume_client.so.*.*.*' | head -n 1)")
[ -d "$libdir" ] || fail "no libflume_client.so.X.Y.Z installed under $prefix"
so=$(find "$libdir" -name 'libflume_client.so.*.*.*' | head -n 1)
plain_libdir="$work/plain/${libdir#"$prefix"/}"
debug_sections() { grep -c '\.debug_' <<<"$(readelf -S --wide "$1" 2>/dev/null)" || true; }

for f in "$so" "$prefix/bin/flume-send" "$prefix/bin/flume-receive"; do
  grep -q ', stripped' <<<"$(file -L "$f")" || fail "--strip left ${f#"$prefix"/} unstripped: $(file -L "$f")"
  plain="$work/plain/${f#"$prefix"/}"
  grep -q ', not stripped' <<<"$(file -L "$plain")" || fail "a plain install stripped ${f#"$prefix"/} (the check would prove nothing)"
done
grep -q ' T flume_client_new$' <<<"$(nm -D --defined-only "$so")" || fail "the stripped shared library lost flume_client_new"
[ "$(debug_sections "$libdir/libflume_client.a")" -eq 0 ] ||
  fail "--strip left $(debug_sections "$libdir/libflume_client.a") debug sections in libflume_client.a"
[ "$(debug_sections "$plain_libdir/libflume_client.a")" -gt 0 ] || fail "a plain install has no debug sections in libflume_client.a"
# readelf rather than nm: binutils' nm hands the archive's LLVM-bitcode section
# to its LTO plugin, which cannot read rustc's newer LLVM, and lists nothing.
# (Outputs are captured before grep -q: under pipefail, grep stopping early fails the pipe.)
grep -qE 'FUNC +GLOBAL +DEFAULT +[0-9]+ flume_client_new$' <<<"$(readelf -s --wide "$libdir/libflume_client.a")" ||
  fail "the stripped static library lost flume_client_new"
echo "check-install: --strip: $(du -k "$(readlink -f "$so")" | cut -f1) KB shared (plain: $(du -k "$(readlink -f "$plain_libdir/${so##*/}")" | cut -f1) KB)," \
  "$(du -k "$libdir/libflume_client.a" | cut -f1) KB static (plain: $(du -k "$plain_libdir/libflume_client.a" | cut -f1) KB); symbols kept"

# --- 2. The README's pkg-config recipe --------------------------------------------
# The ```sh block after "### From pkg-config", lines joined at trailing backslashes.
recipe=$(awk '/^### From pkg-config/ { on = 1; next } on && /^```sh/ { code = 1; next } code && /^```/ { exit } code' README.md |
  sed -e ':a' -e '/\\$/N; s/\\\n//; ta')
grep -q '^cc ' <<<"$recipe" || fail "no cc command in the README's pkg-config recipe"
grep -q '/opt/flume-client' <<<"$recipe" || fail "the README's pkg-config recipe does not name its prefix /opt/flume-client"
script="$work/recipe.sh"
{
  echo 'set -euo pipefail'
  n=0
  while IFS= read -r line; do
    line=${line//\/opt\/flume-client/$prefix}
    line=${line//app.c/$PWD/examples/send_events.c}
    echo "$line"
    if [[ $line == cc\ * ]]; then
      n=$((n + 1))
      # Each program as the recipe left it, run with no LD_LIBRARY_PATH.
      echo "mv a.out app$n && env -u LD_LIBRARY_PATH ./app$n \"\$FLUME_HOSTS\""
    fi
  done <<<"$recipe"
} >"$script"

# The stripped tools from the prefix: the receiver of the two programs' events.
"$prefix/bin/flume-receive" --port 0 --port-file "$work/port" --format json --output "$work/events.jsonl" \
  2>"$work/receiver.log" &
receiver=$!
for _ in $(seq 200); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || fail "the installed flume-receive did not start: $(cat "$work/receiver.log")"
mkdir "$work/app"
(cd "$work/app" && FLUME_HOSTS="127.0.0.1:$(cat "$work/port")" PKG_CONFIG_LIBDIR="$libdir/pkgconfig" bash "$script") \
  >"$work/recipe.log" 2>&1 || { cat "$script" "$work/recipe.log"; fail "the README's pkg-config recipe, as written, failed"; }
grep -q "libflume_client.so.* => $libdir/" <<<"$(ldd "$work/app/app1")" || fail "app1 does not load $libdir's library: $(ldd "$work/app/app1")"
if grep -q libflume_client <<<"$(ldd "$work/app/app2")"; then fail "the static build depends on libflume_client.so"; fi
events=$(wc -l <"$work/events.jsonl")
[ "$events" -gt 0 ] && [ $((events % 2)) -eq 0 ] || fail "the receiver got $events events from the two programs"
echo "check-install: the README's pkg-config recipe builds and runs from $prefix (shared with its rpath, static); $events events received"
