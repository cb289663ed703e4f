#!/usr/bin/env python3
"""Turns the raw measurements of bench/run.sh (in OUT) into OUT/results.json and the
Markdown report (docs/BENCHMARKS.md). The interpretation is computed from the numbers; the
hand-written observations in bench/NOTES.md are appended verbatim.
Usage: report.py OUT REPORT.md (bench/run.sh sets the BENCH_* environment variables).
"""

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

MB = 1e6
MiB = 1024 * 1024


def sh(cmd):
    try:
        out = subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout
    except OSError:
        return ""
    return out.rstrip().lstrip("\n")  # keep leading spaces: `free -h` aligns its header


def read_text(out, name):
    try:
        return open(os.path.join(out, name)).read().strip()
    except OSError:
        return ""


def machine(out):
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    # Changes to the measured code; the benchmark's own files do not count.
    dirty = sh("git status --porcelain --untracked-files=no -- . ':!bench' "
               "':!docs/BENCHMARKS.md' | wc -l")
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": int(sh("nproc") or 0),
        "cpuModel": model,
        "free": sh("free -h"),
        "kernel": platform.release(),
        "os": sh(". /etc/os-release && echo \"$PRETTY_NAME\""),
        "filesystem": sh("df -T bench-out | tail -1 | awk '{print $2}'"),
        "rustc": sh("rustc -V"),
        "sha256sum": sh("sha256sum --version | head -1"),
        "hyperfine": sh("hyperfine --version"),
        "python": platform.python_version(),
        "gitCommit": sh("git rev-parse --short HEAD"),
        "gitModifiedTrackedFiles": int(dirty or 0),
        "loadavgStart": read_text(out, "loadavg-start.txt"),
        "loadavgEnd": read_text(out, "loadavg-end.txt"),
        "cpuBusyPercentStart": float(read_text(out, "cpu-busy-start.txt") or "nan"),
        "cpuBusyPercentEnd": float(read_text(out, "cpu-busy-end.txt") or "nan"),
    }


def lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def med(values):
    return statistics.median(values)



def repo_relative(text):
    """The report names paths relative to the repository, never this machine's: the
    repository root is dropped and the cargo target folder written as `target`."""
    root = os.getcwd().rstrip("/") + "/"
    target = os.environ.get("CARGO_TARGET_DIR", "").rstrip("/")
    if target:
        text = text.replace(target + "/", "target/")
    return text.replace(root, "")


def main():
    out, report = sys.argv[1], sys.argv[2]
    env = os.environ.get
    meta = json.load(open(os.path.join(out, "data", "meta.json")))
    total = meta["totalBytes"]

    timing = json.load(open(os.path.join(out, "hash-timing.json")))["results"]
    by_name = {r["command"]: r for r in timing}
    a_times, s_times = by_name["airlock"]["times"], by_name["sha256sum"]["times"]
    split = lines(os.path.join(out, "hash-split.jsonl"))
    hashing = {
        "runs": len(a_times),
        "timer": env("BENCH_TIMER", ""),
        "airlockWallSeconds": {"median": med(a_times), "min": min(a_times), "max": max(a_times),
                               "all": a_times},
        "sha256sumWallSeconds": {"median": med(s_times), "min": min(s_times),
                                 "max": max(s_times), "all": s_times},
        "airlockMBps": total / MB / med(a_times),
        "sha256sumMBps": total / MB / med(s_times),
        "airlockOverSha256sum": med(a_times) / med(s_times),
        "airlockReadSeconds": med([r["read_s"] for r in split]),
        "airlockHashSeconds": med([r["hash_s"] for r in split]),
        "airlockReadMBps": med([r["read_mb_s"] for r in split]),
        "airlockHashMBps": med([r["hash_mb_s"] for r in split]),
        "bundleHash": split[0]["bundle_hash"],
        "split": split,
    }

    runs = lines(os.path.join(out, "publish", "runs.jsonl"))
    publish = {"repeats": int(env("BENCH_PUBLISH_REPEATS", "0")), "runs": runs}
    for label in ("first", "second"):
        rs = [r for r in runs if r["label"] == label]
        publish[label] = {
            "command": rs[0]["command"],
            "wallSeconds": {"median": med([r["wallSeconds"] for r in rs]),
                            "min": min(r["wallSeconds"] for r in rs),
                            "max": max(r["wallSeconds"] for r in rs)},
            "userSeconds": med([r["userSeconds"] for r in rs]),
            "systemSeconds": med([r["systemSeconds"] for r in rs]),
            "maxRssKiB": med([r["maxRssKiB"] for r in rs]),
            "files": rs[0]["files"],
            "bytes": rs[0]["bytes"],
            "uploadedFiles": med([r["uploadedFiles"] for r in rs]),
            "uploadedBytes": med([r["uploadedBytes"] for r in rs]),
            "uploadedBytesShare": med([r["uploadedBytes"] for r in rs]) / rs[0]["bytes"],
        }
    publish["blobFilesAfterBoth"] = sorted({r["blobFiles"] for r in runs if r["label"] == "store"})

    commands = {
        "build": [f"{env('BENCH_CARGO', 'cargo')} build --release -p airlock",
                  f"{env('BENCH_CARGO', 'cargo')} build --release -p airlock-core --example hash_bundle"],
        "generate": f"python3 bench/gen_data.py {out}/data --files {meta['files']} "
                    f"--total-bytes {total} --changed {meta['changedFiles']} --seed {meta['seed']} --reuse",
        "hashTiming": env("BENCH_TIMER_CMD", ""),
        "hashAirlock": env("BENCH_AIRLOCK_CMD", ""),
        "hashAirlockViaCargo": f"cargo run --release -p airlock-core --example hash_bundle -- {out}/data/v1",
        "hashSha256sum": env("BENCH_SHA_CMD", ""),
        "publish": env("BENCH_PUBLISH_CMD", ""),
        "publishFirst": publish["first"]["command"],
        "publishSecond": publish["second"]["command"],
    }
    results = {"machine": machine(out), "data": meta, "hashing": hashing, "publishing": publish,
               "commands": commands}
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)

    notes_path = os.path.join("bench", "NOTES.md")
    notes = open(notes_path).read().strip() if os.path.exists(notes_path) else ""
    text = render(results, notes)
    s3_path = os.path.join(out, "s3.md")
    if os.path.exists(s3_path):
        # bench/s3.sh's report, as a section of this one (its headings one level down).
        s3_lines, fenced = [], False
        for line in open(s3_path).read().strip().splitlines():
            fenced ^= line.startswith("```")
            s3_lines.append("#" + line if line.startswith("#") and not fenced else line)
        text = text.rstrip() + "\n\n" + "\n".join(s3_lines) + "\n"
    console_path = os.path.join(out, "console.md")
    if os.path.exists(console_path):
        # bench/console.sh's report (launch, memory, sync, chart), as a section of this one.
        text = text.rstrip() + "\n" + open(console_path).read()
    gate_path = os.path.join(out, "gate.md")
    if os.path.exists(gate_path):
        # bench/gate.sh's report (the gate's error rates, one analyze), as a section too.
        text = text.rstrip() + "\n" + open(gate_path).read()
    charts_path = os.path.join(out, "charts.md")
    if os.path.exists(charts_path):
        # bench/charts.sh's report (the five KPI panels from 30 days of per-minute data).
        text = text.rstrip() + "\n" + open(charts_path).read()
    cdn_path = os.path.join(out, "cdn.md")
    if os.path.exists(cdn_path):
        # bench/cdn_logs.sh's report (kpi ingest against zcat), as a section too.
        text = text.rstrip() + "\n" + open(cdn_path).read()
    with open(report, "w") as f:
        f.write(repo_relative(text))
    print(f"wrote {report} and {os.path.join(out, 'results.json')}", file=sys.stderr)


def render(r, notes):
    m, d, h, p, c = r["machine"], r["data"], r["hashing"], r["publishing"], r["commands"]
    first, second = p["first"], p["second"]
    ratio = h["airlockOverSha256sum"]
    if ratio <= 1:
        verdict = (f"{ratio * 100:.0f} % of sha256sum's time ({1 / ratio:.2f}× as fast)")
    else:
        verdict = f"{ratio:.2f}× sha256sum's time ({(ratio - 1) * 100:.0f} % slower)"
    bundle_mib = first["bytes"] / MiB
    o = []
    w = o.append
    w("# Benchmarks\n")
    w("Written by `make bench` (`bench/run.sh`; raw figures in `bench-out/results.json`). "
      "Re-run it rather than editing the figures by hand; hand-written observations live in "
      "`bench/NOTES.md` and are copied in at the end.\n")
    w(f"Measured {m['date']} on commit `{m['gitCommit']}`"
      + (f" with {m['gitModifiedTrackedFiles']} uncommitted change(s) to tracked source files"
         if m["gitModifiedTrackedFiles"] else "") + ".\n")
    w("## Machine\n")
    w(f"- `nproc`: {m['nproc']}")
    w(f"- CPU (`model name` in /proc/cpuinfo): {m['cpuModel']}")
    w(f"- OS: {m['os']}, kernel {m['kernel']}; bench-out/ on {m['filesystem']}")
    w(f"- {m['rustc']}; {m['sha256sum']}; {m['hyperfine'] or 'hyperfine not installed'}; "
      f"Python {m['python']}")
    busy = max(m["cpuBusyPercentStart"], m["cpuBusyPercentEnd"])
    w(f"- CPUs busy just before measuring: {m['cpuBusyPercentStart']:.0f} %, just after: "
      f"{m['cpuBusyPercentEnd']:.0f} % (all cores, 2-s window); load average then "
      f"{m['loadavgStart']} / {m['loadavgEnd']}"
      + (" — **other work was running: treat the times as upper bounds**"
         if not busy < 20 else ""))
    w("- `free -h`:\n")
    w("```\n" + m["free"] + "\n```\n")
    w("## Data\n")
    w(f"`{c['generate']}` writes {d['files']:,} files totalling {d['totalBytes']:,} bytes "
      f"(sizes log-normal, {d['minFileBytes']:,} to {d['maxFileBytes']:,} bytes, median "
      f"{d['medianFileBytes']:,}; pseudo-random content from `random.Random({d['seed']})`, so "
      f"every file is distinct and incompressible) into `bench-out/data/v1`, and the same tree "
      f"with {d['changedFiles']} files ({d['changedFiles'] / d['files'] * 100:.0f} % of files, "
      f"{d['changedBytes']:,} bytes = {d['changedBytesShare'] * 100:.2f} % of bytes) given new "
      f"content into `bench-out/data/v2`. MB below means 10^6 bytes.\n")
    w("## 1. Hashing: Airlock's code path vs sha256sum\n")
    w(f"Warm page cache, {h['runs']} timed runs each after one warm-up, median (min–max). "
      f"Timed with {h['timer']}. Both are single-threaded and include reading the files.\n")
    w("| | wall time, s | throughput |")
    w("|---|---|---|")
    aw, sw = h["airlockWallSeconds"], h["sha256sumWallSeconds"]
    w(f"| Airlock `hash_bundle` (process: walk + read into memory + gates + SHA-256 + manifest) "
      f"| {aw['median']:.3f} ({aw['min']:.3f}–{aw['max']:.3f}) | {h['airlockMBps']:.0f} MB/s |")
    w(f"| `find … \\| xargs -0 sha256sum` | {sw['median']:.3f} ({sw['min']:.3f}–{sw['max']:.3f}) "
      f"| {h['sha256sumMBps']:.0f} MB/s |")
    w("")
    w(f"Inside the example (median of {len(h['split'])} runs, timed with `std::time::Instant`): "
      f"`bundle::read` {h['airlockReadSeconds']:.3f} s ({h['airlockReadMBps']:.0f} MB/s), "
      f"`hash_bundle` {h['airlockHashSeconds']:.3f} s ({h['airlockHashMBps']:.0f} MB/s).\n")
    w(f"**Reading:** Airlock's read-and-hash takes {verdict}. Hashing alone runs at "
      f"{h['airlockHashMBps']:.0f} MB/s against sha256sum's {h['sha256sumMBps']:.0f} MB/s "
      f"end to end; of Airlock's in-process time, "
      f"{h['airlockReadSeconds'] / (h['airlockReadSeconds'] + h['airlockHashSeconds']) * 100:.0f} % "
      f"is reading the folder into memory and "
      f"{h['airlockHashSeconds'] / (h['airlockReadSeconds'] + h['airlockHashSeconds']) * 100:.0f} % "
      f"is hashing.\n")
    w("## 2. Publishing with the real CLI to a local store\n")
    w(f"`airlock release` into a `file://` store on the same disk, inside "
      f"`tests/harness/with-keyring.sh` (real gnome-keyring; the signing key is created by an "
      f"untimed warm-up release first). {p['repeats']} repetitions, each with a fresh "
      f"workspace and store: the first release (1.0.0, `v1`), then the second (1.0.1, `v2`). "
      f"Median (min–max); wall time measured around `/usr/bin/time -v`, which gives the peak "
      f"RSS; uploaded figures are `uploadedFiles` / `uploadedBytes` from `--json`.\n")
    w("| release | wall time, s | user + sys CPU, s | uploaded files | uploaded bytes | "
      "share of bundle bytes | peak RSS |")
    w("|---|---|---|---|---|---|---|")
    for name, x in (("first (1.0.0, all new)", first),
                    (f"second (1.0.1, {d['changedFiles']} files changed)", second)):
        ws = x["wallSeconds"]
        w(f"| {name} | {ws['median']:.2f} ({ws['min']:.2f}–{ws['max']:.2f}) | "
          f"{x['userSeconds']:.2f} + {x['systemSeconds']:.2f} | {x['uploadedFiles']:,.0f} of "
          f"{x['files']:,} | {x['uploadedBytes']:,.0f} of {x['bytes']:,} | "
          f"{x['uploadedBytesShare'] * 100:.2f} % | {x['maxRssKiB'] / 1024:.0f} MiB |")
    w("")
    if first["systemSeconds"] > 1.0:
        w(f"**Warning:** the first release spent {first['systemSeconds']:.1f} s in the kernel "
          f"(normally about 0.5 s). ext4 was probably still slow from files deleted in the "
          f"last few minutes (see Observations); wait and re-run for representative times.\n")
    exact = (second["uploadedFiles"] == d["changedFiles"]
             and second["uploadedBytes"] == d["changedBytes"])
    match = ("exactly the changed files" if exact else
             f"against {d['changedFiles']} changed files holding")
    w(f"**Reading:** the second release uploaded {second['uploadedFiles']:,.0f} files and "
      f"{second['uploadedBytesShare'] * 100:.2f} % of the bytes — {match} "
      f"({d['changedBytesShare'] * 100:.2f} % of the bytes), so that update cost "
      f"{second['uploadedBytes'] / first['uploadedBytes'] * 100:.1f} % of the first release's "
      f"upload in transfer, and took {second['wallSeconds']['median'] / first['wallSeconds']['median'] * 100:.0f} % "
      f"of the first release's wall time. Peak RSS is "
      f"{first['maxRssKiB'] / 1024 / bundle_mib:.1f}× the bundle size ({bundle_mib:.0f} MiB) "
      f"on the first release and {second['maxRssKiB'] / 1024 / bundle_mib:.1f}× on the second, "
      f"since the whole bundle is held in memory while it is hashed and uploaded. After both "
      f"releases each store holds {', '.join(str(b) for b in p['blobFilesAfterBoth'])} blob "
      f"files ({d['files']} + {d['changedFiles']} expected).\n")
    w("## Commands\n")
    w("From the repository root (`make bench` runs all of them):\n")
    w("```sh")
    w("# build")
    for b in c["build"]:
        w(b)
    w("# data")
    w(c["generate"])
    w("# 1. hashing (the example alone: " + c["hashAirlockViaCargo"] + ")")
    w(c["hashTiming"])
    w(f"for i in $(seq {h['runs']}); do {c['hashAirlock']}; done   # read / hash split")
    w("# 2. publishing: bench/publish.sh makes fresh workspaces with")
    w("#   airlock --workspace WS init --store file://WS/store  (+ [apps.bench] limits), then")
    w("#   " + c["publishFirst"])
    w("#   " + c["publishSecond"])
    w(c["publish"])
    w("```\n")
    if notes:
        w("## Observations\n")
        w(notes + "\n")
    return "\n".join(o)


if __name__ == "__main__":
    main()
