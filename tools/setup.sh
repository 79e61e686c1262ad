#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks for building, testing and benchmarking ffalloc.
# Safe to run again; needs root (or sudo) for apt-get.
set -euo pipefail
# clang-14 and libclang-rt-14-dev: the TSan and libFuzzer legs of tools/test.sh;
# sqlite3, xz-utils, zstd: tests/preload/smoke.sh and tests/programs; gnuplot-nox: bench plots.
pkgs=(meson ninja-build g++ pkg-config python3 libgtest-dev
      libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4
      valgrind sqlite3 xz-utils zstd clang-14 libclang-rt-14-dev gnuplot-nox)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
