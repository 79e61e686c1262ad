#!/bin/bash
# Scaling run for a many-core machine (bench/results/*-device-*.md): every allocator interleaved on
# the seed workload at 1-32 committers freeing through the push thread and 8-16 freeing their own,
# and larson and xthread with a thread per CPU.
# Usage: bench/scale_device.sh PEER_DIR RESULTS_DIR [ROUNDS]. PEER_DIR holds copies of the peers'
# libraries for a machine without Debian's packages ("" to use the installed ones).
set -euo pipefail
cd "$(dirname "$0")/.."
peers=${1:-}
exec python3 bench/compare.py ${peers:+--peer-dir "$peers"} --results "$2" --rounds "${3:-3}" \
  --timeout 60 --only larson,xthread,seed_buffers \
  --seed-threads 1,4,8,16,32 --seed-local-threads 8,16
