#!/usr/bin/env python3
"""`make run` without a display: opens the console on the demo in a real window (Xvfb),
and saves screenshots of the overview and of a release being rolled out."""

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from console import Session  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--app", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    out = Path(a.out)
    tmp = Path(tempfile.mkdtemp(prefix="airlock-run-"))
    import os
    env = dict(os.environ, AIRLOCK_CONSOLE_DATA=str(tmp / "data"), XDG_CONFIG_HOME=str(tmp / "config"))
    s = Session(Path(a.app), ["--demo"], env, out, "run")
    try:
        s.wait_text("checkout", 90)
        s.screenshot(out / "overview.png")
        s.go("#/release/checkout/1.2.0")
        s.wait_text("Rollout in Production")
        s.screenshot(out / "release.png")
    finally:
        s.stop()
    rel = out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out
    print(f"The console ran under Xvfb on the demo workspace; screenshots: {rel}/overview.png, {rel}/release.png")


if __name__ == "__main__":
    main()
