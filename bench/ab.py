#!/usr/bin/env python3
"""Interleaved A/B of allocator variants on one workload (seed_buffers unless --workload names
another bench/ binary): the tool behind the A/B numbers in closing notes.

Each round runs every variant once, in a shuffled order, after one bench/line_pingpong reading
(rounds above 200 ns are the VM's slow state, bench/README.md "Machine states"). Prints per
variant the medians of CPU per op (user+sys of the whole process), its ratio to the first
variant, wall per op, peak and final RSS, p99 latency (seed_buffers) or the RSS of the parked pool
(thread_pool), then each round's CPU.

Variants:
  ff                    build/preload/libffalloc.so
  lib=PATH              another build of ffalloc (or any malloc) preloaded, e.g. an older commit's
  ENV=V[,ENV2=V2]       ffalloc with environment settings, e.g. FFALLOC_LARGE_CACHE_KIB=256
  lib=PATH,ENV=V        both
  glibc je mi tc        Debian's glibc, jemalloc, mimalloc, tcmalloc
  ideal ideal-local limit   the reference modes (--mode ideal-handoff / ideal-local / limit)

Example: python3 bench/ab.py 8 ff lib=/tmp/old.so ideal-local glibc --local --scale 10 --rounds 8
         python3 bench/ab.py 64 ff lib=/tmp/old.so je glibc --workload thread_pool --rounds 6
"""
import argparse
import os
import random
import statistics
import subprocess

PEERS = {"je": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
         "mi": "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2",
         "tc": "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"}
MODES = {"ideal": "ideal-handoff", "ideal-local": "ideal-local", "limit": "limit"}


def command(variant, a):
    env = dict(os.environ)
    args = [os.path.join(a.build, "bench", a.workload), "--threads", a.threads, "--scale", a.scale]
    if a.local:
        args.append("--local")
    if variant in MODES:
        return args + ["--mode", MODES[variant]], env
    if variant in PEERS:
        env["LD_PRELOAD"] = PEERS[variant]
        return args, env
    if variant == "glibc":
        return args, env
    env["LD_PRELOAD"] = os.path.abspath(os.path.join(a.build, "preload", "libffalloc.so"))
    if variant != "ff":
        for part in variant.split(","):
            key, value = part.split("=", 1)
            if key == "lib":
                env["LD_PRELOAD"] = os.path.abspath(value)
            else:
                env[key] = value
    return args, env


def run(variant, a):
    args, env = command(variant, a)
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{variant}: exit status {status}")
    fields = dict(item.split("=", 1) for item in out.split() if "=" in item)
    ops = float(fields["ops"])
    return (1e6 * (usage.ru_utime + usage.ru_stime) / ops, 1e6 * float(fields["secs"]) / ops,
            int(fields["peak_rss_kib"]) / 1024, int(fields["final_rss_kib"]) / 1024,
            float(fields.get("p99_us", fields.get("parked_mib", "nan"))))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("threads", help="the workload's --threads (committers for seed_buffers)")
    p.add_argument("variants", nargs="+")
    p.add_argument("--local", action="store_true", help="committers free their own buffers")
    p.add_argument("--scale", default="1")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--build", default="build")
    p.add_argument("--workload", default="seed_buffers", help="bench/ binary (modes are seed_buffers')")
    a = p.parse_args()
    probe = os.path.join(a.build, "bench", "line_pingpong")
    results = {v: [] for v in a.variants}
    states = []
    for _ in range(a.rounds):
        reading = subprocess.run([probe], capture_output=True, text=True).stdout
        ns = float(reading.rsplit("roundtrip_ns=", 1)[1]) if "roundtrip_ns=" in reading else 0.0
        states.append("S" if ns > 200 else "F")
        order = list(a.variants)
        random.shuffle(order)
        for v in order:
            results[v].append(run(v, a))
    print("round states (S: line_pingpong over 200 ns, the slow state):", "".join(states))
    base = statistics.median(r[0] for r in results[a.variants[0]])
    last = "parkMiB" if a.workload == "thread_pool" else "p99 us"
    print(f"{'variant':40s} {'cpu/op us':>9s} {'ratio':>6s} {'wall/op':>8s} {'peakMiB':>8s} "
          f"{'finMiB':>7s} {last:>7s}  cpu per round")
    for v in a.variants:
        m = [statistics.median(r[i] for r in results[v]) for i in range(5)]
        print(f"{v[-40:]:40s} {m[0]:9.3f} {m[0] / base:6.3f} {m[1]:8.3f} {m[2]:8.1f} {m[3]:7.1f} "
              f"{m[4]:7.1f}  " + " ".join(f"{r[0]:.2f}" for r in results[v]))


if __name__ == "__main__":
    main()
