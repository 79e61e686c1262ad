"""Helpers shared by the tests/programs drivers (not run under LD_PRELOAD themselves).

Each driver runs a real program twice or more: under LD_PRELOAD=libffalloc.so with
FFALLOC_STATS=1 (every process then prints ffalloc's statistics report to stderr at exit, which
proves ffalloc served its allocations), and where useful without ffalloc, to compare outputs.
Exit status 77 tells meson the test was skipped (a program is not installed).
"""
import os
import re
import shutil
import subprocess
import sys
import threading
import time

STATS_HEADER = "ffalloc: statistics"
_say_lock = threading.Lock()


def say(line):
    """Prints one line whole (drivers run commands from several threads)."""
    with _say_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def fail(msg, proc=None):
    print(f"FAIL: {msg}", file=sys.stderr)
    if proc is not None:
        print(f"--- command: {proc.args}\n--- exit status {proc.returncode}", file=sys.stderr)
        for name, text in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            if isinstance(text, bytes):
                text = text.decode(errors="replace")
            if text:
                print(f"--- {name} (last 3000 chars)\n{text[-3000:]}", file=sys.stderr)
    sys.exit(1)


def skip(msg):
    print(f"SKIP: {msg}")
    sys.exit(77)


def need(program):
    path = shutil.which(program)
    if path is None:
        skip(f"{program} is not installed (tools/setup.sh installs it)")
    return path


def env_plain():
    env = {k: v for k, v in os.environ.items()
           if k != "LD_PRELOAD" and not k.startswith("FFALLOC_")}
    return env


def env_preload(so):
    env = env_plain()
    env["LD_PRELOAD"] = so
    env["FFALLOC_STATS"] = "1"
    return env


def run(cmd, env, what, stdin=None, stdout=subprocess.PIPE, text=True, cwd=None, timeout=600):
    """Runs cmd; fails the test unless it exits 0. stdin: a file object, or the text/bytes to
    write. Returns the CompletedProcess, with two more attributes found by polling /proc/<pid>
    while it ran: libffalloc_mapped (its maps named libffalloc) and max_threads."""
    t = time.monotonic()
    data = None if stdin is None or hasattr(stdin, "fileno") else stdin
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE if data is not None else stdin,
                            stdout=stdout, stderr=subprocess.PIPE, text=text, cwd=cwd)
    seen = {"mapped": False, "threads": 0}

    def watch():
        while proc.poll() is None:
            try:
                with open(f"/proc/{proc.pid}/maps") as f:
                    if "libffalloc" in f.read():
                        seen["mapped"] = True
                seen["threads"] = max(seen["threads"], len(os.listdir(f"/proc/{proc.pid}/task")))
            except OSError:
                pass
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        out, err = proc.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        fail(f"{what} timed out after {timeout} s",
             subprocess.CompletedProcess(cmd, proc.returncode, out, err))
    watcher.join()
    p = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    p.libffalloc_mapped, p.max_threads = seen["mapped"], seen["threads"]
    say(f"  {what}: exit {p.returncode}, {time.monotonic() - t:.1f} s, "
        f"up to {p.max_threads} thread(s)")
    if p.returncode != 0:
        fail(f"{what} exited with status {p.returncode}", p)
    return p


def stats_reports(stderr):
    """ffalloc statistics reports in a stderr text: one dict (counter name -> int) per process."""
    if isinstance(stderr, bytes):
        stderr = stderr.decode(errors="replace")
    reports = []
    for line in stderr.splitlines():
        if line.startswith(STATS_HEADER):
            reports.append({})
        elif reports:
            m = re.match(r"ffalloc:\s+(.*?)\s+(\d+)$", line)
            if m:
                reports[-1][m.group(1)] = int(m.group(2))
    return reports


def require_ffalloc(proc, what, processes=1, min_spans=1, reports=True):
    """ffalloc served the program run by proc (see run): /proc/<pid>/maps named libffalloc
    while it ran, and (reports=True) each of `processes` processes printed a statistics report
    with at least min_spans small spans created in all (it really allocated through ffalloc).
    reports=False for programs that close stderr before exiting (xz)."""
    if not proc.libffalloc_mapped:
        fail(f"{what}: libffalloc was not in /proc/<pid>/maps: ffalloc was not loaded", proc)
    if not reports:
        say(f"  {what}: libffalloc mapped")
        return []
    reports = stats_reports(proc.stderr)
    spans = sum(r.get("small spans created", 0) for r in reports)
    remote = sum(r.get("small remote frees", 0) for r in reports)
    say(f"  {what}: libffalloc mapped, {len(reports)} statistics report(s), {spans} small "
        f"spans created, {remote} remote frees")
    if len(reports) < processes:
        fail(f"{what}: expected {processes} ffalloc statistics report(s) on stderr "
             f"(FFALLOC_STATS=1), got {len(reports)}", proc)
    if spans < min_spans:
        fail(f"{what}: only {spans} small spans created (expected >= {min_spans})", proc)
    return reports


def strip_reports(stderr):
    """stderr without the statistics reports (for comparisons)."""
    return "\n".join(l for l in stderr.splitlines() if not l.startswith("ffalloc:"))
