#!/usr/bin/env bash
# The benchmark suite (issue #7): this library through its C API, Apache
# Thrift's C++ client, Flume's own Java client (flume-ng-sdk 1.11.0's
# RpcClientFactory, client.type = thrift; bench/FlumeSdkBench.java) and the
# floor (frames encoded in advance, only written and acknowledged), each against
# a null sink, Apache Thrift's Java server set up as Flume's Thrift source, and
# a real Apache Flume 1.11.0 agent (scripts/flume-agent.sh: Thrift source,
# memory channel, null sink); both protocols, batches of 1, 100 and 1,000,
# bodies of 256 B and 4 KiB with three headers; plus the encoder alone beside
# memcpy and the size of the stripped shared library. The TLS column: this
# library built with TLS (rustls) beside Apache Thrift's C++ TSSLSocket
# (OpenSSL) against the null sink serving TLS (nullsink --tls, rustls), with
# a certificate made for the run (openssl req). The asynchronous column: this
# library's flume_client_send (bench_flume send) against the null sink, beside
# its append_batch in the same cell. Then bench/counts.sh's
# deterministic counts (instructions per event, syscalls per call; not with --quick).
#
# Usage: bench/run.sh [--quick] [--rev REV] [--seconds S] [--warmup S] [--repeat N] [--pin]
#   --quick      a smoke run of the suite itself (0.1 s cells): numbers are noise
#   --rev REV    benchmark the library as committed at REV (e.g. HEAD), from a
#                `git archive` snapshot, instead of the working tree
#   --seconds S  measured time per client and cell (default 1.0)
#   --warmup S   untimed calls before each (default 0.3)
#   --repeat N   rounds of the three clients per cell; the report takes each
#                figure's median (default 3)
#   --pin        clients on core 0, servers on core 1 (taskset). Off by default:
#                on a 2-core VM every call then pays a cross-core wakeup, which
#                triples batch-1 latency for all three clients alike.
#
# Prints a markdown table and writes bench/results/latest.md, latest.jsonl and
# chart.png (a --quick run writes bench/build/quick/ instead). Installs what it
# needs and is missing (apt: thrift-compiler, libthrift-dev, libboost-dev,
# libssl-dev, openssl, libthrift-java, libslf4j-java, default-jdk-headless, g++,
# maven, python3-matplotlib; Apache Flume 1.11.0 from Maven Central, cached in ~/.m2).
# Everything runs on 127.0.0.1.
# About 12 minutes on 2 cores after the builds.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
seconds=1.0
warmup=0.3
repeat=3
quick=0
pin=0
rev=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; seconds=0.1; warmup=0.05; repeat=1 ;;
    --rev) rev="$2"; shift ;;
    --seconds) seconds="$2"; shift ;;
    --warmup) warmup="$2"; shift ;;
    --repeat) repeat="$2"; shift ;;
    --pin) pin=1 ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

build="$here/build"
out="$here/results"
[ "$quick" = 1 ] && out="$build/quick"
mkdir -p "$build" "$out"
log() { echo "bench: $*" >&2; }

# ---- dependencies --------------------------------------------------------------
# matplotlib from Debian (python3-matplotlib): pip into Debian's Python is refused (PEP 668).
"$root/scripts/apt-install.sh" --jdk gcc g++ make thrift-compiler libthrift-dev libboost-dev libssl-dev openssl \
  libthrift-java libslf4j-java python3-matplotlib maven
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import matplotlib' 2>/dev/null; then
  echo "bench: $PYTHON cannot import matplotlib (Debian: apt-get install python3-matplotlib; else scripts/pip-install.sh matplotlib and PYTHON=\$(scripts/pip-install.sh --python))" >&2
  exit 1
fi

# ---- builds ----------------------------------------------------------------------
# The library's source: the working tree, or a snapshot of --rev with this
# suite's crate copied beside it (its Cargo.toml depends on path "..").
src="$root"
bench_manifest="$here/Cargo.toml"
if [ -n "$rev" ]; then
  # Outside the repository, so that cargo finds no enclosing workspace.
  src="${TMPDIR:-/tmp}/flume-client-bench-src"
  rm -rf "$src" && mkdir -p "$src"
  git -C "$root" archive "$rev" | tar -x -C "$src"
  rm -rf "$src/bench" && mkdir -p "$src/bench"
  cp -r "$here/Cargo.toml" "$here/src" "$src/bench/"
  [ -f "$here/Cargo.lock" ] && cp "$here/Cargo.lock" "$src/bench/"
  bench_manifest="$src/bench/Cargo.toml"
  log "benchmarking the library at $rev ($(git -C "$root" rev-parse --short "$rev"))"
fi
log "building the library (cargo build --release)"
(cd "$src" && CARGO_TARGET_DIR="$src/target" cargo build --release --lib -q)
# built_lib DIR: the library cargo built in DIR: libflume_client_ffi.so since the C
# library is a crate of its own, libflume_client.so for older revisions. In that
# order: a target directory used by both may hold a stale libflume_client.so.
built_lib() {
  local f
  for f in "$1/libflume_client_ffi.so" "$1/libflume_client.so"; do
    [ -f "$f" ] && { echo "$f"; return; }
  done
}
lib="$(built_lib "$src/target/release")"
[ -n "$lib" ] || { log "no libflume_client_ffi.so in $src/target/release"; exit 1; }
log "building the library with TLS (cargo build --release --features tls), for the TLS column"
(cd "$src" && CARGO_TARGET_DIR="$build/target-tls" cargo build --release --lib -q --features tls)
lib_tls="$(built_lib "$build/target-tls/release")"
[ -n "$lib_tls" ] || { log "no TLS build of the library in $build/target-tls/release"; exit 1; }
log "building the null sink, the frame encoder and the encoder benchmark"
CARGO_TARGET_DIR="$here/target" cargo build --release -q --manifest-path "$bench_manifest"
tools="$here/target/release"

log "building the C clients"
# A snapshot of the library under its file name and its soname (libflume_client.so.0).
rm -rf "$build/lib" && mkdir -p "$build/lib"
cp "$lib" "$build/lib/libflume_client.so"
soname="$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')"
[ -n "$soname" ] && [ "$soname" != libflume_client.so ] && ln -s libflume_client.so "$build/lib/$soname"
cc -O2 -g -Wall -Wextra -o "$build/bench_flume" "$here/bench_flume.c" "$here/alloc_count.c" \
  -I "$src/include" -L "$build/lib" -lflume_client -Wl,-rpath,"$build/lib" -rdynamic
# The same C client on the TLS build of the library (its own directory, its own rpath).
rm -rf "$build/lib-tls" && mkdir -p "$build/lib-tls"
cp "$lib_tls" "$build/lib-tls/libflume_client.so"
[ -n "$soname" ] && [ "$soname" != libflume_client.so ] && ln -s libflume_client.so "$build/lib-tls/$soname"
cc -O2 -g -Wall -Wextra -o "$build/bench_flume_tls" "$here/bench_flume.c" "$here/alloc_count.c" \
  -I "$src/include" -L "$build/lib-tls" -lflume_client -Wl,-rpath,"$build/lib-tls" -rdynamic

# The IDL and the Java server are the interop tests': Flume's IDL, and a server
# set up as Flume's Thrift source that records nothing when its output is "-".
idl="$root/tests/peers/flume.thrift"

log "generating and building Apache Thrift's C++ client"
rm -rf "$build/gen-cpp" && mkdir -p "$build/gen-cpp"
thrift --gen cpp -out "$build/gen-cpp" "$idl"
gen_sources=()
for f in "$build"/gen-cpp/*.cpp; do
  case "$f" in *skeleton*) ;; *) gen_sources+=("$f") ;; esac
done
cc -O2 -g -c -o "$build/alloc_count.o" "$here/alloc_count.c"
c++ -O2 -g -std=c++17 -Wall -o "$build/bench_thrift" "$here/bench_thrift.cpp" "${gen_sources[@]}" \
  "$build/alloc_count.o" -I "$build/gen-cpp" -lthrift -lssl -lcrypto -rdynamic

log "making the TLS column's certificates (a CA and the null sink's, for 127.0.0.1)"
tls_dir="$build/tls"
rm -rf "$tls_dir" && mkdir -p "$tls_dir"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=flume-client bench CA" \
  -keyout "$tls_dir/ca.key" -out "$tls_dir/ca.pem" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$tls_dir/server.key" \
  -out "$tls_dir/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
  >"$tls_dir/server.ext"
openssl x509 -req -in "$tls_dir/server.csr" -CA "$tls_dir/ca.pem" -CAkey "$tls_dir/ca.key" -CAcreateserial \
  -days 2 -extfile "$tls_dir/server.ext" -out "$tls_dir/server.pem" 2>/dev/null

log "generating and building the Java server"
rm -rf "$build/gen-java" "$build/java-classes" && mkdir -p "$build/gen-java" "$build/java-classes"
thrift --gen java:generated_annotations=suppress -out "$build/gen-java" "$idl"
java_lib="${THRIFT_JAVA_CLASSPATH:-/usr/share/java/thrift.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-nop.jar}"
javac -nowarn -Xlint:none -encoding UTF-8 -d "$build/java-classes" -cp "$java_lib" \
  "$root/tests/peers/FlumeTestServer.java" "$build"/gen-java/org/apache/flume/thrift/*.java
java_cp="$build/java-classes:$java_lib"

log "bringing Apache Flume 1.11.0 and building its Java client's benchmark"
flume_cp="$("$root/scripts/flume-agent.sh" classpath)"
rm -rf "$build/sdk-classes" && mkdir -p "$build/sdk-classes"
javac -nowarn -Xlint:none -encoding UTF-8 -d "$build/sdk-classes" -cp "$flume_cp" "$here/FlumeSdkBench.java"
cat >"$build/sdk-log4j2.xml" <<'EOF'
<Configuration status="ERROR"><Appenders><Console name="err" target="SYSTEM_ERR"/></Appenders>
<Loggers><Root level="ERROR"><AppenderRef ref="err"/></Root></Loggers></Configuration>
EOF

log "encoding the floor's frames"
mkdir -p "$build/frames"
protocols=(compact binary)
batches=(1 100 1000)
bodies=(256 4096)
for p in "${protocols[@]}"; do
  for n in "${batches[@]}"; do
    for b in "${bodies[@]}"; do
      "$tools/make_frames" "$p" "$n" "$b" "$build/frames/$p-$n-$b.bin"
    done
  done
done

# ---- servers ---------------------------------------------------------------------
client_cpu=()
server_cpu=()
if [ "$pin" = 1 ]; then
  client_cpu=(taskset -c 0)
  server_cpu=(taskset -c 1)
fi

# The Java servers exit when their stdin ends: it is this FIFO, which the
# script holds open (fd 3) until it exits.
rm -f "$build/servers-stdin" && mkfifo "$build/servers-stdin"
exec 3<>"$build/servers-stdin"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# start NAME COMMAND...: runs it in the background, sets $port from its "PORT <n>" line.
start() {
  local name="$1"; shift
  "$@" <&0 >"$build/$name.out" 2>"$build/$name.err" &
  pids+=($!)
  local i
  for i in $(seq 1 600); do
    port="$(sed -n 's/^PORT \([0-9]*\)$/\1/p' "$build/$name.out")"
    [ -n "$port" ] && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.05
  done
  log "$name did not start:"; cat "$build/$name.err" >&2; exit 1
}

start nullsink "${server_cpu[@]}" "$tools/nullsink" 0; null_port="$port"
start nullsink-tls "${server_cpu[@]}" "$tools/nullsink" 0 --tls "$tls_dir/server.pem" "$tls_dir/server.key"
null_tls_port="$port"
start java-compact "${server_cpu[@]}" java -cp "$java_cp" FlumeTestServer 0 compact - <"$build/servers-stdin"
java_compact_port="$port"
start java-binary "${server_cpu[@]}" java -cp "$java_cp" FlumeTestServer 0 binary - <"$build/servers-stdin"
java_binary_port="$port"
# The real agents: Thrift source (8 threads: never Flume's default, see
# README), memory channel, null sink; stopped when their stdin (the FIFO) ends.
agent_args=(--threads 8 --channel memory --capacity 100000 --transaction-capacity 1000 --sink null
  --sink-batch-size 1000 --heap 1g)
start flume-compact "${server_cpu[@]}" "$root/scripts/flume-agent.sh" run --dir "$build/agent-compact" \
  --protocol compact "${agent_args[@]}" <"$build/servers-stdin"
flume_compact_port="$port"
start flume-binary "${server_cpu[@]}" "$root/scripts/flume-agent.sh" run --dir "$build/agent-binary" \
  --protocol binary "${agent_args[@]}" <"$build/servers-stdin"
flume_binary_port="$port"
log "null sink on $null_port (TLS: $null_tls_port), Java servers on $java_compact_port (compact), $java_binary_port (binary)," \
  "Flume agents on $flume_compact_port (compact), $flume_binary_port (binary)"

# ---- measurements ----------------------------------------------------------------
raw="$out/latest.jsonl"
: >"$raw"
{
  echo "{\"kind\":\"meta\",\"date\":\"$(date -u +%Y-%m-%dT%H:%MZ)\",\"quick\":$quick,\"seconds\":$seconds,\"warmup\":$warmup,\"repeat\":$repeat,\"pinned\":$([ ${#client_cpu[@]} -gt 0 ] && echo true || echo false),\
\"nproc\":$(nproc),\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"cpu\":\"$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)\",\
\"mem_gib\":$(awk '/MemTotal/ {printf "%.1f", $2/1048576}' /proc/meminfo),\"kernel\":\"$(uname -r)\",\
\"rustc\":\"$(rustc --version)\",\"cc\":\"$(cc --version | head -1)\",\"thrift\":\"$(thrift --version)\",\
\"java\":\"$(java -version 2>&1 | head -1 | tr -d '\"')\",\"commit\":\"$(git -C "$root" rev-parse --short "${rev:-HEAD}" 2>/dev/null || echo unknown)$( [ -z "$rev" ] && ! git -C "$root" diff --quiet HEAD -- src Cargo.toml build.rs 2>/dev/null && echo ' + working-tree changes')\"}"
  stripped="$build/libflume_client.stripped.so"  # a stripped copy: the size a package ships
  strip -o "$stripped" "$lib"
  echo "{\"kind\":\"size\",\"unstripped\":$(stat -c %s "$lib"),\"stripped\":$(stat -c %s "$stripped")}"
} >>"$raw"

log "encoder alone beside memcpy"
"${client_cpu[@]}" "$tools/encode_bench" "$( [ "$quick" = 1 ] && echo 0.05 || echo 0.6 )" >>"$raw"

for p in "${protocols[@]}"; do
  for n in "${batches[@]}"; do
    for b in "${bodies[@]}"; do
      echo "{\"kind\":\"frame\",\"protocol\":\"$p\",\"batch\":$n,\"body\":$b,\"bytes\":$(stat -c %s "$build/frames/$p-$n-$b.bin")}" >>"$raw"
    done
  done
done

# cell SERVER PORT PROTOCOL BATCH BODY: the three native clients, one after the other, $repeat times.
cell() {
  local server="$1" port="$2" p="$3" n="$4" b="$5" r
  for r in $(seq 1 "$repeat"); do
    "${client_cpu[@]}" "$build/bench_flume" floor "$port" "$build/frames/$p-$n-$b.bin" "$server" "$p" "$n" "$b" \
      "$warmup" "$seconds" >>"$raw"
    "${client_cpu[@]}" "$build/bench_flume" flume "$port" "$server" "$p" "$n" "$b" "$warmup" "$seconds" >>"$raw"
    "${client_cpu[@]}" "$build/bench_thrift" "$port" "$server" "$p" "$n" "$b" "$warmup" "$seconds" >>"$raw"
  done
}

# tls_cell PROTOCOL BATCH BODY: this library (TLS build) and the C++ client
# (TSSLSocket) against the TLS null sink, $repeat times; no floor (its frames
# are plain TCP).
tls_cell() {
  local p="$1" n="$2" b="$3" r
  for r in $(seq 1 "$repeat"); do
    BENCH_TLS_CA="$tls_dir/ca.pem" "${client_cpu[@]}" "$build/bench_flume_tls" flume "$null_tls_port" null-tls "$p" \
      "$n" "$b" "$warmup" "$seconds" >>"$raw"
    BENCH_TLS_CA="$tls_dir/ca.pem" "${client_cpu[@]}" "$build/bench_thrift" "$null_tls_port" null-tls "$p" "$n" "$b" \
      "$warmup" "$seconds" >>"$raw"
  done
}

# sdk_cells SERVER PORT PROTOCOL: Flume's Java client, every cell of the server
# and protocol in one JVM, $repeat rounds each.
sdk_cells() {
  log "$1 sink, $3: Flume's Java client, every cell"
  "${client_cpu[@]}" java -Dlog4j.configurationFile="$build/sdk-log4j2.xml" -cp "$build/sdk-classes:$flume_cp" \
    FlumeSdkBench "$2" "$1" "$3" "$warmup" "$seconds" "$repeat" "$(IFS=,; echo "${batches[*]}")" \
    "$(IFS=,; echo "${bodies[*]}")" >>"$raw"
}

for server in null java flume; do
  for p in "${protocols[@]}"; do
    case "$server/$p" in
      null/*) port="$null_port" ;;
      java/compact) port="$java_compact_port" ;;
      java/binary) port="$java_binary_port" ;;
      flume/compact) port="$flume_compact_port" ;;
      flume/binary) port="$flume_binary_port" ;;
    esac
    if [ "$server" != null ]; then
      # The JVM compiles its hot code first: give it every kind of call, untimed.
      log "warming up the $server server ($p)"
      for n in "${batches[@]}"; do
        for b in "${bodies[@]}"; do
          "${client_cpu[@]}" "$build/bench_flume" floor "$port" "$build/frames/$p-$n-$b.bin" java "$p" "$n" "$b" 0 \
            "$( [ "$quick" = 1 ] && echo 0.05 || echo 0.5 )" >/dev/null
        done
      done
    fi
    for b in "${bodies[@]}"; do
      for n in "${batches[@]}"; do
        log "$server sink, $p, batch $n, body $b"
        cell "$server" "$port" "$p" "$n" "$b"
      done
    done
    sdk_cells "$server" "$port" "$p"
  done
done

for p in "${protocols[@]}"; do
  for b in "${bodies[@]}"; do
    for n in "${batches[@]}"; do
      log "TLS null sink, $p, batch $n, body $b"
      tls_cell "$p" "$n" "$b"
    done
  done
done

# The asynchronous path: flume_client_send into a queue of at most 4 batches
# (queue.full = block), against the plain null sink, beside append_batch's
# cells above: with one call in flight (the default), and with
# queue.max-in-flight = 4 (server label null-async4); for bodies of 1 KiB or
# more also flume_client_send_borrowed with 4 in flight (null-async4b), which
# leaves such bodies in the caller's memory.
for p in "${protocols[@]}"; do
  for b in "${bodies[@]}"; do
    for n in "${batches[@]}"; do
      log "asynchronous send, null sink, $p, batch $n, body $b"
      variants="1 4"; [ "$b" -ge 1024 ] && variants="1 4 4b"
      for r in $(seq 1 "$repeat"); do
        for variant in $variants; do
          label=null-async; [ "$variant" = 1 ] || label="null-async$variant"
          borrowed=0; [ "$variant" = 4b ] && borrowed=1
          BENCH_IN_FLIGHT=${variant%b} BENCH_BORROWED=$borrowed "${client_cpu[@]}" "$build/bench_flume" send \
            "$null_port" "$label" "$p" "$n" "$b" "$warmup" "$seconds" >>"$raw"
        done
      done
    done
  done
done

"$PYTHON" "$here/report.py" "$raw" "$out/latest.md" "$out/chart.png"

# The deterministic counts (bench/counts.sh: callgrind and strace), for the same
# library; skipped by --quick (they take about a minute).
if [ "$quick" = 0 ]; then
  log "instructions per event and syscalls per call (bench/counts.sh)"
  counts="$(COUNTS_LIB="$lib" COUNTS_INCLUDE="$src/include" "$here/counts.sh")"
  {
    echo
    echo "## The client's own cost, in counts (bench/counts.sh, 256-byte bodies, three headers, null sink)"
    echo
    echo "Instructions per event: user space, inside flume_client_append and flume_client_append_batch,"
    echo "connecting excluded (callgrind). Target: at most 300 at batch 1,000, both protocols."
    echo
    echo "$counts"
  } >>"$out/latest.md"
  echo "$counts"
fi
log "wrote $out/latest.md, $out/latest.jsonl and $out/chart.png"
