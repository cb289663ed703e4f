#!/usr/bin/env bash
# Publishing benchmark, run by bench/run.sh inside tests/harness/with-keyring.sh (the CLI
# signs with a key in a real Secret Service keychain). For each repetition: a fresh
# workspace and store, `airlock release` of OUT/data/v1 as 1.0.0, then of OUT/data/v2 (the
# same tree with 5 % of the files changed) as 1.0.1, each under /usr/bin/time -v.
# Writes OUT/publish/runs.jsonl. The stores are deleted only at the end, after every
# measurement: thousands of freshly freed inodes make ext4's inode allocation (and so every
# blob write) much slower for a few minutes. Usage: bench/publish.sh AIRLOCK_BIN OUT REPEATS
set -euo pipefail

bin=$1 out=$2 repeats=$3
: "${AIRLOCK_ACTOR:?set AIRLOCK_ACTOR (bench/run.sh sets it to bench)}"
if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
  echo "publish.sh: no D-Bus session; run it through tests/harness/with-keyring.sh" >&2
  exit 2
fi
root=$(cd "$out" && pwd)/publish
rm -rf "$root"
mkdir -p "$root"

now_ns() { date +%s%N; }

# A fresh workspace at $1 with its store at $1/store and limits raised for app `bench`.
new_workspace() {
  local ws=$1
  mkdir -p "$ws"
  "$bin" --workspace "$ws" init --store "file://$ws/store" >/dev/null
  cat >>"$ws/airlock.toml" <<'EOF'

[apps.bench]
max-total-bytes = 1000000000
max-file-bytes = 100000000
max-files = 100000
EOF
}

# Warm-up outside the measurements: creates the signing key in this session's keychain (a
# one-time cost on a new machine) and brings the binary into the page cache.
warm="$root/warmup"
new_workspace "$warm"
mkdir -p "$warm/bundle"
printf 'warm-up\n' >"$warm/bundle/index.html"
"$bin" --workspace "$warm" --json release bench "$warm/bundle" --version 0.0.1 >/dev/null

# Warm the page cache for both bundles.
find "$out/data/v1" "$out/data/v2" -type f -print0 | xargs -0 cat >/dev/null

# Runs one timed release; appends a JSON line to $root/runs.jsonl.
release() {
  local rep=$1 label=$2 bundle=$3 version=$4 ws=$5
  local stem="$ws/$label"
  local cmd=("$bin" --workspace "$ws" --json release bench "$bundle" --version "$version")
  local t0 t1
  t0=$(now_ns)
  /usr/bin/time -v -o "$stem.time" "${cmd[@]}" >"$stem.json"
  t1=$(now_ns)
  python3 - "$rep" "$label" "$stem" "$t0" "$t1" "${cmd[*]}" >>"$root/runs.jsonl" <<'PY'
import json, re, sys
rep, label, stem, t0, t1, cmd = sys.argv[1:]
out = json.load(open(stem + ".json"))
tv = open(stem + ".time").read()
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", tv).group(1))
cpu = re.search(r"Percent of CPU this job got: (\d+)%", tv)
user = float(re.search(r"User time \(seconds\): ([\d.]+)", tv).group(1))
system = float(re.search(r"System time \(seconds\): ([\d.]+)", tv).group(1))
print(json.dumps({
    "rep": int(rep), "label": label, "command": "/usr/bin/time -v " + cmd,
    "wallSeconds": (int(t1) - int(t0)) / 1e9, "userSeconds": user, "systemSeconds": system,
    "cpuPercent": int(cpu.group(1)) if cpu else None, "maxRssKiB": rss,
    "files": out["files"], "bytes": out["bytes"],
    "uploadedFiles": out["uploadedFiles"], "uploadedBytes": out["uploadedBytes"],
    "bundleHash": out["bundleHash"], "seq": out["seq"],
}))
PY
}

: >"$root/runs.jsonl"
for rep in $(seq 1 "$repeats"); do
  ws="$root/rep$rep"
  new_workspace "$ws"
  release "$rep" first "$out/data/v1" 1.0.0 "$ws"
  release "$rep" second "$out/data/v2" 1.0.1 "$ws"
  blobs=$(find "$ws/store/blobs" -type f ! -name '.tmp-*' | wc -l)
  echo "{\"rep\": $rep, \"label\": \"store\", \"blobFiles\": $blobs}" >>"$root/runs.jsonl"
  echo "  publish rep $rep done ($blobs blob files in the store)" >&2
done

# The stores (about 150 MB) are no longer needed; the figures and logs stay.
rm -rf "$warm/store" "$root"/rep*/store
