#!/usr/bin/env python3
"""Self-host: the C++ compiler on ffalloc builds ffalloc. Under LD_PRELOAD=libffalloc.so, the
compiler (driver, cc1plus, as; then collect2 and ld) compiles every source of src/ with the
flags of libffalloc_prefixed.a and the cross-thread stress test (GoogleTest headers), and links
them into a program. Checks: every object file is byte-for-byte the one the same command makes
on glibc's malloc, and the program built entirely by the preloaded toolchain runs its test
(without LD_PRELOAD) and passes.

  selfhost_compile.py LIBFFALLOC_SO WORKDIR SOURCE_ROOT 'COMPILER' 'CORE_FLAGS'
"""
import concurrent.futures
import filecmp
import glob
import os
import shlex
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import progtest as t  # noqa: E402


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    so, work, root = sys.argv[1], os.path.join(sys.argv[2], "selfhost"), sys.argv[3]
    cxx = [w for w in shlex.split(sys.argv[4]) if os.path.basename(w) not in ("ccache", "sccache")]
    flags = ["-std=c++20", "-O2", "-g", "-fPIC", "-I" + os.path.join(root, "include"),
             "-I" + os.path.join(root, "src")] + shlex.split(sys.argv[5])
    sources = sorted(glob.glob(os.path.join(root, "src", "**", "*.cc"), recursive=True))
    if len(sources) < 5:
        t.fail(f"found only {sources} under {root}/src")
    shutil.rmtree(work, ignore_errors=True)
    for d in ("ffalloc", "glibc"):
        os.makedirs(os.path.join(work, d))

    def obj(who, src):
        return os.path.join(work, who, os.path.relpath(src, root).replace("/", "_") + ".o")

    def compile_one(who, src, extra=()):
        env = t.env_preload(so) if who == "ffalloc" else t.env_plain()
        p = t.run(cxx + flags + list(extra) + ["-c", src, "-o", obj(who, src)], env,
                  f"{who}: compile {os.path.relpath(src, root)}")
        if who == "ffalloc":  # the driver, cc1plus and as all ran on ffalloc
            t.require_ffalloc(p, f"compile {os.path.relpath(src, root)}", processes=3,
                              min_spans=20)
        return p

    # 1. ffalloc's sources, twice each (on ffalloc and on glibc), two compilers at a time.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        jobs = [pool.submit(compile_one, who, s) for s in sources for who in ("ffalloc", "glibc")]
        for j in jobs:
            j.result()
    for s in sources:
        if not filecmp.cmp(obj("ffalloc", s), obj("glibc", s), shallow=False):
            nm = [subprocess.run(["nm", "-C", obj(w, s)], capture_output=True, text=True).stdout
                  for w in ("glibc", "ffalloc")]
            t.fail(f"{os.path.relpath(s, root)}: the object compiled on ffalloc differs from "
                   f"the one compiled on glibc (symbol lists {'equal' if nm[0] == nm[1] else 'differ'})")
    print(f"  {len(sources)} objects identical to the glibc-built ones")

    # 2. The stress test, compiled and linked (collect2, ld) on ffalloc; run it without preload.
    test_src = os.path.join(root, "tests", "stress", "cross_thread_transfer_test.cc")
    compile_one("ffalloc", test_src, ["-pthread"])
    exe = os.path.join(work, "stress_test")
    p = t.run(cxx + ["-o", exe, obj("ffalloc", test_src)] + [obj("ffalloc", s) for s in sources]
              + ["-lgtest_main", "-lgtest", "-pthread"], t.env_preload(so), "ffalloc: link")
    t.require_ffalloc(p, "link", processes=3)
    p = t.run([exe], t.env_plain(), "run the self-hosted stress test")
    if "[  PASSED  ] 1 test" not in p.stdout:
        t.fail("the self-hosted stress test did not pass", p)
    shutil.rmtree(work)
    print("self-host ok: objects identical, the self-built stress test passes")


if __name__ == "__main__":
    main()
