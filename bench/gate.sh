#!/usr/bin/env bash
# The canary gate's benchmarks (part of `make bench`):
#  1. its error rates on simulated fleets (core/examples/gate_bench.rs, release build): 200
#     healthy and 200 bad windows per cohort size (500 to 50,000 candidate sessions an hour),
#     looking every 5 minutes, side by side with the seed's fixed check (crash rate > 0.5 %
#     over the last hour, every 15 minutes) on the same numbers;
#  2. one `analyze` (all ten KPIs) against a real Prometheus serving a 4-hour history that
#     promtool backfilled (Debian's prometheus on 127.0.0.1, stopped by PID).
# Writes bench-out/gate.jsonl, bench-out/gate-analyze.json and bench-out/gate.md.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
OUT=bench-out
mkdir -p "$OUT"
$CARGO build --release -p airlock-core --example gate_bench
target=$($CARGO metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bench="$target/release/examples/gate_bench"
"$bench" fleets "${GATE_WINDOWS:-200}" >"$OUT/gate.jsonl"

tmp=$(mktemp -d /tmp/airlock-gate-bench.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
"$bench" history "$tmp/history.om"
promtool tsdb create-blocks-from openmetrics "$tmp/history.om" "$tmp/data" >/dev/null
printf 'global:\n  scrape_interval: 1h\n' >"$tmp/prometheus.yml"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
  --storage.tsdb.retention.time=100y --web.listen-address="127.0.0.1:$port" 2>"$tmp/log" &
pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null && break
  sleep 0.1
done
"$bench" analyze "http://127.0.0.1:$port" 20 >"$OUT/gate-analyze.json"

python3 - <<'PY'
import json
rows = [json.loads(l) for l in open("bench-out/gate.jsonl")]
a = json.load(open("bench-out/gate-analyze.json"))
def pct(x): return f"{100 * x:.1f} %"
def hours(h):
    if h is None: return "—"
    m = round(h * 60)
    return f"{m} min" if m < 60 else f"{m // 60} h {m % 60:02d} min"
lines = [
    "",
    "## The canary gate (bench/gate.sh)",
    "",
    f"Simulated fleets (core/src/kpi/synthetic.rs): a 5 % candidate against the rest of the channel,",
    f"{rows[0]['windows']} windows per row, judged by the real judge (`judge::decide`, crash-free sessions,",
    "default policy) at every 5-minute look; a window counts as stopped when any look fails or warns.",
    "The fixed check is the seed's: candidate crash rate > 0.5 % over the last hour, every 15 minutes,",
    "on the same numbers. \"Passed\" is a window whose last look passes (a pass is acted on when the",
    "window is over), with the median time of its first passing look.",
    "",
    "| scenario | window | candidate sessions / h | gate: stopped | median time to stop | gate: passed | median first pass | fixed check: stopped | its median time to stop |",
    "|---|---|---|---|---|---|---|---|---|",
]
for r in rows:
    lines.append(f"| {r['scenario']} | {r['window_hours']} h | {int(r['candidate_sessions_per_hour']):,} | {pct(r['gate_stopped'])} | "
                 f"{hours(r['gate_median_hours_to_stop'])} | {pct(r['gate_passed'])} | {hours(r['gate_median_hours_to_pass'])} | "
                 f"{pct(r['fixed_stopped'])} | {hours(r['fixed_median_hours_to_stop'])} |")
lines += [
    "",
    f"One `analyze` against a real Prometheus (Debian's, 127.0.0.1, a 4-hour history backfilled by promtool;",
    f"{a['kpis']} KPIs in force, {a['queries']} PromQL queries): median {a['median_seconds'] * 1000:.0f} ms over {a['runs']} runs (verdict {a['verdict']}).",
    "",
]
open("bench-out/gate.md", "w").write("\n".join(lines))
print("\n".join(lines))
PY
