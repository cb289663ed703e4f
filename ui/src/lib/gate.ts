// The canary gate's state in words, for the overview's gate panel: whether it is on, what
// its last pass did to each rollout and current release, and when the next one runs.

import { ago, duration, percent } from "./format";
import type { GateStatus, WatchReport } from "./bindings";

export type Tone = "ok" | "warn" | "danger" | "muted";

export interface GateLine {
  tone: Tone;
  /** What was judged: "checkout 1.2.0 in Production at 20 %". */
  what: string;
  /** What the gate did, as a short label. */
  did: string;
  /** Why, in the gate's words. */
  detail: string;
}

const ACTIONS: Record<WatchReport["action"], [string, Tone]> = {
  waiting: ["waiting", "muted"],
  leftAlone: ["left alone (paused by a person)", "muted"],
  expanded: ["expanded", "ok"],
  passedWaiting: ["passed — waits for a person to expand", "ok"],
  promoted: ["promoted", "ok"],
  paused: ["paused", "warn"],
  reverted: ["reverted", "danger"],
  incidentOpened: ["incident opened", "danger"],
  rolledBack: ["rolled back", "danger"],
  checked: ["incident checklist checked", "ok"],
  alreadyDone: ["already decided elsewhere", "muted"],
  refused: ["REFUSED — not done", "danger"],
  error: ["could not judge", "warn"],
};

/** One line per report of the last pass. */
export function gateLines(reports: WatchReport[]): GateLine[] {
  return reports.map((r) => {
    let [did, tone] = ACTIONS[r.action];
    if (r.toBasisPoints != null) did += ` to ${percent(r.toBasisPoints)}`;
    if (r.subject === "promotion" && r.action === "passedWaiting") did = "passed — waits for an approval";
    if (r.subject === "promotion" && r.action === "leftAlone") [did, tone] = ["not promoted", "warn"];
    let what = `${r.app} ${r.version} in ${r.channel}`;
    if (r.subject === "rollout") what += ` at ${percent(r.basisPoints)}`;
    if (r.subject === "current") what += " (current)";
    if (r.subject === "promotion") what += " (current, to promote)";
    if (r.incident != null) what += ` · incident #${r.incident}`;
    return { tone, what, did, detail: r.detail || r.summary };
  });
}

/** The panel's headline: on or off, the last pass and the next. */
export function gateHeadline(g: GateStatus | null, now: number): string {
  if (!g) return "The canary gate's state could not be read.";
  const every = duration(g.intervalSeconds);
  if (!g.on) {
    const last = g.last ? ` Last pass ${ago(g.last.at, now)}.` : "";
    return `Off: rollouts move only when a person moves them.${last}`;
  }
  const last = g.last ? `last pass ${ago(g.last.at, now)}` : "first pass running";
  const next = g.nextAt ? `, next ${ago(g.nextAt, now)}` : "";
  return `On: judging every ${every} (${last}${next}).`;
}
