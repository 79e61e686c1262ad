#!/usr/bin/env python3
"""Multi-threaded compressors on ffalloc: xz -T2 and zstd -T2 compress a generated 64 MiB input
and decompress it again under LD_PRELOAD=libffalloc.so. Checks: the round trip gives back the
input byte for byte, and each compressed stream is identical to the one the same command makes
on glibc's malloc (both tools write the same stream for the same options and thread count).

  compress_roundtrip.py LIBFFALLOC_SO WORKDIR

The input mixes text, incompressible bytes and runs of zeros. xz -T2 works on 3 MiB blocks in
two threads (buffers of the large tier, freed across threads); zstd --long=26 keeps a 64 MiB
window (huge blocks).
"""
import filecmp
import os
import random
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import progtest as t  # noqa: E402

SIZE = 64 << 20


def make_input(path):
    r = random.Random(4242)
    words = ["".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(2, 10)))
             for _ in range(5000)]
    out = bytearray()
    while len(out) < SIZE:
        k = r.random()
        if k < 0.08:
            out += r.randbytes(r.randint(1000, 200000))
        elif k < 0.95:
            out += (" ".join(r.choices(words, k=r.randint(200, 4000))) + "\n").encode()
        else:
            out += bytes(r.randint(1000, 300000))
    del out[SIZE:]
    with open(path, "wb") as f:
        f.write(out)


TOOLS = {
    "xz": (["-T2", "-1", "-c"], ["-d", "-T2", "-c"]),
    "zstd": (["-q", "-T2", "-5", "--long=26", "-c"], ["-q", "-d", "--long=26", "-c"]),
}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    so, work = sys.argv[1], os.path.join(sys.argv[2], "compress-roundtrip")
    paths = {name: t.need(name) for name in TOOLS}
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    src = os.path.join(work, "input")
    make_input(src)
    for name, (comp, decomp) in TOOLS.items():
        packed = {}
        for who, env in (("glibc", t.env_plain()), ("ffalloc", t.env_preload(so))):
            packed[who] = os.path.join(work, f"input.{name}.{who}")
            with open(src, "rb") as fin, open(packed[who], "wb") as fout:
                p = t.run([paths[name]] + comp, env, f"{name} compress on {who}", stdin=fin,
                          stdout=fout, text=False)
            if who == "ffalloc":
                # xz closes stderr before exiting: no statistics report, only the maps check
                t.require_ffalloc(p, f"{name} compress on ffalloc", reports=name != "xz")
                if p.max_threads < 2:
                    t.fail(f"{name} -T2 never ran more than one thread", p)
        unpacked = os.path.join(work, f"output.{name}")
        with open(packed["ffalloc"], "rb") as fin, open(unpacked, "wb") as fout:
            p = t.run([paths[name]] + decomp, t.env_preload(so), f"{name} decompress on ffalloc",
                      stdin=fin, stdout=fout, text=False)
        t.require_ffalloc(p, f"{name} decompress on ffalloc", reports=name != "xz")
        if not filecmp.cmp(src, unpacked, shallow=False):
            t.fail(f"{name}: decompressed output differs from the input ({unpacked})")
        if not filecmp.cmp(packed["glibc"], packed["ffalloc"], shallow=False):
            t.fail(f"{name}: compressed stream on ffalloc differs from glibc's ({work})")
        ratio = os.path.getsize(packed["ffalloc"]) / SIZE
        print(f"{name} ok: 64 MiB round trip identical, stream equal to glibc's "
              f"(ratio {ratio:.2f})")
        for f in (packed["glibc"], packed["ffalloc"], unpacked):
            os.remove(f)
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
