#!/usr/bin/env python3
"""Launch time and memory of the console, for `make bench` (bench/console.sh): the app is
started by WebKitWebDriver (as in the end-to-end tests) on a workspace made by
core/examples/console_reads.rs; timed from the session request until the overview shows every
app's name (WebDriver's own start-up is included, so this overstates the app alone), and
from the app process's own start (read from /proc) to the same moment; then
memory at rest: the summed RSS of the app and its WebKit processes after 5 s idle.
Runs RUNS launches and prints one JSON line."""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
import console  # noqa: E402


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def started_at(pid):
    """When process `pid` started, in CLOCK_BOOTTIME seconds (from /proc/PID/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--app", required=True)
    p.add_argument("--workspace", required=True)
    p.add_argument("--apps", type=int, default=20)
    p.add_argument("--runs", type=int, default=5)
    a = p.parse_args()
    out = Path("bench-out")
    env = dict(os.environ, AIRLOCK_CONSOLE_DATA=str(out / "console-data"), XDG_CONFIG_HOME=str(out / "console-config"))
    names = [f"app-{k:02}" for k in range(a.apps)]
    launches, rss, app_launches, phases = [], [], [], []
    for _ in range(a.runs):
        t0 = time.monotonic()
        s = console.Session(Path(a.app), ["--workspace", a.workspace], env, out, "bench")
        try:
            # Polled every 20 ms (the tests' wait polls every 250 ms).
            deadline = time.monotonic() + 60
            while not all(n in s.text() for n in names):
                if time.monotonic() > deadline:
                    raise AssertionError("the overview never showed every app")
                time.sleep(0.02)
            launches.append(time.monotonic() - t0)
            seen = time.clock_gettime(time.CLOCK_BOOTTIME)
            seen_epoch_ms = time.time() * 1000
            marks = s.js(
                "const n = performance.getEntriesByType('navigation')[0];"
                "const m = performance.getEntriesByName('airlock:overview-loaded')[0];"
                "return {origin: performance.timeOrigin, dcl: n ? n.domContentLoadedEventEnd : null,"
                " load: n ? n.loadEventEnd : null, overview: m ? m.startTime : null, now: performance.now()};"
            )
            group = console.alive_in_group(s.proc.pid)
            app = [pid for pid in group if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"airlock-console")]
            if app:
                # From the app's own process start (WebDriver's start-up excluded); the
                # overview is polled every 0.1 s or so, so this overstates by up to that.
                app_launches.append(seen - started_at(app[0]))
                # Where the time went, from the app's start: until the page began (Tauri,
                # the workspace opening in setup, WebKit's processes), to the page's
                # DOMContentLoaded (the UI bundle), to the first overview's arrival (IPC).
                start_epoch_ms = seen_epoch_ms - (seen - started_at(app[0])) * 1000
                page = marks["origin"] - start_epoch_ms
                phases.append({"before_page_ms": round(page),
                               "page_to_dom_ms": round(marks["dcl"]) if marks["dcl"] else None,
                               "dom_to_overview_ms": round(marks["overview"] - marks["dcl"]) if marks["overview"] and marks["dcl"] else None,
                               "overview_to_seen_ms": round(marks["now"] - marks["overview"]) if marks["overview"] else None})
            time.sleep(5)
            group = console.alive_in_group(s.proc.pid)
            mine = [pid for pid in group if "WebKitWebDriver" not in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")]
            rss.append(sum(rss_kib(pid) for pid in mine))
        finally:
            s.stop()
    launches.sort()
    rss.sort()
    app_launches.sort()
    print(json.dumps({"runs": a.runs, "launch_s": launches, "launch_median_s": launches[len(launches) // 2],
                      "app_launch_s": app_launches,
                      "app_launch_median_s": app_launches[len(app_launches) // 2] if app_launches else None,
                      "rss_kib": rss, "rss_median_mib": rss[len(rss) // 2] / 1024, "phases": phases}))


if __name__ == "__main__":
    main()
