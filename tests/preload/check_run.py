#!/usr/bin/env python3
"""Runs one test program (optionally under LD_PRELOAD) and checks how it ended.

--expect-abort TEXT (repeatable: alternatives): the program must die by SIGABRT after printing
  exactly one stderr line starting with "ffalloc: " that contains one of the TEXTs and the
  address the program announced on stdout as "ptr=0x...".
--expect-stdout LINE (repeatable): the program must exit 0 and print each LINE on stdout.
"""
import argparse
import os
import re
import signal
import subprocess
import sys

PREFIX = "ffalloc: "


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preload", help="shared object for LD_PRELOAD (child only)")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--expect-abort", action="append", default=[])
    ap.add_argument("--expect-stdout", action="append", default=[])
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd or not (a.expect_abort or a.expect_stdout):
        ap.error("need a command and an expectation")
    env = dict(os.environ)
    if a.preload:
        env["LD_PRELOAD"] = a.preload
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, errors="replace",
                           timeout=a.timeout)
    except subprocess.TimeoutExpired:
        return fail(f"timed out after {a.timeout}s", None)

    if a.expect_abort:
        if r.returncode != -signal.SIGABRT:
            return fail(f"expected death by SIGABRT, got {describe(r.returncode)}", r)
        lines = [l for l in r.stderr.splitlines() if l.startswith(PREFIX)]
        if len(lines) != 1:
            return fail(f"expected exactly one stderr line starting with {PREFIX!r}, got {len(lines)}", r)
        line = lines[0]
        if not any(t in line for t in a.expect_abort):
            return fail(f"message does not name the problem ({' or '.join(a.expect_abort)}): {line!r}", r)
        m = re.search(r"^ptr=(0x[0-9a-fA-F]+)$", r.stdout, re.M)
        if not m:
            return fail("program did not announce ptr=0x... before the misuse", r)
        want = int(m.group(1), 16)
        got = [int(x, 16) for x in re.findall(r"0x[0-9a-fA-F]+", line)]
        if want not in got:
            return fail(f"message does not contain the address {m.group(1)}: {line!r}", r)
    else:
        if r.returncode != 0:
            return fail(f"expected exit 0, got {describe(r.returncode)}", r)
        out = r.stdout.splitlines()
        for want in a.expect_stdout:
            if want not in out:
                return fail(f"missing stdout line {want!r}", r)
    print(f"ok: {' '.join(cmd)}")
    return 0


def describe(rc):
    if rc < 0:
        return f"signal {signal.Signals(-rc).name}"
    return f"exit status {rc}"


def fail(why, r):
    print(f"FAIL: {why}")
    if r is not None:
        print("--- stdout ---\n" + r.stdout[-4000:])
        print("--- stderr ---\n" + r.stderr[-4000:])
    return 1


if __name__ == "__main__":
    sys.exit(main())
