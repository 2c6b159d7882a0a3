#!/usr/bin/env bash
# A directory of jars for a real Apache Flume 1.11.0 agent with kerberos=true:
# Flume's own (tests/flume/pom.xml, as scripts/flume-agent.sh fetch brings
# them) plus what Flume's Kerberos path needs, Hadoop's UGI and its
# dependencies (tests/flume/kerberos-pom.xml), both from Maven Central. A
# Hadoop dependency that Flume already ships (in any version) is left out, so
# the agent keeps its own versions. Prints the directory; run the agent on it
# with FLUME_LIB_DIR=<it> scripts/flume-agent.sh run ... (the agent script
# finds its jars there and leaves them as they are).
#
# Environment: FLUME_KERBEROS_LIB_DIR [target/flume-1.11.0/lib-kerberos of the
# repository], MVN [mvn]. Exit status 2 when the jars cannot be brought.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
pom="$repo/tests/flume/kerberos-pom.xml"
lib_dir=${FLUME_KERBEROS_LIB_DIR:-$repo/target/flume-1.11.0/lib-kerberos}
mvn=${MVN:-mvn}
die() { echo "flume-kerberos-lib: $*" >&2; exit 2; }

# Flume's jars first (the agent script's own fetch, into this directory).
FLUME_LIB_DIR="$lib_dir" "$repo/scripts/flume-agent.sh" fetch >/dev/null

stamp="$lib_dir/.kerberos-pom.sha256"
want=$(sha256sum "$pom" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  command -v "$mvn" >/dev/null || die "mvn not found (install maven: scripts/install-deps.sh)"
  echo "flume-kerberos-lib: bringing Hadoop's authentication jars from Maven Central" >&2
  hadoop="$lib_dir/../hadoop-kerberos"
  rm -rf "$hadoop"
  mkdir -p "$hadoop"
  log="$lib_dir/../mvn-kerberos.log"
  if ! "$mvn" -B -q -f "$pom" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$hadoop" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "mvn could not bring Hadoop's jars (log: $log)"
  fi
  [ -f "$hadoop/hadoop-common-2.10.1.jar" ] || die "hadoop-common-2.10.1.jar missing after mvn (log: $log)"
  for jar in "$hadoop"/*.jar; do
    # artifact name: the file name less "-<version>.jar"
    artifact=$(basename "$jar" | sed -E 's/-[0-9][^-]*(-[A-Za-z0-9.]+)?\.jar$//')
    if ! ls "$lib_dir" | grep -Eq "^${artifact}-[0-9]"; then
      cp "$jar" "$lib_dir/"
    fi
  done
  echo "$want" >"$stamp"
fi
echo "$lib_dir"
