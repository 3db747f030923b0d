#!/usr/bin/env bash
# Installs the Debian packages gomap's build, tests, benchmark and tools need.
# Safe to run again; needs root (or sudo).
set -euo pipefail
PACKAGES=(
  build-essential cmake pkg-config clang clang-format
  liburcu-dev libxxhash-dev systemtap-sdt-dev
  golang-go libabsl-dev libtbb-dev libck-dev
  libbpf-dev bpftool bpftrace libmicrohttpd-dev curl prometheus jq
  gnuplot valgrind libfuzzer-14-dev libclang-rt-14-dev clang-19 libclang-rt-19-dev
  libdw-dev
)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
