#!/usr/bin/env python3
"""Fallback for hyperfine in bench/run.sh: runs each shell command WARMUP times untimed,
then RUNS times timed, and writes a hyperfine-shaped JSON file ({"results": [{"command",
"times", "mean", "median", "min", "max"}]}).
Usage: timeit.py OUT.json WARMUP RUNS NAME COMMAND [NAME COMMAND ...]
"""

import json
import statistics
import subprocess
import sys
import time


def main():
    out, warmup, runs, rest = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
    assert rest and len(rest) % 2 == 0, "expected NAME COMMAND pairs"
    results = []
    for name, cmd in zip(rest[::2], rest[1::2]):
        for _ in range(warmup):
            subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - t0)
        results.append({
            "command": name,
            "times": times,
            "mean": statistics.mean(times),
            "median": statistics.median(times),
            "min": min(times),
            "max": max(times),
        })
        print(f"{name}: median {statistics.median(times):.3f} s over {runs} runs", file=sys.stderr)
    with open(out, "w") as f:
        json.dump({"results": results}, f, indent=2)


if __name__ == "__main__":
    main()
