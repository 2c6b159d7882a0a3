#!/usr/bin/env bash
# A real Apache Flume 1.11.0 agent on loopback, for the tests, the benchmark and
# for trying the library without installing Flume.
#
# Flume comes from Maven Central: tests/flume/pom.xml lists the artifacts
# (flume-ng-node: the Thrift source, memory channel, file_roll/null/thrift
# sinks, avro_event serializer; the file channel; flume-ng-sdk, whose Java RPC
# client the benchmark runs; log4j2) and `mvn dependency:copy-dependencies`
# copies their jars (cached in ~/.m2) to $FLUME_LIB_DIR. Any failure to bring
# them is an error (exit status 2), never a skip.
#
# Commands
#   scripts/flume-agent.sh fetch
#       Brings the jars (if not there yet) and prints their directory.
#   scripts/flume-agent.sh classpath
#       Brings the jars and prints the class path (jar:jar:...).
#   scripts/flume-agent.sh run [OPTIONS]
#       Writes the agent's configuration, starts the agent
#       (org.apache.flume.node.Application -n NAME -f FILE --no-reload-conf),
#       waits until its Thrift source listens, prints
#           PORT <port>
#           PID <the agent JVM's process id>
#           DIR <its directory>
#       (one a line, in that order, then nothing more on stdout), and runs
#       until its standard input ends, SIGINT or SIGTERM; then stops the agent
#       (SIGTERM, SIGKILL after 10 s) and exits 0. If the agent dies on its
#       own (or is killed, e.g. SIGKILL by a test), exits 3 at once.
#       Interactively: Ctrl-C or Ctrl-D stops it.
#   scripts/flume-agent.sh start [OPTIONS]
#       Like run, but returns once the source listens, leaving the agent
#       running in the background (its JVM pid in DIR/agent.pid). Prints the
#       same three lines.
#   scripts/flume-agent.sh stop --dir DIR
#       Stops the agent that `start` left in DIR (SIGTERM, SIGKILL after 10 s).
#
# OPTIONS (defaults in brackets). The agent's components are named: agent
# NAME, source r1, channel c1, sink k1 (so raw lines can refer to them).
#   --dir DIR              the agent's directory: configuration (agent.conf,
#                          log4j2.xml), log (flume.log), file channel data,
#                          file_roll output [a new directory under $TMPDIR;
#                          with start/run it is printed]. Reusing a directory
#                          (a restart) keeps the file channel's data and the
#                          file_roll output.
#   --name NAME            agent name [a1]
#   --bind ADDR            the source's bind address [127.0.0.1]
#   --port N               the source's port [a free one; a restart passes the
#                          port it got before]
#   --protocol P           the source's protocol: compact or binary [compact]
#   --threads N|unset      the source's `threads` [16]; `unset` leaves Flume's
#                          default, a new thread per call never reclaimed (see
#                          README "Tested against Apache Flume": do not use
#                          that with one-event calls)
#   --ssl KEYSTORE         ssl = true with this keystore (path)
#   --keystore-password P  [changeit]
#   --keystore-type T      JKS or PKCS12 [PKCS12]
#   --channel memory|file  channel type [memory]; file keeps its checkpoint and
#                          data under DIR/file-channel
#   --capacity N           channel capacity [10000]
#   --transaction-capacity N  channel transactionCapacity [1000]
#   --keep-alive S         memory channel keep-alive, seconds [Flume's: 3]
#   --sink S               null | file_roll | thrift:HOST:PORT | none [null]
#                          file_roll writes DIR/sink with the avro_event
#                          serializer; thrift forwards with Flume's Thrift sink
#                          (the source's --protocol) to HOST:PORT, e.g. the
#                          bundled `flume-receive --format json --base64`;
#                          none: no sink (events stay in the channel)
#   --sink-batch-size N    the sink's batch-size [100]
#   --line 'KEY = VALUE'   a raw configuration line, appended after the
#                          generated ones (repeatable; later lines win), e.g.
#                          --line 'a1.sources.r1.kerberos = true'
#   --lines-file FILE      raw configuration lines from FILE, appended
#   --java-opt OPT         a JVM option (repeatable), e.g.
#                          --java-opt -Djava.security.krb5.conf=/path/krb5.conf
#   --classpath CP         extra class path entries, before Flume's jars
#   --heap SIZE            the JVM's -Xmx [512m]
#
# Environment
#   FLUME_LIB_DIR          where the jars go [target/flume-1.11.0/lib of the
#                          repository]
#   FLUME_AGENT_START_TIMEOUT  seconds to wait for the source to listen [120]
#   JAVA, MVN              the java and mvn commands [java, mvn]
#
# Example
#   scripts/flume-agent.sh run --protocol compact --sink null
#   # prints PORT 41234 ...; send with: build/bin/flume-send --hosts 127.0.0.1:41234
#
# Exit status: 0 stopped as asked; 1 usage; 2 Flume cannot be brought (Maven);
# 3 the agent did not start listening, or died.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
pom="$repo/tests/flume/pom.xml"
lib_dir=${FLUME_LIB_DIR:-$repo/target/flume-1.11.0/lib}
java=${JAVA:-java}
mvn=${MVN:-mvn}

die() { echo "flume-agent: $*" >&2; exit "${2:-1}"; }
say() { echo "flume-agent: $*" >&2; }

# --- The jars ------------------------------------------------------------------------
fetch() {
  local stamp="$lib_dir/.pom.sha256" want
  want=$(sha256sum "$pom" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return
  fi
  command -v "$mvn" >/dev/null || die "mvn not found (install maven: scripts/install-deps.sh)" 2
  say "bringing Apache Flume 1.11.0 from Maven Central into $lib_dir"
  rm -rf "$lib_dir"
  mkdir -p "$lib_dir"
  local log="$lib_dir/../mvn.log"
  if ! "$mvn" -B -q -f "$pom" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$lib_dir" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "mvn could not bring Apache Flume 1.11.0 (log: $log)" 2
  fi
  [ -f "$lib_dir/flume-ng-node-1.11.0.jar" ] || die "flume-ng-node-1.11.0.jar missing after mvn (log: $log)" 2
  echo "$want" >"$stamp"
}

classpath() {
  local cp="" jar
  for jar in "$lib_dir"/*.jar; do
    cp="${cp:+$cp:}$jar"
  done
  echo "$cp"
}

# --- Options -----------------------------------------------------------------------------
dir="" name=a1 bind=127.0.0.1 port="" protocol=compact threads=16
ssl_keystore="" keystore_password=changeit keystore_type=PKCS12
channel=memory capacity=10000 transaction_capacity=1000 keep_alive=""
sink=null sink_batch_size=100 extra_cp="" heap=512m
raw_lines=() java_opts=()

parse_options() {
  while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || die "option $1 needs a value"
    case "$1" in
      --dir) dir=$2 ;;
      --name) name=$2 ;;
      --bind) bind=$2 ;;
      --port) port=$2 ;;
      --protocol) protocol=$2 ;;
      --threads) threads=$2 ;;
      --ssl) ssl_keystore=$2 ;;
      --keystore-password) keystore_password=$2 ;;
      --keystore-type) keystore_type=$2 ;;
      --channel) channel=$2 ;;
      --capacity) capacity=$2 ;;
      --transaction-capacity) transaction_capacity=$2 ;;
      --keep-alive) keep_alive=$2 ;;
      --sink) sink=$2 ;;
      --sink-batch-size) sink_batch_size=$2 ;;
      --line) raw_lines+=("$2") ;;
      --lines-file)
        [ -r "$2" ] || die "cannot read $2"
        while IFS= read -r line || [ -n "$line" ]; do raw_lines+=("$line"); done <"$2"
        ;;
      --java-opt) java_opts+=("$2") ;;
      --classpath) extra_cp=$2 ;;
      --heap) heap=$2 ;;
      *) die "unknown option $1 (see the top of $0)" ;;
    esac
    shift 2
  done
  case "$protocol" in compact | binary) ;; *) die "--protocol must be compact or binary" ;; esac
  case "$channel" in memory | file) ;; *) die "--channel must be memory or file" ;; esac
  case "$sink" in null | file_roll | none | thrift:*:*) ;; *) die "--sink must be null, file_roll, thrift:HOST:PORT or none" ;; esac
  if [ -n "$port" ]; then
    [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -gt 0 ] && [ "$port" -lt 65536 ] || die "bad --port $port"
  fi
  [ "$threads" = unset ] || [[ "$threads" =~ ^[0-9]+$ ]] || die "--threads must be a number or unset"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

write_config() {
  local p="$name.sources.r1" c="$name.channels.c1" k="$name.sinks.k1" line
  {
    echo "# Written by scripts/flume-agent.sh"
    echo "$name.sources = r1"
    echo "$name.channels = c1"
    [ "$sink" = none ] || echo "$name.sinks = k1"
    echo "$p.type = thrift"
    echo "$p.channels = c1"
    echo "$p.bind = $bind"
    echo "$p.port = $port"
    echo "$p.protocol = $protocol"
    [ "$threads" = unset ] || echo "$p.threads = $threads"
    if [ -n "$ssl_keystore" ]; then
      echo "$p.ssl = true"
      echo "$p.keystore = $ssl_keystore"
      echo "$p.keystore-password = $keystore_password"
      echo "$p.keystore-type = $keystore_type"
    fi
    echo "$c.type = $channel"
    echo "$c.capacity = $capacity"
    echo "$c.transactionCapacity = $transaction_capacity"
    [ -z "$keep_alive" ] || echo "$c.keep-alive = $keep_alive"
    if [ "$channel" = file ]; then
      echo "$c.checkpointDir = $dir/file-channel/checkpoint"
      echo "$c.dataDirs = $dir/file-channel/data"
    fi
    case "$sink" in
      none) ;;
      null | file_roll)
        echo "$k.type = $sink"
        ;;
      thrift:*)
        local target=${sink#thrift:}
        echo "$k.type = thrift"
        echo "$k.hostname = ${target%:*}"
        echo "$k.port = ${target##*:}"
        echo "$k.protocol = $protocol"
        ;;
    esac
    if [ "$sink" != none ]; then
      echo "$k.channel = c1"
      echo "$k.batch-size = $sink_batch_size"
    fi
    if [ "$sink" = file_roll ]; then
      echo "$k.sink.directory = $dir/sink"
      echo "$k.sink.rollInterval = 0"
      echo "$k.sink.serializer = avro_event"
    fi
    for line in ${raw_lines[@]+"${raw_lines[@]}"}; do echo "$line"; done
  } >"$dir/agent.conf"
  mkdir -p "$dir/sink"
  cat >"$dir/log4j2.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="ERROR">
  <Appenders>
    <File name="log" fileName="$dir/flume.log" append="true">
      <PatternLayout pattern="%d{HH:mm:ss.SSS} %-5p [%t] %c{1}: %m%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="log"/></Root>
  </Loggers>
</Configuration>
EOF
}

# Whether something listens on $port (any local address), from /proc/net/tcp*.
listening() {
  local hex
  hex=$(printf '%04X' "$port")
  grep -qE "^ *[0-9]+: [0-9A-F]+:$hex [0-9A-F]+:0000 0A " /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

agent_pid=""
# Starts the JVM in the background and waits until the source listens.
start_agent() {
  local chosen_port=$port attempt
  for attempt in 1 2 3; do
    [ -n "$chosen_port" ] || port=$(free_port)
    write_config
    echo "=== start $(date -u +%FT%TZ) port $port" >>"$dir/flume.log"
    local cp
    cp=$(classpath)
    # setsid: the agent is not in the caller's process group, so a Ctrl-C
    # reaches only this script, which stops the agent in order.
    setsid "$java" -Xmx"$heap" -XX:+UseSerialGC -Dlog4j.configurationFile="$dir/log4j2.xml" \
      ${java_opts[@]+"${java_opts[@]}"} -cp "${extra_cp:+$extra_cp:}$cp" \
      org.apache.flume.node.Application -n "$name" -f "$dir/agent.conf" --no-reload-conf \
      </dev/null >>"$dir/flume.out" 2>&1 &
    agent_pid=$!
    echo "$agent_pid" >"$dir/agent.pid"
    local deadline=$((SECONDS + ${FLUME_AGENT_START_TIMEOUT:-120}))
    while ! listening; do
      if ! kill -0 "$agent_pid" 2>/dev/null; then
        break
      fi
      if [ $SECONDS -ge $deadline ]; then
        kill -KILL "$agent_pid" 2>/dev/null || true
        wait "$agent_pid" 2>/dev/null || true
        tail -n 40 "$dir/flume.log" "$dir/flume.out" >&2 || true
        die "the agent's source did not listen on $bind:$port within ${FLUME_AGENT_START_TIMEOUT:-120} s (log: $dir/flume.log)" 3
      fi
      sleep 0.1
    done
    # Listening, and the listener is this agent (it is still alive; the port
    # was free a moment ago).
    if kill -0 "$agent_pid" 2>/dev/null; then
      return
    fi
    wait "$agent_pid" 2>/dev/null || true
    # Died before listening: a port taken in the meantime is retried with
    # another free port; anything else is reported.
    if [ -n "$chosen_port" ] || ! grep -q "Address already in use" "$dir/flume.log" "$dir/flume.out"; then
      break
    fi
    say "port $port was taken meanwhile; trying another"
  done
  tail -n 40 "$dir/flume.log" "$dir/flume.out" >&2 || true
  die "the agent exited before its source listened (log: $dir/flume.log)" 3
}

stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

prepare() {
  parse_options "$@"
  if [ -z "$dir" ]; then
    dir=$(mktemp -d "${TMPDIR:-/tmp}/flume-agent.XXXXXX")
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  fetch
  command -v "$java" >/dev/null || die "java not found (install a JDK: scripts/install-deps.sh)" 2
}

announce() {
  echo "PORT $port"
  echo "PID $agent_pid"
  echo "DIR $dir"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  fetch)
    fetch
    echo "$lib_dir"
    ;;
  classpath)
    fetch
    classpath
    ;;
  start)
    prepare "$@"
    start_agent
    announce
    ;;
  stop)
    parse_options "$@"
    [ -n "$dir" ] || die "stop needs --dir DIR"
    [ -f "$dir/agent.pid" ] || die "no agent.pid in $dir"
    stop_pid "$(cat "$dir/agent.pid")"
    rm -f "$dir/agent.pid"
    ;;
  run)
    prepare "$@"
    stopping=""
    trap 'stopping=1' INT TERM
    start_agent
    announce
    # Standard input, read in the background (a background command's default
    # input would be /dev/null): its end means the caller is gone.
    exec 3<&0
    cat <&3 >/dev/null &
    stdin_pid=$!
    status=0
    while :; do
      if [ -n "$stopping" ] || ! kill -0 "$stdin_pid" 2>/dev/null; then
        break
      fi
      if ! kill -0 "$agent_pid" 2>/dev/null; then
        status=3
        break
      fi
      sleep 0.2
    done
    kill "$stdin_pid" 2>/dev/null || true
    if [ $status -eq 0 ]; then
      stop_pid "$agent_pid"
    else
      say "the agent (pid $agent_pid) died (log: $dir/flume.log)"
    fi
    wait "$agent_pid" 2>/dev/null || true
    rm -f "$dir/agent.pid"
    exit $status
    ;;
  *)
    die "usage: $0 fetch | classpath | run [OPTIONS] | start [OPTIONS] | stop --dir DIR (see the top of the script)"
    ;;
esac
