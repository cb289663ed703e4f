#!/usr/bin/env python3
"""Turns the raw measurements of bench/s3.sh (OUT/s3/runs.jsonl) into OUT/s3.json and the
Markdown report OUT/s3.md, in the manner of bench/report.py: every sentence with a figure
is computed from the numbers.
Usage: s3_report.py OUT (bench/s3.sh sets the BENCH_S3_* environment variables).
"""

import json
import os
import sys

from report import repo_relative  # bench/report.py: one rule for the paths reports name

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import MiB, lines, machine, med  # noqa: E402

SIDES = {"pipeline": "shell pipeline (`bench/s3_pipeline.sh`)", "airlock": "Airlock"}


def summarise(runs, side, label):
    timed = [r for r in runs if r["side"] == side and r["label"] == label and not r["counting"]]
    counted = [r for r in runs if r["side"] == side and r["label"] == label and r["counting"]]
    if not timed or not counted:
        return None
    c = counted[0]
    walls = [r["wallSeconds"] for r in timed]
    s = {
        "command": timed[0]["command"],
        "timedRuns": len(timed),
        "wallSeconds": {"median": med(walls), "min": min(walls), "max": max(walls),
                        "all": walls},
        "userSeconds": med([r["userSeconds"] for r in timed]),
        "systemSeconds": med([r["systemSeconds"] for r in timed]),
        "maxRssKiB": med([r["maxRssKiB"] for r in timed]),
        "requests": c["moto"]["requests"],
        "requestsByService": c["moto"]["byService"],
        "requestsByOperation": c["moto"]["byOperation"],
        "requestBodyBytes": c["moto"]["requestBodyBytes"],
        "writtenObjects": c["written"]["writtenObjects"],
        "writtenBytes": c["written"]["writtenBytes"],
        "bucketObjectsAfter": c["written"]["objects"],
        "bucketBytesAfter": c["written"]["bytes"],
        "countingPassWallSeconds": c["wallSeconds"],
    }
    if side == "airlock":
        s["airlockJson"] = timed[0].get("airlock")
    return s



def step_paragraph(title, what, x):
    """One Airlock command's figures in a sentence: time, requests by operation, writes."""
    ws = x["wallSeconds"]
    ops = ", ".join(f"{n} `{op}`" for op, n in sorted(x["requestsByOperation"].items()))
    return (f"**{title}** (Airlock, {what}): {ws['median']:.2f} s median "
            f"({ws['min']:.2f}–{ws['max']:.2f}), {x['requests']:,} requests ({ops}), "
            f"{x['writtenObjects']:,} objects written; peak RSS {x['maxRssKiB'] / 1024:.0f} MiB.\n")


def main():
    out = sys.argv[1]
    env = os.environ.get
    root = os.path.join(out, "s3")
    meta = json.load(open(os.path.join(out, "data", "meta.json")))
    runs = lines(os.path.join(root, "runs.jsonl"))
    results = {
        "machine": machine(root),
        "data": meta,
        "tools": {"moto": env("BENCH_S3_MOTO", ""), "awscli": env("BENCH_S3_AWSCLI", ""),
                  "timer": env("BENCH_S3_TIMER", "")},
        "repeats": int(env("BENCH_S3_REPEATS", "0")),
        "command": env("BENCH_S3_CMD", "bench/s3.sh"),
        "results": {},
        "runs": runs,
    }
    for side in SIDES:
        for label in ("first", "second", "rollback", "promote"):
            s = summarise(runs, side, label)
            if s:
                results["results"].setdefault(side, {})[label] = s
    with open(os.path.join(out, "s3.json"), "w") as f:
        json.dump(results, f, indent=2)
    with open(os.path.join(out, "s3.md"), "w") as f:
        f.write(repo_relative(render(results)))
    print(f"wrote {os.path.join(out, 's3.md')} and {os.path.join(out, 's3.json')}",
          file=sys.stderr)


def render(r):
    m, d, t, res = r["machine"], r["data"], r["tools"], r["results"]
    total = d["totalBytes"]
    o = []
    w = o.append
    w("# Publishing to S3: Airlock vs the usual shell pipeline\n")
    w(f"Written by `{r['command']}` (raw figures in `bench-out/s3.json`). Measured "
      f"{m['date']} on commit `{m['gitCommit']}`"
      + (f" with {m['gitModifiedTrackedFiles']} uncommitted change(s) to tracked source files"
         if m["gitModifiedTrackedFiles"] else "") + ".\n")
    busy = max(m["cpuBusyPercentStart"], m["cpuBusyPercentEnd"])
    w(f"- Machine: {m['nproc']} × {m['cpuModel']}, {m['os']}, kernel {m['kernel']}; "
      f"CPUs busy just before: {m['cpuBusyPercentStart']:.0f} %, just after: "
      f"{m['cpuBusyPercentEnd']:.0f} %; load average {m['loadavgStart']} / {m['loadavgEnd']}"
      + (" — **other work was running: treat the times as upper bounds**"
         if not busy < 20 else ""))
    w(f"- S3 and KMS: one moto {t['moto']} server on 127.0.0.1 "
      f"(`tests/harness/with-moto.sh`); {t['awscli']}; {m['sha256sum']}.")
    w(f"- Data: `bench-out/data/v1`, {d['files']:,} files, {total:,} bytes (released as 1.0.0), "
      f"and `v2`, the same tree with {d['changedFiles']} files ({d['changedBytes']:,} bytes, "
      f"{d['changedBytesShare'] * 100:.2f} % of the bytes) changed (released as 1.0.1); see "
      f"docs/BENCHMARKS.md. MB means 10^6 bytes.\n")
    w("## Results\n")
    w(f"Each side and repetition starts from a wiped moto (`POST /moto-api/reset`), a new "
      f"bucket and a new RSA_2048 KMS key (and, for Airlock, a new workspace), then publishes "
      f"1.0.0 and 1.0.1. Wall time: median (min–max) of {r['repeats']} timed runs, measured "
      f"around {t['timer']}, which also gives the user and system CPU and the peak RSS. "
      f"Requests and bytes come from one extra untimed pass (see How measured).\n")
    w("| release | way | wall time, s | user + sys CPU, s | HTTP requests (S3 + KMS) | "
      "objects written | bytes written | share of bundle bytes | peak RSS |")
    w("|---|---|---|---|---|---|---|---|---|")
    for label, name in (("first", "first (1.0.0, all new)"),
                        ("second", f"second (1.0.1, {d['changedFiles']} files changed)")):
        for side, sname in SIDES.items():
            x = res.get(side, {}).get(label)
            if not x:
                continue
            ws, svc = x["wallSeconds"], x["requestsByService"]
            w(f"| {name} | {sname} | {ws['median']:.2f} ({ws['min']:.2f}–{ws['max']:.2f}) | "
              f"{x['userSeconds']:.2f} + {x['systemSeconds']:.2f} | {x['requests']:,} "
              f"({svc.get('s3', 0):,} + {svc.get('kms', 0):,}) | {x['writtenObjects']:,} | "
              f"{x['writtenBytes']:,} | {x['writtenBytes'] / total * 100:.2f} % | "
              f"{x['maxRssKiB'] / 1024:.0f} MiB |")
    w("")
    for label, title, what in (
        ("rollback", "Rollback",
         "`airlock rollback {app} Staging` from 1.0.1 back to 1.0.0, whole command including "
         "start-up"),
        ("promote", "Promotion",
         "`airlock promote {app} --from Staging --to Production --version 1.0.0 --percent 5` "
         "into the same bucket, approved beforehand, whole command"),
    ):
        x = res.get("airlock", {}).get(label)
        if x:
            w(step_paragraph(title, what, x))
    w(reading(r))
    w("## Requests by operation (untimed pass)\n")
    w("| release | way | operation | requests |")
    w("|---|---|---|---|")
    for label in ("first", "second"):
        for side, sname in SIDES.items():
            x = res.get(side, {}).get(label)
            if not x:
                continue
            for op, n in x["requestsByOperation"].items():
                w(f"| {label} | {sname} | `{op}` | {n:,} |")
    w("")
    w("## How measured\n")
    w("- **Requests**: moto's own recorder (`/moto-api/recorder/start-recording` before the "
      "step, `stop-recording` and `download-recording` after): moto appends one line per "
      "S3 or KMS request it handles, failed ones included, `/moto-api/` calls excluded. "
      "Recording costs moto time (it keeps every body), so it runs only in the untimed pass "
      "0, whose wall times are not used. Both sides are deterministic, so one pass gives "
      "the count.")
    w("- **Objects and bytes written**: a listing of the bucket after each step of pass 0, "
      "against the listing after the previous step: objects whose key is new or whose size, "
      "ETag or LastModified changed, and the sum of their sizes (so the pipeline's "
      "overwritten `latest.json` counts on the second release). `requestBodyBytes` in "
      "`bench-out/s3.json` is the sum of all recorded request bodies (uploads, plus KMS's "
      "JSON and any S3 XML).")
    w("- **Peak RSS**: `ru_maxrss` of the timed command and its descendants, i.e. the largest "
      "single process, not the sum. For the pipeline that is one of its `aws` (Python) "
      "processes; for Airlock, the CLI itself.")
    w("- **Pipeline signature**: `aws kms sign --message-type DIGEST` over the manifest's "
      "SHA-256. moto hashes a DIGEST message again, so that signature would not verify; it is "
      "not checked here, only timed. The pipeline uploads every file again on the second "
      "release because it syncs into a new versioned folder, as such scripts do to keep "
      "releases immutable.\n")
    w("## Commands\n")
    w("```sh")
    w(r["command"] + "   # from the repository root; runs itself inside tests/harness/with-moto.sh")
    w(f"# each timed step: {t['timer']} COMMAND, with COMMAND:")
    for side in SIDES:
        for label in ("first", "second", "rollback", "promote"):
            x = res.get(side, {}).get(label)
            if x:
                w(f"# {side}, {label}: {x['command']}")
    w("```\n")
    return "\n".join(o)


def reading(r):
    res, d = r["results"], r["data"]
    p, a = res.get("pipeline"), res.get("airlock")
    if not p or not a:
        return ("**Reading:** only the pipeline was measured (`--pipeline-only`); its second "
                f"release wrote {p['second']['writtenBytes'] / d['totalBytes'] * 100:.0f} % of "
                f"the bundle's bytes again in {p['second']['requests']:,} requests.\n"
                if p else "")
    ps, as_ = p["second"], a["second"]
    pf, af = p["first"], a["first"]
    def ratio(x, y):
        return f"{x / y:.1f}×" if y else "n/a"
    return (
        f"**Reading:** on the first release Airlock took "
        f"{af['wallSeconds']['median']:.2f} s against the pipeline's "
        f"{pf['wallSeconds']['median']:.2f} s, in {af['requests']:,} requests against "
        f"{pf['requests']:,}. On the second release, with {d['changedFiles']} files changed, "
        f"Airlock wrote {as_['writtenBytes']:,} bytes ({as_['writtenBytes'] / d['totalBytes'] * 100:.2f} % "
        f"of the bundle) in {as_['requests']:,} requests and "
        f"{as_['wallSeconds']['median']:.2f} s; the pipeline wrote {ps['writtenBytes']:,} bytes "
        f"({ps['writtenBytes'] / d['totalBytes'] * 100:.0f} %) in {ps['requests']:,} requests and "
        f"{ps['wallSeconds']['median']:.2f} s: {ratio(ps['writtenBytes'], as_['writtenBytes'])} "
        f"the bytes and {ratio(ps['wallSeconds']['median'], as_['wallSeconds']['median'])} the "
        f"time. Peak RSS: Airlock {af['maxRssKiB'] / 1024:.0f} / {as_['maxRssKiB'] / 1024:.0f} MiB, "
        f"the pipeline's largest process {pf['maxRssKiB'] / 1024:.0f} / "
        f"{ps['maxRssKiB'] / 1024:.0f} MiB (first / second).\n")


if __name__ == "__main__":
    main()
