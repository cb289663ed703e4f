#!/usr/bin/env python3
"""Prints how busy all CPUs were (percent, from /proc/stat) over a 2-second window.
With --wait S --below P: samples until a window is below P % or S seconds have passed,
and prints the last sample. Used by bench/run.sh to note (and avoid) a busy machine.
"""

import argparse
import time


def sample():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields), idle


def busy(window=2.0):
    t0, i0 = sample()
    time.sleep(window)
    t1, i1 = sample()
    return 100.0 * (1 - (i1 - i0) / max(1, t1 - t0))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--wait", type=float, default=0)
    p.add_argument("--below", type=float, default=20)
    a = p.parse_args()
    deadline = time.monotonic() + a.wait
    b = busy()
    while b >= a.below and time.monotonic() < deadline:
        b = busy()
    print(f"{b:.0f}")


if __name__ == "__main__":
    main()
