#!/usr/bin/env bash
# The KPI charts' benchmark (part of `make bench`): the five panels drawn from 30 days of
# per-minute numbers (charts::data::sample_month: 43,200 bins, two versions, the default
# ten-KPI gate), re-binning and the judge's replay included, release build, median of 21
# runs (core/examples/chart_month.rs). Target: under 100 ms for the five together.
# Writes bench-out/charts.json and bench-out/charts.md.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
OUT=bench-out
mkdir -p "$OUT"
$CARGO build --release -p airlock-core --example chart_month
target=$($CARGO metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
"$target/release/examples/chart_month" --runs 21 >"$OUT/charts.json"
python3 - "$OUT/charts.json" >"$OUT/charts.md" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
verdict = "within" if r["median_ms"] < 100 else "OVER"
print(f"""
## KPI charts

The five panels (adoption, download success, install time p95, crash-free sessions with
the judge's bands, the verdict over time) drawn from 30 days of per-minute numbers
({r["bins"]:,} bins per series, two versions, the default gate's ten KPIs), re-binning
and the judge's replay included; release build, {r["runs"]} runs
(`bash bench/charts.sh`, core/examples/chart_month.rs).

| | median | fastest | slowest |
|---|---|---|---|
| five panels together | {r["median_ms"]:.1f} ms | {r["min_ms"]:.1f} ms | {r["max_ms"]:.1f} ms |
| the judge's replay alone (crash-free and verdict panels; one run) | {r["replay_ms"]:.1f} ms | | |

Target: under 100 ms together — {verdict} the target. The SVGs weigh {r["svg_bytes"] / 1000:.0f} kB
together.
""")
PY
cat "$OUT/charts.md"
