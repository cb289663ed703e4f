#!/usr/bin/env python3
"""Writes bench-out/gate.md from bench-out/gate.jsonl and bench-out/gate-analyze.json (bench/gate.sh)."""
import json
import os

rows = [json.loads(l) for l in open("bench-out/gate.jsonl")]
analyze = json.load(open("bench-out/gate-analyze.json")) if os.path.exists("bench-out/gate-analyze.json") else None


def pct(x):
    return "—" if x is None else f"{100 * x:.1f} %"


def hours(h):
    if h is None:
        return "—"
    m = round(h * 60)
    return f"{m} min" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def table(title, rows, comparators):
    out = [f"### {title}", ""]
    head = "| scenario | candidate sessions / h | rollouts | stopped (95 % upper bound) | in the first hour | in the first window | median time to stop | passed (95 % upper bound) | median time to pass | still waiting at 24 h |"
    sep = "|---|---|---|---|---|---|---|---|---|---|"
    if comparators:
        head += " fixed-horizon test at 4 h | seed's check | Mann–Whitney | Wilson bound |"
        sep += "---|---|---|---|"
    out += [head, sep]
    for r in rows:
        line = (f"| {r['scenario']} | {int(r['candidate_sessions_per_hour']):,} | {r['rollouts']} | "
                f"{pct(r['stopped'])} ({pct(r['stopped_upper_95'])}) | {pct(r['stopped_in_first_hour'])} | {pct(r.get('stopped_in_first_window'))} | "
                f"{hours(r['median_hours_to_stop'])} | {pct(r['passed'])} ({pct(r['passed_upper_95'])}) | "
                f"{hours(r['median_hours_to_pass'])} | {pct(r['undecided'])} |")
        if comparators:
            line += (f" {pct(r['fixed_horizon_stopped'])} | {pct(r['seed_check_stopped'])} | "
                     f"{pct(r['mann_whitney_stopped'])} | {pct(r['wilson_stopped'])} |")
        out.append(line)
    return out + [""]


plain = [r for r in rows if r["scenario"].startswith(("healthy", "edge", "1.3", "1.4", "1.5", "2", "10"))
         and "×" in r["scenario"] and "reports" not in r["scenario"]]
adversarial = [r for r in rows if r not in plain]
lines = [
    "",
    "## The canary gate (bench/gate.sh)",
    "",
    "Whole rollouts on simulated fleets (core/src/kpi/rollouts.rs): 5 → 20 → 50 → 100 %, windows of 4, 2 and 2 h,",
    "the default ten KPIs in force, judged by the real judge from the rollout's start every 15 minutes (every 30",
    "after four hours), a pass acted on once its step's window is over, followed past the windows as `watch` does",
    "for up to 24 h. \"Stopped\" is any fail or warning; \"passed\" is reaching 100 %. The upper bounds are one-sided",
    "95 % Clopper–Pearson bounds on the rate. The comparators judge the first window (4 h at 5 %) on the same",
    "numbers, each at its own looks: a fixed-horizon z-test of harm at the window's end (crash-free's share of the",
    "rollout's alpha: the power ceiling), the seed's check (crash rate over the last hour above 0.5 %, every 15",
    "minutes), a Kayenta-style one-sided Mann–Whitney test of per-bin crash rates (1 %, every 15 minutes) and a",
    "Capgo-style Wilson 95 % lower bound above 0.5 %.",
    "",
]
lines += table("Healthy and worse releases", plain, True)
lines += table("Adversarial fleets (healthy unless named)", adversarial, True)
stopped_by = {}
for r in rows:
    for k, v in r.get("stopped_by", {}).items():
        stopped_by.setdefault(r["scenario"] + f" @ {int(r['candidate_sessions_per_hour']):,}", {})[k] = v
if analyze:
    lines += [
        f"One `analyze` against a real Prometheus (Debian's, 127.0.0.1, a 4-hour history backfilled by promtool;",
        f"{analyze['kpis']} KPIs in force, {analyze['queries']} PromQL queries): median {analyze['median_seconds'] * 1000:.0f} ms over {analyze['runs']} runs (verdict {analyze['verdict']}).",
        "",
    ]
total = sum(r["seconds"] for r in rows)
lines += [f"Simulation time: {total / 60:.1f} min of wall clock for {sum(r['rollouts'] for r in rows):,} rollouts.", ""]
open("bench-out/gate.md", "w").write("\n".join(lines))
print("\n".join(lines))
