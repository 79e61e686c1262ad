#!/usr/bin/env bash
# One-stop benchmark: install the peer allocators and build tools, build ffalloc and the
# workloads (release), then compare allocators. Arguments go to bench/compare.py (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
[ -d build ] || meson setup build --buildtype=release
ninja -C build
exec python3 bench/compare.py "$@"
