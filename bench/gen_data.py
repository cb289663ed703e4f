#!/usr/bin/env python3
"""Generates the deterministic benchmark bundles for `make bench` (bench/run.sh).

OUT/v1: FILES files totalling exactly TOTAL bytes, sizes drawn from a log-normal spread,
        pseudo-random (incompressible, all distinct) content, in a JS-bundle-like tree.
OUT/v2: the same tree with CHANGED files given new content of the same size.
OUT/meta.json: what was generated, including the bytes in the changed files.

Everything comes from one random.Random(SEED) stream, so the same arguments give
byte-identical output on any machine (Python >= 3.9 for Random.randbytes).
Usage: gen_data.py OUT [--files 2000] [--total-bytes 50000000] [--changed 100] [--seed 42]
"""

import argparse
import json
import os
import random
import shutil

EXTS = ["js", "js", "js", "json", "css", "png", "png", "svg", "woff2", "html"]


def sizes_for(rng, files, total):
    weights = [rng.lognormvariate(0.0, 1.2) for _ in range(files)]
    scale = total / sum(weights)
    sizes = [max(64, int(w * scale)) for w in weights]
    # Put the rounding difference on the largest file so the total is exact.
    biggest = max(range(files), key=sizes.__getitem__)
    sizes[biggest] += total - sum(sizes)
    assert sizes[biggest] > 0 and sum(sizes) == total
    return sizes


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--files", type=int, default=2000)
    p.add_argument("--total-bytes", type=int, default=50_000_000)
    p.add_argument("--changed", type=int, default=100)
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args()

    rng = random.Random(a.seed)
    sizes = sizes_for(rng, a.files, a.total_bytes)
    names = []
    for i in range(a.files):
        ext = rng.choice(EXTS)
        names.append(f"assets/d{i % 20:02d}/{ext}/file-{i:05d}.{ext}")
    changed = set(rng.sample(range(a.files), a.changed))

    v1, v2 = os.path.join(a.out, "v1"), os.path.join(a.out, "v2")
    for d in (v1, v2):
        shutil.rmtree(d, ignore_errors=True)
    changed_bytes = 0
    for i, (name, size) in enumerate(zip(names, sizes)):
        data = rng.randbytes(size)
        write(os.path.join(v1, name), data)
        if i in changed:
            data = rng.randbytes(size)
            changed_bytes += size
        write(os.path.join(v2, name), data)

    meta = {
        "seed": a.seed,
        "files": a.files,
        "totalBytes": a.total_bytes,
        "minFileBytes": min(sizes),
        "maxFileBytes": max(sizes),
        "medianFileBytes": sorted(sizes)[a.files // 2],
        "changedFiles": len(changed),
        "changedBytes": changed_bytes,
        "changedBytesShare": changed_bytes / a.total_bytes,
    }
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
