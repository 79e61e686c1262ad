#!/usr/bin/env python3
"""python3 on ffalloc: an allocation-heavy, multi-threaded object workload whose digest must
equal the digest of the same workload on glibc's malloc.

  python_objects.py LIBFFALLOC_SO     driver: runs the workload twice and compares
  python_objects.py --workload        the workload itself: prints one JSON line

PYTHONMALLOC=malloc sends every Python object to malloc (not to pymalloc's arenas), so the
interpreter's allocations are ffalloc's. The workload builds, sorts, hashes and serialises
hundreds of thousands of objects; grows byte arrays through the large and huge sizes (realloc);
and passes objects between threads through queues, so most are freed by a thread other than the
one that made them.
"""
import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def workload():
    import ctypes
    import queue
    import random
    import threading

    r = random.Random(20240601)
    h = hashlib.sha256()

    # 1. Records: dicts, tuples, lists, strings of all small sizes; sort, group, serialise.
    records = []
    for i in range(150000):
        name = "".join(r.choice("abcdefghij") for _ in range(r.randint(1, 24)))
        records.append({"id": i, "name": name, "tags": [name[:3]] * r.randint(0, 6),
                        "score": r.random(), "blob": bytes(r.randint(0, 600))})
    records.sort(key=lambda d: (d["name"], d["id"]))
    groups = {}
    for d in records:
        groups.setdefault(d["name"][:2], []).append(d["id"])
    for k in sorted(groups):
        h.update(f"{k}:{len(groups[k])}:{sum(groups[k])}".encode())
    text = json.dumps([{k: v for k, v in d.items() if k != "blob"} for d in records[::7]])
    h.update(hashlib.sha256(text.encode()).digest())
    back = json.loads(text)
    assert len(back) == len(records[::7])
    del records, groups, text, back

    # 2. Growing buffers: small -> large -> huge by repeated appends (realloc), then shrink.
    for rnd in range(3):
        buf = bytearray()
        while len(buf) < (24 << 20):
            buf += bytes([len(buf) & 0xFF]) * r.randint(1, 300000)
        h.update(hashlib.sha256(buf).digest())
        del buf[4096:]
        h.update(bytes(buf))

    # 3. Cross-thread hand-off: two producers, two consumers; objects die on the consumer.
    q = queue.Queue(maxsize=256)
    sums = [0, 0]
    lock = threading.Lock()

    def produce(seed):
        pr = random.Random(seed)
        for i in range(40000):
            n = pr.randint(0, 40)
            q.put((seed, i, [str(pr.random()) for _ in range(n)], bytearray(pr.randint(0, 3000))))
        q.put(None)

    def consume(slot):
        total = 0
        while True:
            item = q.get()
            if item is None:
                break
            seed, i, strs, ba = item
            d = hashlib.sha256(f"{seed}/{i}/{','.join(strs)}/{len(ba)}".encode()).digest()
            total += int.from_bytes(d[:8], "little")
        with lock:
            sums[slot] = total

    producers = [threading.Thread(target=produce, args=(s,)) for s in (1, 2)]
    consumers = [threading.Thread(target=consume, args=(s,)) for s in (0, 1)]
    for t in producers + consumers:
        t.start()
    for t in producers + consumers:
        t.join()
    h.update(str(sum(sums) % (1 << 64)).encode())  # independent of which consumer got what

    # Which allocator served this process?
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    p = libc.malloc(100)
    owns = hasattr(libc, "ffa_owns") and libc.ffa_owns(ctypes.c_void_p(p)) == 1
    libc.free(ctypes.c_void_p(p))
    with open("/proc/self/maps") as f:
        mapped = "libffalloc" in f.read()
    print(json.dumps({"digest": h.hexdigest(), "malloc_is_ffalloc": owns,
                      "libffalloc_mapped": mapped}))


def driver(so):
    sys.path.insert(0, HERE)
    import progtest as t
    me = [sys.executable, os.path.abspath(__file__), "--workload"]
    plain_env = t.env_plain()
    plain_env["PYTHONMALLOC"] = "malloc"
    ffa_env = t.env_preload(so)
    ffa_env["PYTHONMALLOC"] = "malloc"
    plain = t.run(me, plain_env, "python3 on glibc")
    ffa = t.run(me, ffa_env, "python3 on ffalloc")
    t.require_ffalloc(ffa, "python3 on ffalloc", processes=1, min_spans=100)
    want, got = json.loads(plain.stdout), json.loads(ffa.stdout)
    if want["malloc_is_ffalloc"] or want["libffalloc_mapped"]:
        t.fail(f"the glibc run used ffalloc: {want}")
    if not (got["malloc_is_ffalloc"] and got["libffalloc_mapped"]):
        t.fail(f"the preloaded python3 did not use ffalloc: {got}", ffa)
    if got["digest"] != want["digest"]:
        t.fail(f"digest differs: ffalloc {got['digest']} != glibc {want['digest']}", ffa)
    print(f"python3 ok: digest {got['digest'][:16]}... equal on glibc and ffalloc")


if __name__ == "__main__":
    if sys.argv[1:] == ["--workload"]:
        workload()
    elif len(sys.argv) == 2:
        driver(sys.argv[1])
    else:
        sys.exit(__doc__)
