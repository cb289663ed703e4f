#!/usr/bin/env bash
# Publishing to S3 (a moto server): Airlock against the shell pipeline OTA teams script
# today (bench/s3_pipeline.sh), on the bundles of bench/run.sh (2,000 files / 50 MB in
# bench-out/data/v1, and v2 with 5 % of the files changed). Both publish a first release
# (v1 as 1.0.0), then a second (v2 as 1.0.1), against the same moto server.
#  - Each side and repetition starts from a wiped moto (POST /moto-api/reset), a new bucket,
#    a new RSA_2048 KMS signing key and, for Airlock, a new workspace.
#  - Pass 0 is untimed: it warms the page cache and the tools, and records every request
#    moto serves (moto's recorder, see bench/s3_moto.py) to count them, and lists the bucket
#    after each step to get the objects and bytes that step wrote.
#  - Airlock then rolls Staging back to 1.0.0 (timed and counted the same way; the
#    pipeline has no rollback of its own to compare with).
#  - Passes 1..REPEATS are timed with recording off: wall time around /usr/bin/time -v,
#    which also gives the peak RSS (of the largest single process: for the pipeline that
#    is one of its `aws` processes).
# Writes bench-out/s3/runs.jsonl, then bench-out/s3.json and bench-out/s3.md
# (bench/s3_report.py). Run it directly: it runs itself inside tests/harness/with-moto.sh
# (which starts and stops the moto server) and starts nothing else.
# Usage: bench/s3.sh [--pipeline-only] [--repeats N]
#   AIRLOCK_BIN: the CLI to measure (default target/release/airlock).
set -euo pipefail
cd "$(dirname "$0")/.."
args=("$@")

pipeline_only=0
repeats=3
while [ $# -gt 0 ]; do
  case $1 in
    --pipeline-only) pipeline_only=1 ;;
    --repeats) repeats=${2:?--repeats needs a number}; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "s3.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

OUT=bench-out
FILES=2000
TOTAL_BYTES=50000000
CHANGED=100
SEED=42
APP=bench

bin=${AIRLOCK_BIN:-target/release/airlock}
if [ "$pipeline_only" -eq 0 ]; then
  if [ ! -x "$bin" ]; then
    echo "s3.sh: no Airlock binary at $bin. Build it (cargo build --release -p airlock), set" \
      "AIRLOCK_BIN, or run with --pipeline-only to measure the pipeline alone." >&2
    exit 2
  fi
  bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
fi
for tool in python3 sha256sum openssl base64; do
  command -v "$tool" >/dev/null || { echo "s3.sh: missing $tool" >&2; exit 2; }
done

if [ -z "${AIRLOCK_TEST_MOTO_ENDPOINT:-}" ]; then
  if [ ! -x tests/harness/with-moto.sh ]; then
    echo "s3.sh: tests/harness/with-moto.sh is missing; it starts the moto server" >&2
    exit 2
  fi
  # moto's request recorder (pass 0) writes here; by default it would write `moto_recording`
  # into moto's working folder, the repository root.
  export MOTO_RECORDER_FILEPATH="$PWD/bench-out/s3-moto-recording.jsonl"
  mkdir -p bench-out
  exec tests/harness/with-moto.sh bash "$0" "${args[@]}"
fi
if [ -z "${MOTO_RECORDER_FILEPATH:-}" ]; then
  echo "s3.sh: note: moto was started without MOTO_RECORDER_FILEPATH, so its request" \
    "recording goes to \`moto_recording\` in moto's working folder; run bench/s3.sh" \
    "directly (it starts tests/harness/with-moto.sh itself) to keep it in bench-out/." >&2
fi
: "${AIRLOCK_TEST_PYTHON:?with-moto.sh should set AIRLOCK_TEST_PYTHON}"
endpoint=$AIRLOCK_TEST_MOTO_ENDPOINT
py=$AIRLOCK_TEST_PYTHON
[ -x "$(dirname "$py")/aws" ] || { echo "s3.sh: no awscli next to $py" >&2; exit 2; }

log() { printf '\n== %s\n' "$*" >&2; }
now_ns() { date +%s%N; }
moto() { "$py" bench/s3_moto.py "$@"; }

log "data: $FILES files / $TOTAL_BYTES bytes (seed $SEED) in $OUT/data (kept if already there)"
mkdir -p "$OUT"
python3 bench/gen_data.py "$OUT/data" --files "$FILES" --total-bytes "$TOTAL_BYTES" \
  --changed "$CHANGED" --seed "$SEED" --reuse >/dev/null
data=$(cd "$OUT/data" && pwd)
root=$(cd "$OUT" && pwd)/s3
rm -rf "$root"
mkdir -p "$root"
find "$data/v1" "$data/v2" -type f -print0 | xargs -0 cat >/dev/null

if [ -x /usr/bin/time ]; then
  timer=(/usr/bin/time -v -o)
  timer_name="/usr/bin/time -v"
else
  timer=("$py" bench/s3_moto.py measure)
  timer_name="bench/s3_moto.py measure (getrusage; /usr/bin/time is not installed)"
fi

log "waiting up to 60 s for idle CPUs (busy < 20 % over 2 s)"
python3 bench/cpu_busy.py --wait 60 --below 20 >"$root/cpu-busy-start.txt"
cut -d' ' -f1-3 /proc/loadavg >"$root/loadavg-start.txt"

# A wiped moto with the bucket and signing key one side needs.
fresh() {
  moto reset
  moto setup "$1" "$2"
}

# Airlock's workspace for one repetition, configured for the S3 store and the KMS signer.
new_workspace() {
  local ws=$1
  rm -rf "$ws"
  mkdir -p "$ws"
  "$bin" --workspace "$ws" init --store s3://bench-airlock/ota --endpoint "$endpoint" \
    --path-style --signer kms:alias/airlock-bench >/dev/null
  cat >>"$ws/airlock.toml" <<EOF

[apps.$APP]
max-total-bytes = 1000000000
max-file-bytes = 100000000
max-files = 100000
EOF
}

# One release by one side; appends a JSON line to $root/runs.jsonl. In pass 0 it also
# records moto's requests and lists the bucket before and after.
step() {
  local side=$1 rep=$2 label=$3 bundle=$4 version=$5 bucket=$6 ws=${7:-}
  local stem="$root/$side-$rep-$label" cmd
  if [ "$side" = pipeline ]; then
    cmd=(bash bench/s3_pipeline.sh "$bundle" "$version")
  elif [ "$label" = rollback ]; then
    cmd=("$bin" --workspace "$ws" --json rollback "$APP" Staging)
  elif [ "$label" = promote ]; then
    cmd=("$bin" --workspace "$ws" --json promote "$APP" --from Staging --to Production \
      --version 1.0.0 --percent 5)
  else
    cmd=("$bin" --workspace "$ws" --json release "$APP" "$bundle" --version "$version")
  fi
  [ "$rep" -eq 0 ] && moto record-start
  local t0 t1
  t0=$(now_ns)
  AIRLOCK_ACTOR=${AIRLOCK_ACTOR:-bench} "${timer[@]}" "$stem.time" "${cmd[@]}" >"$stem.out"
  t1=$(now_ns)
  if [ "$rep" -eq 0 ]; then
    moto record-stop "$stem.requests.json"
    local since=()
    [ "$label" = second ] && since=(--since "$root/$side-$rep-first.snapshot.json")
    [ "$label" = rollback ] && since=(--since "$root/$side-$rep-second.snapshot.json")
    [ "$label" = promote ] && since=(--since "$root/$side-$rep-rollback.snapshot.json")
    moto snapshot "$bucket" "$stem.snapshot.json" "${since[@]}" >"$stem.written.json"
  fi
  python3 - "$side" "$rep" "$label" "$stem" "$t0" "$t1" "${cmd[*]}" >>"$root/runs.jsonl" <<'PY'
import json, os, re, sys
side, rep, label, stem, t0, t1, cmd = sys.argv[1:]
tv = open(stem + ".time").read()
def num(pattern, cast=float):
    m = re.search(pattern, tv)
    return cast(m.group(1)) if m else None
line = {
    "side": side, "rep": int(rep), "label": label, "counting": rep == "0", "command": cmd,
    "wallSeconds": (int(t1) - int(t0)) / 1e9,
    "userSeconds": num(r"User time \(seconds\): ([\d.]+)"),
    "systemSeconds": num(r"System time \(seconds\): ([\d.]+)"),
    "cpuPercent": num(r"Percent of CPU this job got: (\d+)%", int),
    "maxRssKiB": num(r"Maximum resident set size \(kbytes\): (\d+)", int),
}
if rep == "0":
    line["moto"] = json.load(open(stem + ".requests.json"))
    line["written"] = json.load(open(stem + ".written.json"))
if side == "airlock":
    out = json.load(open(stem + ".out"))
    line["airlock"] = {k: out.get(k) for k in
                       ("files", "bytes", "uploadedFiles", "uploadedBytes", "bundleHash", "seq")}
print(json.dumps(line))
extra = f", {line['moto']['requests']} requests" if rep == "0" else ""
print(f"  {side} pass {rep} {label}: {line['wallSeconds']:.2f} s{extra}", file=sys.stderr)
PY
}

sides=(pipeline)
[ "$pipeline_only" -eq 1 ] || sides+=(airlock)
: >"$root/runs.jsonl"
for rep in $(seq 0 "$repeats"); do
  if [ "$rep" -eq 0 ]; then
    log "pass 0 (untimed warm-up, counting requests and bytes)"
  else
    log "pass $rep of $repeats (timed)"
  fi
  for side in "${sides[@]}"; do
    if [ "$side" = pipeline ]; then
      fresh bench-pipeline alias/bench-pipeline
      step pipeline "$rep" first "$data/v1" 1.0.0 bench-pipeline
      step pipeline "$rep" second "$data/v2" 1.0.1 bench-pipeline
    else
      fresh bench-airlock alias/airlock-bench
      ws="$root/airlock-ws-$rep"
      new_workspace "$ws"
      step airlock "$rep" first "$data/v1" 1.0.0 bench-airlock "$ws"
      step airlock "$rep" second "$data/v2" 1.0.1 bench-airlock "$ws"
      # Back to 1.0.0: the command to a verified pointer (the goal is under half a second).
      step airlock "$rep" rollback "" "" bench-airlock "$ws"
      # A promotion into Production (same bucket) at 5 %, approved by someone else first
      # (untimed): the commit path with its checks, signatures and one pointer.
      AIRLOCK_ACTOR=bench-reviewer "$bin" --workspace "$ws" approve "$APP" 1.0.0 \
        --channel Production >/dev/null
      step airlock "$rep" promote "" "" bench-airlock "$ws"
    fi
  done
done
moto reset
if [ -n "${MOTO_RECORDER_FILEPATH:-}" ] && [ ! -s "$MOTO_RECORDER_FILEPATH" ]; then
  rm -f "$MOTO_RECORDER_FILEPATH"
fi

cut -d' ' -f1-3 /proc/loadavg >"$root/loadavg-end.txt"
python3 bench/cpu_busy.py >"$root/cpu-busy-end.txt"

log "writing $OUT/s3.json and $OUT/s3.md"
export BENCH_S3_TIMER="$timer_name" BENCH_S3_REPEATS="$repeats"
export BENCH_S3_CMD="bench/s3.sh${args[*]:+ ${args[*]}}"
export BENCH_S3_MOTO="$("$py" -c 'import moto; print(moto.__version__)')"
export BENCH_S3_AWSCLI="$("$(dirname "$py")/aws" --version 2>&1)"
python3 bench/s3_report.py "$OUT"
