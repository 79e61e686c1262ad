#!/usr/bin/env python3
"""The tree is the dependency graph: a file in src/<layer>/ may include only its own layer and
the layers below it (src/README.md). Fails listing every include that points upwards."""
import pathlib
import re
import sys

ORDER = ["base", "platform", "core", "large", "heap", "runtime", "c_api"]


def layer_of(path: str) -> int:
    top = path.split("/")[0].split(".")[0]
    return ORDER.index(top) if top in ORDER else -1


def main(src: pathlib.Path) -> int:
    bad = []
    for f in sorted(src.rglob("*")):
        if f.suffix not in (".h", ".cc", ".def"):
            continue
        rel = f.relative_to(src).as_posix()
        own = layer_of(rel)
        for n, line in enumerate(f.read_text().splitlines(), 1):
            m = re.match(r'\s*#include\s+"([^"]+)"', line)
            if not m or m.group(1).startswith("ffalloc/"):
                continue
            target = layer_of(m.group(1))
            if target < 0 or target > own:
                bad.append(f"{rel}:{n}: includes {m.group(1)} (layer above or unknown)")
    print("\n".join(bad) if bad else f"layering ok ({src})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1])))
