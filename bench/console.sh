#!/usr/bin/env bash
# The console's benchmarks (part of `make bench`): core/examples/console_reads.rs (release
# build) makes a 10,000-release, 20-app workspace on a local store and times the overview
# read, a first sync, a sync of 1,000 new entries and the rollout chart over the whole log;
# then bench/console_launch.py times launches of the console on it under Xvfb and measures
# its memory at rest. Writes bench-out/console.json and bench-out/console.md.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${AIRLOCK_IN_KEYRING_SESSION:-}" ]; then
  exec tests/harness/with-keyring.sh "$0" "$@"
fi
CARGO=${CARGO:-cargo}
$CARGO build --release -p airlock-core --example console_reads
$CARGO build -p airlock-console
target=$($CARGO metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
rm -rf bench-out/console && mkdir -p bench-out
"$target/release/examples/console_reads" bench-out/console 10000 20 > bench-out/console-reads.json
for n in $(seq 90 140); do [ -e "/tmp/.X11-unix/X$n" ] || { display=":$n"; break; }; done
Xvfb "$display" -screen 0 1440x900x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true' EXIT
sleep 1
DISPLAY="$display" python3 bench/console_launch.py --app "$target/debug/airlock-console" \
  --workspace bench-out/console/desktop-a > bench-out/console-launch.json
python3 - <<'PY'
import json
r = json.load(open("bench-out/console-reads.json"))
l = json.load(open("bench-out/console-launch.json"))
def med(key):
    xs = sorted(p[key] for p in l.get("phases", []) if p.get(key) is not None)
    return xs[len(xs) // 2] if xs else float("nan")
md = f"""
## The console (bench/console.sh)

A workspace of {r['releases']:,} releases across {r['apps']} apps on a local store, made through the
engine ({r['make_s']:.0f} s), read by core (release build) and by the console (debug build, started
by WebKitWebDriver under Xvfb, {l['runs']} launches).

| what | figure | target |
|---|---|---|
| launch to the overview showing every app (median; WebDriver start-up included) | {l['launch_median_s']:.2f} s | |
| the same from the app process's own start (median) | {l['app_launch_median_s']:.2f} s | under 1 s |
| of which: process start to the page starting (Tauri, the workspace opened, WebKit's processes) | {med('before_page_ms')} ms | |
| of which: the page to DOMContentLoaded (the UI bundle) | {med('page_to_dom_ms')} ms | |
| of which: DOMContentLoaded to the first overview's data in the page (IPC) | {med('dom_to_overview_ms')} ms | |
| of which: data to every name seen by the WebDriver poller (render, plus the poll's own round trips) | {med('overview_to_seen_ms')} ms | |
| memory at rest, app + its WebKit processes (median of summed RSS) | {l['rss_median_mib']:.0f} MiB | |
| overview read from the registry | {r['overview_read_s'] * 1000:.1f} ms | |
| first sync of a second desktop ({r['first_sync_entries']:,} entries) | {r['first_sync_s']:.2f} s | |
| sync bringing {r['sync_entries']:,} new entries | {r['sync_s']:.2f} s | under 1 s |
| rollout chart over {r['chart_entries']:,} entries ({r['chart_points']:,} points, {r['chart_svg_bytes']:,} bytes of SVG) | {r['chart_s'] * 1000:.0f} ms | |

Raw: bench-out/console-reads.json, bench-out/console-launch.json.
"""
open("bench-out/console.md", "w").write(md)
print(md)
PY
