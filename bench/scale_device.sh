#!/bin/bash
# Device scaling run: seed workload with push-thread frees, ffalloc vs the ideal hand-off reference
# (and glibc), interleaved, 2 rounds, at 1..32 committers on 16 cores.
cd "$(dirname "$0")/.."
L=$PWD/build/preload/libffalloc.so
nproc; ldd --version | head -1
for t in 1 4 8 16 32; do
  for r in 1 2; do
    for m in ffalloc ideal glibc; do
      case $m in
        ffalloc) out=$(LD_PRELOAD=$L /usr/bin/time -f 'cpu=%U+%S' ./build/bench/seed_buffers --threads $t --scale 2 2>&1);;
        ideal) out=$(/usr/bin/time -f 'cpu=%U+%S' ./build/bench/seed_buffers --threads $t --scale 2 --mode ideal-handoff 2>&1);;
        glibc) out=$(/usr/bin/time -f 'cpu=%U+%S' ./build/bench/seed_buffers --threads $t --scale 2 2>&1);;
      esac
      echo "t=$t r=$r $m $(echo "$out" | grep -oE 'ops_per_s=[0-9]+|peak_rss_kib=[0-9]+|p99_us=[0-9.]+|cpu=.*' | tr '\n' ' ')"
    done
  done
done
