#!/usr/bin/env bash
# The canary gate's benchmarks (part of `make bench`):
#  1. its error rates on whole rollouts (core/examples/gate_bench.rs over
#     core/src/kpi/rollouts.rs, release build, two threads): 5 -> 20 -> 50 -> 100 % with the
#     default ten KPIs, followed past each window as `watch` does up to 24 h, at 500, 2,000,
#     10,000 and 50,000 candidate sessions an hour; healthy releases at 1.0x and exactly at
#     the boundary (GATE_ROLLOUTS, default 600, rollouts each), 1.3x to 10x worse (a third as
#     many), and adversarial fleets (half as many); beside the gate on the same numbers the
#     seed's fixed check, a Kayenta-style Mann-Whitney judge, a Capgo-style Wilson bound and a
#     fixed-horizon test at the end of the first window. About 20 minutes on 2 cores.
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
"$bench" rollouts "${GATE_ROLLOUTS:-600}" >"$OUT/gate.jsonl"

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

python3 bench/gate_report.py
