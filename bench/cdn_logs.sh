#!/usr/bin/env bash
# CDN log ingestion (part of `make bench`): `kpi ingest` (core/examples/cdn_bench.rs,
# release build) on a gigabyte of gzipped CloudFront logs, against a plain `zcat | wc -l` of
# the same files; wall time and peak memory by GNU time, median of RUNS (default 3), warm
# page cache. The logs are generated once into bench-out/cdn (kept: ~1 GB) and reused.
# Writes bench-out/cdn.jsonl and bench-out/cdn.md.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
OUT=bench-out
RUNS=${CDN_RUNS:-3}
GZ_BYTES=${CDN_GZ_BYTES:-1000000000}
mkdir -p "$OUT"
$CARGO build --release -p airlock-core --example cdn_bench
target=$($CARGO metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bench="$target/release/examples/cdn_bench"
"$bench" prepare "$OUT/cdn" "$GZ_BYTES"
rm -f "$OUT/cdn.jsonl"
cat "$OUT"/cdn/logs/*.gz >/dev/null   # warm the page cache for both
for i in $(seq 1 "$RUNS"); do
  /usr/bin/time -f '%e %M' -o "$OUT/cdn-zcat.time" \
    bash -c "zcat $OUT/cdn/logs/*.gz | wc -l" >"$OUT/cdn-zcat.lines"
  /usr/bin/time -f '%e %M' -o "$OUT/cdn-ingest.time" \
    "$bench" ingest "$OUT/cdn" >"$OUT/cdn-ingest.json"
  python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
zs, zk = open(f"{out}/cdn-zcat.time").read().split()[-2:]
s, k = open(f"{out}/cdn-ingest.time").read().split()[-2:]
row = {"zcat_seconds": float(zs), "zcat_rss_kb": int(zk),
       "zcat_lines": int(open(f"{out}/cdn-zcat.lines").read()),
       "ingest_wall_seconds": float(s), "ingest_rss_kb": int(k),
       "ingest": json.load(open(f"{out}/cdn-ingest.json"))}
open(f"{out}/cdn.jsonl", "a").write(json.dumps(row) + "\n")
PY
done
python3 - "$OUT" "$GZ_BYTES" <<'PY'
import glob, json, os, statistics, sys
out, want = sys.argv[1], int(sys.argv[2])
rows = [json.loads(l) for l in open(f"{out}/cdn.jsonl")]
files = glob.glob(f"{out}/cdn/logs/*.gz")
gz = sum(os.path.getsize(f) for f in files)
med = lambda k: statistics.median(r[k] for r in rows)
ingest_s = statistics.median(r["ingest"]["seconds"] for r in rows)
i = rows[0]["ingest"]
raw_lines = rows[0]["zcat_lines"]
lines = [
    "",
    "## CDN log ingestion (bench/cdn_logs.sh)",
    "",
    f"{len(files)} CloudFront standard log files, {gz / 1e9:.2f} GB gzipped ({raw_lines:,} lines with the",
    "headers), written by core/examples/cdn_bench.rs: update checks, blob downloads of two 200-file",
    "releases (2 % failed), manifest requests, one malformed line in 100,000. Warm page cache; medians",
    f"of {len(rows)} runs; wall time and peak RSS by GNU time.",
    "",
    "| | wall time | throughput (gzipped) | peak RSS |",
    "|---|---|---|---|",
    f"| `zcat *.gz \\| wc -l` (one core) | {med('zcat_seconds'):.1f} s | {gz / 1e6 / med('zcat_seconds'):.0f} MB/s | {med('zcat_rss_kb') / 1024:.0f} MB |",
    f"| `kpi ingest` (decompress, parse, attribute, store; {os.cpu_count()} cores) | {ingest_s:.1f} s | {gz / 1e6 / ingest_s:.0f} MB/s | {med('ingest_rss_kb') / 1024:.0f} MB |",
    "",
    f"Ingest read {i['files']} files, {i['lines']:,} request lines: {i['counted']:,} counted, {i['unattributed']:,} unattributed,",
    f"{i['malformed']:,} malformed (each reported with its file and line). The ingest's wall time is the",
    f"operation alone ({ingest_s:.1f} s); the process's ({med('ingest_wall_seconds'):.1f} s) adds opening the workspace and",
    "reading its log.",
    "",
]
open(f"{out}/cdn.md", "w").write("\n".join(lines))
print("\n".join(lines))
PY
