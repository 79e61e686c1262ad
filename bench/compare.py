#!/usr/bin/env python3
"""Run the bench/ workloads under several allocators, interleaved, and tabulate the medians.

Each round runs every (workload, allocator) pair once, in a shuffled order, so slow drift on a
noisy machine spreads over all allocators instead of landing on one. Allocators are swapped with
LD_PRELOAD; glibc runs with no preload. Per run it records wall time, CPU time (user+sys from the
child's wait4 rusage), peak and final RSS and the key=value line the workload prints. Raw runs go
to bench/results/<timestamp>.csv, the tables to bench/results/<timestamp>.md and to stdout.

The seed_buffers rows also run the workload's reference modes, once per round and without any
preload: "(limit)" (one reused buffer per committer: the memcpy and hand-off alone) and
"(ideal-handoff)" / "(ideal-local)" (per-committer pools fed back without any allocator). Their
tables add CPU/commit ratios to the matching ideal and to the limit.

Peak RSS is the workload's own VmHWM (its peak_rss_kib field). wait4's ru_maxrss is recorded too,
but Linux keeps the pre-exec image's peak in it, so it never reads below this runner's own RSS
(~14 MiB) and hides the difference on small workloads.
"""

import argparse
import atexit
import csv
import hashlib
import json
import os
import platform
import random
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LIB_DIRS = ["/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib"]
PEERS = {"jemalloc": "libjemalloc.so.2", "mimalloc": "libmimalloc.so.2", "tcmalloc": "libtcmalloc_minimal.so.4"}
# ffalloc run with options: same library, extra environment. Not run unless named in --allocators.
FFALLOC_VARIANTS = {"ffalloc-thp": {"FFALLOC_THP": "1"}}
BASELINE = "mimalloc"
# Result fields shown as extra table columns, when a workload prints them.
EXTRA_METRICS = {"ops_per_s": "ops/s", "mib_per_s": "MiB/s", "p50_us": "p50 µs", "p99_us": "p99 µs", "max_us": "max µs",
                 "parked_mib": "parked MiB"}


@dataclass(frozen=True)
class Workload:
    label: str          # table name; --only matches it or the binary
    binary: str
    op: str             # what one "op" is, for the table caption
    args: tuple = ()
    threaded: bool = False  # takes --threads from the runner
    work: float = 1.0       # multiplies --scale, to bring a fast variant near a second
    refs: tuple = ()        # reference modes (--mode M, no preload) run as extra rows "(M)"
    ideal: str = ""         # the ref whose CPU/op the "vs ideal" column divides by


SEED_PUSH = {"refs": ("limit", "ideal-handoff"), "ideal": "ideal-handoff"}
SEED_LOCAL = {"refs": ("limit", "ideal-local"), "ideal": "ideal-local"}


def all_workloads(seed_threads=(1, 2, 8), seed_local_threads=(8,)):
    """Every workload, with the seed workload at the given committer counts (push-thread frees, then
    committers freeing their own)."""
    return [
        Workload("small_churn", "small_churn", "one malloc+free"),
        Workload("larson", "larson", "one object replacement", threaded=True),
        Workload("xthread", "xthread", "one object passed and freed", threaded=True),
        Workload("thread_pool", "thread_pool", "one request"),
        *(Workload(f"seed_buffers c{t}", "seed_buffers", "one commit", ("--threads", str(t)), **SEED_PUSH)
          for t in seed_threads),
        *(Workload(f"seed_buffers c{t} local", "seed_buffers", "one commit", ("--threads", str(t), "--local"),
                   work=10, **SEED_LOCAL)
          for t in seed_local_threads),
        Workload("large_churn", "large_churn", "one 5-25 MiB buffer"),
        Workload("realloc_grow", "realloc_grow", "one realloc step"),
    ]


@dataclass
class Run:
    workload: Workload
    allocator: str
    round: int
    status: str = "ok"  # "ok" or the failure reason
    wall: float = 0.0
    user: float = 0.0
    sys: float = 0.0
    ru_maxrss_mib: float = 0.0
    output: str = ""
    metrics: dict = field(default_factory=dict)

    @property
    def cpu(self):
        return self.user + self.sys

    @property
    def peak_rss_mib(self):
        return self.metrics.get("peak_rss_kib", 0) / 1024

    @property
    def final_rss_mib(self):
        """VmRSS at the workload's end, everything freed; None from a workload that does not print it."""
        kib = self.metrics.get("final_rss_kib")
        return kib / 1024 if isinstance(kib, float) else None


def ref_mode(name):
    """The workload mode of a reference row name "(mode)", else None (an allocator)."""
    return name[1:-1] if name.startswith("(") and name.endswith(")") else None


def row_names(w, allocators, args):
    """The rows of workload w's table: the allocators, then its reference modes."""
    return list(allocators) + ([] if args.no_refs else [f"({m})" for m in w.refs])


def find_lib(name, first_dir=None):
    for d in ([first_dir] if first_dir else []) + LIB_DIRS:
        if (Path(d) / name).is_file():
            return str((Path(d) / name).resolve())
    return None


def pick_allocators(args):
    """Returns {name: preload path or None}, warning about and dropping the missing ones."""
    ffalloc = Path(args.ffalloc) if args.ffalloc else REPO / "build/preload/libffalloc.so"
    found = {"glibc": None}
    for name, lib in PEERS.items():
        found[name] = find_lib(lib, args.peer_dir) or f"missing {lib}"
    found["ffalloc"] = str(ffalloc.resolve()) if ffalloc.is_file() else f"missing {ffalloc}"
    wanted = args.allocators.split(",") if args.allocators else list(found)
    for variant in FFALLOC_VARIANTS:
        found[variant] = found["ffalloc"]
    chosen = {}
    for name in wanted:
        if name not in found:
            sys.exit(f"unknown allocator {name!r}; known: {', '.join(found)}")
        if found[name] and found[name].startswith("missing "):
            print(f"warning: skipping {name}: {found[name][8:]} not found", file=sys.stderr)
            continue
        chosen[name] = found[name]
    return chosen


def snapshot(lib):
    """Copies lib aside so a rebuild during the run cannot change what is measured.
    Returns the copy's path and a sha256 prefix identifying the build."""
    tmp = tempfile.mkdtemp(prefix="ffalloc-bench-")
    atexit.register(shutil.rmtree, tmp, True)
    copy = shutil.copy2(lib, tmp)
    return copy, hashlib.sha256(Path(copy).read_bytes()).hexdigest()[:12]


def pick_workloads(args):
    workloads = all_workloads(args.seed_threads, args.seed_local_threads)
    if not args.only:
        return workloads
    names = args.only.split(",")
    for n in names:
        if not any(n in (w.label, w.binary) for w in workloads):
            sys.exit(f"unknown workload {n!r}; known: {', '.join(w.label for w in workloads)}")
    return [w for w in workloads if w.label in names or w.binary in names]


def thread_counts(text):
    """argparse type: "1,2,8" -> (1, 2, 8); "" -> ()."""
    counts = tuple(int(t) for t in text.split(",") if t)
    if any(t < 1 for t in counts):
        raise argparse.ArgumentTypeError("thread counts must be >= 1")
    return counts


def run_once(cmd, env, timeout):
    """Runs cmd; returns (status, wall, rusage, stdout, stderr)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        fired = threading.Event()

        def kill():
            fired.set()
            os.kill(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        _, wstatus, rusage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(wstatus)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    rc = proc.returncode
    if fired.is_set():
        status = f"timeout {timeout}s"
    elif rc < 0:
        status = f"signal {signal.Signals(-rc).name}"
    elif rc != 0:
        status = f"exit {rc}"
    elif "cannot be preloaded" in stderr:
        status = "preload failed"
    else:
        status = "ok"
    return status, wall, rusage, stdout, stderr


def parse_metrics(line):
    metrics = {}
    for token in line.split():
        key, _, value = token.partition("=")
        try:
            metrics[key] = float(value)
        except ValueError:
            metrics[key] = value
    return metrics


def execute(w, alloc, lib, rnd, args):
    """Runs one (workload, row) pair: alloc is an allocator, preloaded from lib (None: glibc), or a
    reference row "(mode)", run with --mode and no preload."""
    cmd = [str(Path(args.build) / "bench" / w.binary), *w.args, "--scale", str(args.scale * w.work)]
    if w.threaded:
        cmd += ["--threads", str(args.threads)]
    mode = ref_mode(alloc)
    if mode:
        cmd += ["--mode", mode]
        lib = None
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if lib:
        env["LD_PRELOAD"] = lib
        env.update(FFALLOC_VARIANTS.get(alloc, {}))
    status, wall, ru, stdout, stderr = run_once(cmd, env, args.timeout)
    lines = stdout.strip().splitlines()
    run = Run(w, alloc, rnd, status, wall, ru.ru_utime, ru.ru_stime, ru.ru_maxrss / 1024, lines[-1] if lines else "")
    run.metrics = parse_metrics(run.output)
    if run.status == "ok" and not {"ops", "peak_rss_kib"} <= run.metrics.keys():
        run.status = "no result line"
    if run.status != "ok":
        tail = stderr.strip().splitlines()[-1:] or ["(no stderr)"]
        run.output = f"{run.output} | stderr: {tail[0]}".strip(" |")
    return run


def git_commit():
    def git(*a):
        r = subprocess.run(["git", "--no-optional-locks", "-C", str(REPO), *a], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else ""
    sha = git("rev-parse", "--short=12", "HEAD") or "no-commit"
    return sha + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def thp_setting():
    """The kernel's transparent huge page mode ("always", "madvise" or "never")."""
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return "unknown"
    return text[text.find("[") + 1:text.find("]")] if "[" in text else text.strip()


def machine_line(args):
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (f"command: python3 {shlex.join(sys.argv)} | git: {git_commit()} | nproc: {len(os.sched_getaffinity(0))}"
            f" | kernel: {platform.release()} | thp: {thp_setting()} | cpu: {cpu} | threads: {args.threads}"
            f" | scale: {args.scale} | date: {time.strftime('%Y-%m-%d %H:%M:%S %z')}")


def warn_if_not_release(build, allocators):
    info = Path(build) / "meson-info" / "intro-buildoptions.json"
    if "ffalloc" not in allocators or not info.is_file():
        return
    options = {o["name"]: o["value"] for o in json.loads(info.read_text())}
    if options.get("buildtype") != "release":
        print(f"warning: {build} is a {options.get('buildtype')} build; ffalloc numbers are not release numbers",
              file=sys.stderr)


def fmt_time_per_op(seconds):
    ns = seconds * 1e9
    if ns < 1e3:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns / 1e6:.2f} ms"


def fmt_number(x):
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.2f}"


def ratio(value, base):
    return f"{value / base:.2f}x" if base else "n/a"


def table(w, names, runs, rounds):
    """Markdown table for one workload, one line per name in names (allocators, then reference rows);
    a pair with any failed run is shown as FAIL."""
    by_alloc = {a: [r for r in runs if r.workload == w and r.allocator == a] for a in names}
    ok = {a: rs for a, rs in by_alloc.items() if rs and all(r.status == "ok" for r in rs)}
    med = {a: {"wall": statistics.median(r.wall for r in rs),
               "cpu": statistics.median(r.cpu for r in rs),
               "rss": statistics.median(r.peak_rss_mib for r in rs),
               "final": statistics.median(x) if (x := [r.final_rss_mib for r in rs if r.final_rss_mib is not None])
               else None,
               "ops": statistics.median(r.metrics["ops"] for r in rs)} for a, rs in ok.items()}
    for m in med.values():
        m["cpu_op"] = m["cpu"] / m["ops"] if m["ops"] else 0.0
    extras = [k for k in EXTRA_METRICS if any(k in r.metrics for rs in ok.values() for r in rs)]
    base = med.get(BASELINE, {})
    # Reference columns: CPU per op over the matching ideal's and over the limit's (same table).
    refs = [(f"CPU/op vs {w.ideal}", med.get(f"({w.ideal})", {}).get("cpu_op")),
            ("CPU/op vs limit", med.get("(limit)", {}).get("cpu_op"))] if w.refs else []
    refs = [(title, value) for title, value in refs if any(ref_mode(a) for a in by_alloc if by_alloc[a])]
    head = ["allocator", "median wall s", "median CPU s", "CPU/op"] + [t for t, _ in refs] + [
        "peak RSS MiB", "final RSS MiB", f"wall vs {BASELINE}", f"CPU vs {BASELINE}", f"RSS vs {BASELINE}",
        "spread"] + [EXTRA_METRICS[k] for k in extras]
    lines = [f"### {w.label}", "", f"op = {w.op}; {rounds} rounds", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for a, rs in by_alloc.items():
        if not rs:
            continue
        if a not in ok:
            bad = [r for r in rs if r.status != "ok"]
            cells = [a, f"FAIL: {bad[0].status} ({len(bad)}/{len(rs)} runs)"] + [""] * (len(head) - 2)
        else:
            m = med[a]
            walls = [r.wall for r in rs]
            cells = [a, f"{m['wall']:.3f}", f"{m['cpu']:.3f}", fmt_time_per_op(m["cpu_op"])]
            cells += [ratio(m["cpu_op"], value) for _, value in refs]
            cells += [f"{m['rss']:.1f}", "n/a" if m["final"] is None else f"{m['final']:.1f}",
                      ratio(m["wall"], base.get("wall")), ratio(m["cpu"], base.get("cpu")),
                      ratio(m["rss"], base.get("rss")), f"{(max(walls) - min(walls)) / m['wall']:.0%}"]
            cells += [fmt_number(statistics.median(r.metrics[k] for r in rs if k in r.metrics)) for k in extras]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def probe_machine(args):
    """Median cross-CPU cache-line round trip in ns (bench/line_pingpong), or None: on a VM this
    flips between states that move every cross-thread row (bench/README.md, "machine states")."""
    probe = Path(args.build) / "bench" / "line_pingpong"
    if not probe.is_file():
        return None
    try:
        out = subprocess.run([str(probe)], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    ns = parse_metrics(out).get("roundtrip_ns")
    return ns if isinstance(ns, float) and ns == ns else None  # nan: fewer than two CPUs


def run_all(pairs, allocators, args, path, header, runs, probes):
    """Runs every pair once per round in a shuffled order, appending to runs and to the CSV at path;
    probes gets the machine probe taken before each round."""
    total = len(pairs) * args.rounds
    with open(path, "w", newline="") as f:
        f.write(f"# {header}\n")
        out = csv.writer(f)
        out.writerow(["round", "workload", "allocator", "status", "wall_s", "cpu_s", "user_s", "sys_s",
                      "peak_rss_mib", "final_rss_mib", "ru_maxrss_mib", "roundtrip_ns", "output"])
        for rnd in range(1, args.rounds + 1):
            probes.append(probe_machine(args))
            if isinstance(probes[-1], float):
                print(f"round {rnd}: cross-CPU round trip {probes[-1]:.0f} ns", file=sys.stderr)
            order = pairs[:]
            random.Random(rnd).shuffle(order)
            for w, a in order:
                print(f"[{len(runs) + 1}/{total}] {w.label} {a} round {rnd} ... ", end="", file=sys.stderr, flush=True)
                r = execute(w, a, allocators.get(a), rnd, args)
                runs.append(r)
                print(f"{r.wall:.2f}s" if r.status == "ok" else f"FAIL ({r.status}) {r.output}", file=sys.stderr)
                final = "" if r.final_rss_mib is None else f"{r.final_rss_mib:.1f}"
                out.writerow([rnd, w.label, a, r.status, f"{r.wall:.4f}", f"{r.cpu:.4f}", f"{r.user:.4f}",
                              f"{r.sys:.4f}", f"{r.peak_rss_mib:.1f}", final,
                              f"{r.ru_maxrss_mib:.1f}", "" if probes[-1] is None else f"{probes[-1]:.0f}",
                              r.output])
                f.flush()


def make_plots(csv_path, workloads):
    """bench/plot.py's PNGs of the results, next to the CSV, when gnuplot is installed; their paths."""
    if not shutil.which("gnuplot"):
        print("note: gnuplot not found (Debian: gnuplot-nox), so no plots", file=sys.stderr)
        return []
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import plot  # bench/plot.py
    try:
        return plot.plot_results(csv_path, order=[w.label for w in workloads])
    except (plot.PlotError, OSError) as e:
        print(f"warning: no plots: {e}", file=sys.stderr)
        return []


def shown(path):
    """path relative to the repository when inside it."""
    return path.relative_to(REPO) if path.is_relative_to(REPO) else path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--only", help="comma-separated workloads (a label or a binary name, e.g. seed_buffers)")
    ap.add_argument("--allocators", help="comma-separated subset of glibc,jemalloc,mimalloc,tcmalloc,ffalloc "
                    "(default: all of them), plus ffalloc-thp (ffalloc with FFALLOC_THP=1) when named")
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies every workload's work (default 1)")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="threads for larson and xthread (default: CPUs available)")
    ap.add_argument("--seed-threads", type=thread_counts, default=(1, 2, 8),
                    help="committer counts of the seed workload with push-thread frees (default 1,2,8)")
    ap.add_argument("--seed-local-threads", type=thread_counts, default=(8,),
                    help="committer counts of the seed workload with committers freeing their own (default 8)")
    ap.add_argument("--peer-dir", help="directory searched first for the peers' libraries (e.g. copies taken "
                    "to a machine without the Debian packages)")
    ap.add_argument("--ffalloc", help="path to libffalloc.so (default build/preload/libffalloc.so in the repo)")
    ap.add_argument("--build", default=str(REPO / "build"), help="meson build dir holding bench/ (default build)")
    ap.add_argument("--timeout", type=float, default=120, help="seconds before a run is killed (default 120)")
    ap.add_argument("--no-refs", action="store_true",
                    help="skip the reference rows ((limit), (ideal-handoff), (ideal-local)) of seed_buffers")
    ap.add_argument("--results", default=str(REPO / "bench" / "results"),
                    help="directory for the CSV and markdown results (default bench/results)")
    args = ap.parse_args()
    if args.rounds < 1 or args.threads < 1 or args.scale <= 0:
        sys.exit("--rounds and --threads must be >= 1, --scale > 0")

    workloads = pick_workloads(args)
    missing = sorted({w.binary for w in workloads if not (Path(args.build) / "bench" / w.binary).is_file()})
    if missing:
        sys.exit(f"workloads not built in {args.build}/bench: {', '.join(missing)} (run bench/run.sh or ninja)")
    allocators = pick_allocators(args)
    if not allocators:
        sys.exit("no allocator left to run")
    warn_if_not_release(args.build, allocators)
    libs = ", ".join(f"{a}={lib or '(none)'}" for a, lib in allocators.items())
    ffallocs = [a for a in allocators if a == "ffalloc" or a in FFALLOC_VARIANTS]
    if ffallocs:
        copy, sha = snapshot(allocators[ffallocs[0]])
        for a in ffallocs:
            allocators[a] = copy
        libs += f" (sha256 {sha})"
        for a in ffallocs:
            if a in FFALLOC_VARIANTS:
                libs += f"; {a} = ffalloc with " + " ".join(f"{k}={v}" for k, v in FFALLOC_VARIANTS[a].items())

    results = Path(args.results).resolve()
    results.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    csv_path, md_path = results / f"{stamp}.csv", results / f"{stamp}.md"
    tmp_path = csv_path.with_suffix(".csv.tmp")
    header = f"{machine_line(args)} | allocators: {libs}"

    pairs = [(w, a) for w in workloads for a in row_names(w, allocators, args)]
    total, runs, probes, started = len(pairs) * args.rounds, [], [], time.perf_counter()
    try:
        run_all(pairs, allocators, args, tmp_path, header, runs, probes)
    except KeyboardInterrupt:
        sys.exit(f"\ninterrupted; the runs so far are in {shown(tmp_path)}")
    tmp_path.rename(csv_path)

    elapsed = time.perf_counter() - started
    md = [f"# Allocator comparison {stamp}", "", header, "",
          f"{total} runs in {elapsed:.0f} s. Medians over rounds; \"vs {BASELINE}\" ratios divide by {BASELINE}'s "
          "median (lower is better); spread = (max-min)/median of wall. Rows in parentheses are seed_buffers "
          "reference modes (no allocator in the loop, no preload); \"CPU/op vs\" columns divide CPU per commit "
          "by that reference's: how far an allocator is from it.", ""]
    if all(isinstance(p, float) for p in probes):
        md += ["Cross-CPU cache-line round trip before each round (bench/line_pingpong): "
               + ", ".join(f"{p:.0f}" for p in probes) + " ns. On the 2-vCPU VM this reads ~75-130 "
               "ns in its fast state and ~380-420 ns in its slow one (bench/README.md, \"machine "
               "states\").", ""]
    md += [table(w, row_names(w, allocators, args), runs, args.rounds) for w in workloads]
    pngs = make_plots(csv_path, workloads)
    if pngs:
        md += ["## Plots", "", *[f"![{png.stem}]({png.name})" for png in pngs], ""]
    text = "\n".join(md)
    md_path.write_text(text)
    print(text)
    print(f"raw: {shown(csv_path)}  tables: {shown(md_path)}  ({elapsed:.0f} s)", file=sys.stderr)
    if pngs:
        print("plots: " + "  ".join(str(shown(png)) for png in pngs), file=sys.stderr)


if __name__ == "__main__":
    main()
