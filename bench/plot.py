#!/usr/bin/env python3
"""Plots a results CSV of bench/compare.py with gnuplot: one PNG per workload, next to the CSV.

    python3 bench/plot.py bench/results/<timestamp>.csv [more.csv ...]

<timestamp>-<workload>.png has one bar per allocator (reference rows in grey) for the median wall
time and the median peak RSS over the rounds, and, for workloads that report latencies (the
seed_buffers tables), the median commit latency p50 and p99 (of each run's own percentile). The
whiskers go from the smallest to the largest run. A pair with a failed run is marked FAIL, with no
bar, as in compare.py's tables. compare.py calls this at the end of a run when gnuplot is
installed (Debian: gnuplot-nox). Prints the PNG paths.
"""

import argparse
import csv
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ORDER = ["glibc", "jemalloc", "mimalloc", "tcmalloc", "ffalloc"]
COLORS = {"glibc": 0x4C72B0, "jemalloc": 0xDD8452, "mimalloc": 0x55A868, "tcmalloc": 0x8172B3,
          "ffalloc": 0xC44E52}
OTHER_COLOR, REFERENCE_COLOR = 0x937860, 0xB0B0B0
# (title, unit, value of one run); latency panels only where a run reports the field.
PANELS = [
    ("median wall time", "s", lambda r: r["wall"]),
    ("median peak RSS", "MiB", lambda r: r["peak_rss"]),
]
LATENCY_PANELS = [
    ("commit latency p50 (median of runs)", "µs", lambda r: r["metrics"].get("p50_us")),
    ("commit latency p99 (median of runs)", "µs", lambda r: r["metrics"].get("p99_us")),
]


class PlotError(Exception):
    pass


def parse_metrics(output):
    """The workload's key=value fields, numbers only (the line compare.py stores in 'output')."""
    metrics = {}
    for token in output.split("|")[0].split():
        key, _, value = token.partition("=")
        try:
            metrics[key] = float(value)
        except ValueError:
            pass
    return metrics


def read_results(path):
    """Returns (header fields, runs) of a compare.py CSV; header fields from its '# ...' line."""
    with open(path, newline="") as f:
        first = f.readline()
        header = {}
        if first.startswith("#"):
            for part in first[1:].strip().split(" | "):
                key, _, value = part.partition(": ")
                header[key.strip()] = value.strip()
        else:
            f.seek(0)
        runs = []
        for row in csv.DictReader(f):
            try:
                runs.append({"round": int(row["round"]), "workload": row["workload"], "allocator": row["allocator"],
                             "ok": row["status"] == "ok",
                             "status": row["status"], "wall": float(row["wall_s"]),
                             "peak_rss": float(row["peak_rss_mib"]), "metrics": parse_metrics(row.get("output", ""))})
            except (KeyError, ValueError) as e:
                raise PlotError(f"{path}: not a compare.py results CSV ({e!r} in {row})") from e
    if not runs:
        raise PlotError(f"{path}: no runs")
    return header, runs


def slug(label):
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def row_order(names):
    """Allocators in compare.py's order, then any other allocator, then the reference rows "(mode)"."""
    refs = sorted(n for n in names if n.startswith("("))
    known = [n for n in ORDER if n in names]
    return known + sorted(set(names) - set(known) - set(refs)) + refs


def color(name):
    return REFERENCE_COLOR if name.startswith("(") else COLORS.get(name, OTHER_COLOR)


def fmt(x):
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}" if x >= 0.01 else f"{x:.3g}"


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', "'").replace("\n", "\\n") + '"'


def panel_data(runs, names, value, optional):
    """Data lines 'x "name" median min max color "label"' for one panel; None for an optional panel
    (a latency) that no run reports."""
    lines, any_value = [], False
    for x, name in enumerate(names):
        rs = [r for r in runs if r["allocator"] == name]
        values = [value(r) for r in rs if r["ok"]]
        values = [v for v in values if v is not None]
        if rs and all(r["ok"] for r in rs) and len(values) == len(rs):
            any_value = True
            med = statistics.median(values)
            lines.append(f"{x} {quote(name)} {med!r} {min(values)!r} {max(values)!r} {color(name)} {quote(fmt(med))}")
        elif not all(r["ok"] for r in rs):
            bad = [r for r in rs if not r["ok"]]
            lines.append(f"{x} {quote(name)} 0 0 0 {color(name)} {quote(f'FAIL {len(bad)}/{len(rs)}')}")
        else:
            lines.append(f"{x} {quote(name)} 0 0 0 {color(name)} {quote('n/a')}")
    return ("\n".join(lines) + "\n") if any_value or not optional else None


def workload_script(label, runs, header, png, tmp, terminal):
    names = row_order(sorted({r["allocator"] for r in runs}))
    panels = []
    for i, (title, unit, value) in enumerate(PANELS + LATENCY_PANELS):
        data = panel_data(runs, names, value, optional=i >= len(PANELS))
        if data is None:
            continue
        path = tmp / f"{slug(label)}-{i}.dat"
        path.write_text(data)
        panels.append((title, unit, path))
    rows = (len(panels) + 1) // 2
    sub = " | ".join(f"{k}: {header[k]}" for k in ("git", "date", "cpu", "nproc", "threads", "scale") if k in header)
    title = f"{label}: median of {len({r['round'] for r in runs})} rounds, whiskers min-max"
    lines = [
        f"set terminal {terminal} size 1200,{440 * rows + 60} noenhanced font 'DejaVu Sans,10'",
        f"set output {quote(str(png))}",
        f"set multiplot layout {rows},2 title {quote(title + chr(10) + sub)} font ',11'",
        "set style fill solid 0.85 border rgb '#404040'",
        "set boxwidth 0.7",
        "set grid ytics lc rgb '#dddddd'",
        "set key off",
        "set xtics rotate by -25 nomirror font ',9'",
        "set ytics nomirror",
        "set border 3",
        f"set xrange [-0.6:{len(names) - 0.4}]",
        "set yrange [0:*]",
        "set offsets 0, 0, graph 0.12, 0",
    ]
    for title, unit, path in panels:
        p = quote(str(path))
        lines += [
            f"set title {quote(title)}",
            f"set ylabel {quote(unit)}",
            f"plot {p} using 1:3:(0.7):6:xtic(2) with boxes lc rgb variable, "
            f"{p} using 1:4:(0):($5-$4) with vectors heads size screen 0.006,90 lc rgb '#202020' lw 1, "
            f"{p} using 1:5:7 with labels offset 0,0.8 font ',9'",
        ]
    lines.append("unset multiplot")
    return "\n".join(lines) + "\n"


def plot_results(csv_path, gnuplot="gnuplot", order=()):
    """Writes <csv stem>-<workload>.png next to csv_path for every workload; returns their paths,
    workloads in the given order of labels, then alphabetically."""
    csv_path = Path(csv_path)
    exe = shutil.which(gnuplot)
    if not exe:
        raise PlotError(f"{gnuplot} not found (Debian: apt-get install gnuplot-nox)")
    header, runs = read_results(csv_path)
    terminals = subprocess.run([exe, "-e", "set terminal"], capture_output=True, text=True).stderr
    terminal = "pngcairo" if "pngcairo" in terminals else "png"
    order = list(order)
    labels = sorted({r["workload"] for r in runs}, key=lambda w: (order.index(w) if w in order else len(order), w))
    pngs = []
    with tempfile.TemporaryDirectory(prefix="ffalloc-plot-") as tmp:
        tmp = Path(tmp)
        script = ""
        for label in labels:
            png = csv_path.with_name(f"{csv_path.stem}-{slug(label)}.png")
            script += workload_script(label, [r for r in runs if r["workload"] == label], header, png, tmp, terminal)
            pngs.append(png)
        (tmp / "plot.gp").write_text(script)
        r = subprocess.run([exe, str(tmp / "plot.gp")], capture_output=True, text=True)
        if r.returncode != 0:
            raise PlotError(f"gnuplot failed (exit {r.returncode}): {r.stderr.strip()[-2000:]}")
    missing = [p for p in pngs if not p.is_file()]
    if missing:
        raise PlotError(f"gnuplot wrote no {', '.join(map(str, missing))}")
    return pngs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", nargs="+", help="results CSV(s) written by bench/compare.py")
    ap.add_argument("--gnuplot", default="gnuplot", help="gnuplot command (default gnuplot)")
    args = ap.parse_args()
    failed = False
    for path in args.csv:
        try:
            for png in plot_results(path, args.gnuplot):
                print(png)
        except (PlotError, OSError) as e:
            print(f"plot.py: {e}", file=sys.stderr)
            failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
