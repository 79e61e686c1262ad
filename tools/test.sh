#!/usr/bin/env bash
# Installs what is missing, builds ffalloc and runs the whole test suite (README's second command).
# Usage: tools/test.sh [build-dir]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
dir=${1:-build}
[ -f "$dir/build.ninja" ] || meson setup "$dir" --buildtype=release
ninja -C "$dir"
meson test -C "$dir" --print-errorlogs --num-processes 2
