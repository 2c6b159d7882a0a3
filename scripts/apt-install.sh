#!/usr/bin/env bash
# Installs with apt-get those of the given Debian packages that are missing,
# and a JDK when `javac` is missing too. Needs root (or sudo) only when
# something is missing.
#
# Usage: scripts/apt-install.sh [--jdk] PACKAGE...
#   --jdk   also default-jdk-headless, if no javac is on the PATH
set -euo pipefail

missing=()
for p in "$@"; do
  case "$p" in
    --jdk) command -v javac >/dev/null || missing+=(default-jdk-headless) ;;
    *) dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p") ;;
  esac
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "apt-install: installing ${missing[*]}" >&2
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
