#!/usr/bin/env bash
# `make bench`: measures Airlock on a 2,000-file / 50 MB bundle and writes
# docs/BENCHMARKS.md and bench-out/results.json.
#  1. Hashing: Airlock's own path (core/examples/hash_bundle.rs: bundle::read + hash_bundle)
#     against `find | xargs sha256sum` on the same files, warm cache, median of 5.
#  2. Publishing with the real CLI into a local store, inside tests/harness/with-keyring.sh:
#     a first release, then a second with 5 % of the files changed; wall time, uploaded
#     bytes and peak RSS (/usr/bin/time -v), median of 3 (fresh store each time).
#  3. Publishing to S3 on a moto server (bench/s3.sh, which starts and stops its own moto):
#     Airlock against the usual sha256sum + aws kms sign + aws s3 sync shell pipeline, the
#     same two releases; appended to docs/BENCHMARKS.md from bench-out/s3.md.
#  4. The console (bench/console.sh): launch to an interactive overview and memory at rest on
#     10,000 releases across 20 apps, a sync of 1,000 new entries, the rollout chart over
#     the whole log; appended from bench-out/console.md.
#  5. The canary gate (bench/gate.sh): its false and true stops on simulated fleets against
#     the seed's fixed threshold, and one analyze against a real Prometheus; appended from
#     bench-out/gate.md.
#  6. CDN log ingestion (bench/cdn_logs.sh): `kpi ingest` on 1 GB of gzipped CloudFront logs
#     against `zcat | wc -l` of the same files; appended from bench-out/cdn.md.
#  7. The KPI charts (bench/charts.sh): the five panels from 30 days of per-minute data;
#     appended from bench-out/charts.md.
# Generated data and raw measurements go to bench-out/ (git-ignored). Installs hyperfine
# and GNU time if missing. Stops nothing it did not start (the keyring harness stops its
# own daemon by PID).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO=${CARGO:-cargo}
OUT=bench-out
FILES=2000
TOTAL_BYTES=50000000
CHANGED=100
SEED=42
HASH_RUNS=5
PUBLISH_REPEATS=3

log() { printf '\n== %s\n' "$*" >&2; }

log "system packages"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
install_pkg() {
  dpkg -s "$1" >/dev/null 2>&1 && return 0
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "$1" ||
    { $sudo apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "$1"; }
}
install_pkg time
install_pkg hyperfine || echo "hyperfine could not be installed; timing with bench/timeit.py" >&2
for tool in python3 sha256sum dbus-run-session gnome-keyring-daemon; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run \`make setup\`" >&2; exit 2; }
done

log "building (release; waits if another cargo holds the target dir lock)"
$CARGO build --release -p airlock
$CARGO build --release -p airlock-core --example hash_bundle
target=$($CARGO metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
airlock="$target/release/airlock"
hasher="$target/release/examples/hash_bundle"

log "generating $FILES files / $TOTAL_BYTES bytes (seed $SEED) in $OUT/data (kept if already there)"
mkdir -p "$OUT"
rm -f "$OUT"/hash-*.json "$OUT"/hash-*.jsonl "$OUT/results.json"
python3 bench/gen_data.py "$OUT/data" --files "$FILES" --total-bytes "$TOTAL_BYTES" \
  --changed "$CHANGED" --seed "$SEED" --reuse >/dev/null
# Flush what was just written, so that its write-back does not land in the fsyncs timed below.
find "$OUT/data" -type f -exec sync {} +
dir="$OUT/data/v1"

# Other work on the machine (a build sharing the 2 cores, heavy disk writes) skews the
# figures: wait up to 60 s for the CPUs to go quiet, and record how busy they were.
log "waiting up to 60 s for idle CPUs (busy < 20 % over 2 s)"
python3 bench/cpu_busy.py --wait 60 --below 20 >"$OUT/cpu-busy-start.txt"
cut -d' ' -f1-3 /proc/loadavg >"$OUT/loadavg-start.txt"

log "hashing: Airlock (hash_bundle) vs sha256sum, warm cache, $HASH_RUNS runs each"
find "$dir" -type f -print0 | xargs -0 cat >/dev/null
airlock_cmd="$hasher $dir"
sha_cmd="find $dir -type f -print0 | xargs -0 sha256sum > /dev/null"
if command -v hyperfine >/dev/null; then
  timer="hyperfine"
  timer_cmd="hyperfine --style basic --warmup 1 --runs $HASH_RUNS --export-json $OUT/hash-timing.json -n airlock '$airlock_cmd' -n sha256sum '$sha_cmd'"
  hyperfine --style basic --warmup 1 --runs "$HASH_RUNS" --export-json "$OUT/hash-timing.json" \
    -n airlock "$airlock_cmd" -n sha256sum "$sha_cmd"
else
  timer="bench/timeit.py"
  timer_cmd="python3 bench/timeit.py $OUT/hash-timing.json 1 $HASH_RUNS airlock '$airlock_cmd' sha256sum '$sha_cmd'"
  python3 bench/timeit.py "$OUT/hash-timing.json" 1 "$HASH_RUNS" \
    airlock "$airlock_cmd" sha256sum "$sha_cmd"
fi
# The read / hash split as the example reports it (one JSON line per run).
for _ in $(seq 1 "$HASH_RUNS"); do
  "$hasher" "$dir" >>"$OUT/hash-split.jsonl"
done

log "publishing with the real CLI, $PUBLISH_REPEATS repetitions, inside the keyring harness"
publish_cmd="AIRLOCK_ACTOR=bench tests/harness/with-keyring.sh bash bench/publish.sh $airlock $OUT $PUBLISH_REPEATS"
AIRLOCK_ACTOR=bench tests/harness/with-keyring.sh bash bench/publish.sh "$airlock" "$OUT" "$PUBLISH_REPEATS"

log "publishing to S3 (moto): Airlock against the shell pipeline"
AIRLOCK_BIN="$airlock" bash bench/s3.sh
log "the console: launch, memory at rest, sync and chart on 10,000 releases (bench/console.sh)"
bash bench/console.sh
log "the canary gate: error rates on simulated fleets, one analyze against Prometheus (bench/gate.sh)"
bash bench/gate.sh
log "CDN log ingestion: 1 GB of gzipped CloudFront logs against zcat (bench/cdn_logs.sh)"
bash bench/cdn_logs.sh
log "the KPI charts: five panels from 30 days of per-minute data (bench/charts.sh)"
bash bench/charts.sh

cut -d' ' -f1-3 /proc/loadavg >"$OUT/loadavg-end.txt"
python3 bench/cpu_busy.py >"$OUT/cpu-busy-end.txt"

log "writing $OUT/results.json and docs/BENCHMARKS.md"
export BENCH_TIMER="$timer" BENCH_TIMER_CMD="$timer_cmd" BENCH_PUBLISH_CMD="$publish_cmd"
export BENCH_AIRLOCK_CMD="$airlock_cmd" BENCH_SHA_CMD="$sha_cmd" BENCH_HASH_RUNS="$HASH_RUNS"
export BENCH_PUBLISH_REPEATS="$PUBLISH_REPEATS" BENCH_CARGO="$CARGO"
python3 bench/report.py "$OUT" docs/BENCHMARKS.md
