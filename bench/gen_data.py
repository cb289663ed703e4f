#!/usr/bin/env python3
"""Generates the deterministic benchmark bundles for `make bench` (bench/run.sh).

OUT/v1: FILES files totalling exactly TOTAL bytes, sizes drawn from a log-normal spread,
        pseudo-random (incompressible, all distinct) content, in a JS-bundle-like tree.
OUT/v2: the same tree with CHANGED files given new content of the same size.
OUT/meta.json: what was generated, including the bytes in the changed files.

Everything comes from one random.Random(SEED) stream, so the same arguments give
byte-identical output on any machine (Python >= 3.9 for Random.randbytes).
With --reuse, an existing OUT generated with the same arguments (same meta.json, same file
count and total size in v1 and v2) is kept. Deleting and rewriting thousands of files just
before a measurement slows ext4's inode allocation for a few minutes afterwards (it skips
recently freed inodes), which skews the publishing figures.
Usage: gen_data.py OUT [--files 2000] [--total-bytes 50000000] [--changed 100] [--seed 42]
                   [--reuse]
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


def tree_size(d):
    count = total = 0
    for dirpath, _, names in os.walk(d):
        for n in names:
            count += 1
            total += os.lstat(os.path.join(dirpath, n)).st_size
    return count, total


def reusable(out, a):
    try:
        with open(os.path.join(out, "meta.json")) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    wanted = {"seed": a.seed, "files": a.files, "totalBytes": a.total_bytes,
              "changedFiles": a.changed}
    if any(meta.get(k) != v for k, v in wanted.items()):
        return None
    for d in ("v1", "v2"):
        if tree_size(os.path.join(out, d)) != (a.files, a.total_bytes):
            return None
    return meta


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--files", type=int, default=2000)
    p.add_argument("--total-bytes", type=int, default=50_000_000)
    p.add_argument("--changed", type=int, default=100)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--reuse", action="store_true")
    a = p.parse_args()
    if a.reuse:
        meta = reusable(a.out, a)
        if meta is not None:
            print(json.dumps(meta))
            return

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
