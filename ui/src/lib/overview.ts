// The overview's rows: every app and channel in words, filtered by a search, from the
// registry's AppOverview. Pure, so it is unit-tested.

import type { AppOverview, ChannelView } from "./bindings";
import { ago, duration, exact, percent, step } from "./format";

export type ChannelRow = {
  app: string;
  channel: string;
  protected: boolean;
  current: string | null;
  rollout: {
    version: string;
    percent: string;
    basisPoints: number;
    paused: boolean;
    step: string;
    since: string | null;
  } | null;
  rollbackTarget: string | null;
  /** The randomized holdout kept on the previous release, while it lasts. */
  holdout: { version: string; percent: string; until: string } | null;
};

export function channelRow(app: string, c: ChannelView): ChannelRow {
  const r = c.rollout;
  return {
    app,
    channel: c.channel,
    protected: c.protected,
    current: c.current,
    rollout: r
      ? {
          version: r.version,
          percent: percent(r.basisPoints),
          basisPoints: r.basisPoints,
          paused: r.paused,
          step: step(r.step, r.steps),
          since: r.stepStartedAt,
        }
      : null,
    rollbackTarget: c.rollbackTarget,
    holdout: c.holdout
      ? { version: c.holdout.version, percent: percent(c.holdout.basisPoints), until: c.holdout.until }
      : null,
  };
}

/** The holdout in a few words: "5 % on 1.0.0, 2 d 23 h left". */
export function describeHoldout(h: NonNullable<ChannelRow["holdout"]>, now = Date.now()): string {
  const left = (Date.parse(h.until) - now) / 1000;
  return `${h.percent} on ${h.version}, ${Number.isNaN(left) ? exact(h.until) : `${duration(left)} left`}`;
}

/** Apps whose name contains `query` (case-insensitive), protected channels first. */
export function filterApps(apps: AppOverview[], query: string): AppOverview[] {
  const q = query.trim().toLowerCase();
  return apps
    .filter((a) => !q || a.app.toLowerCase().includes(q))
    .map((a) => ({
      ...a,
      channels: [...a.channels].sort(
        (x, y) => Number(y.protected) - Number(x.protected) || x.channel.localeCompare(y.channel),
      ),
    }));
}

/** One sentence for a channel, for screen readers and the row's title. */
export function describeChannel(row: ChannelRow, now = Date.now()): string {
  const current = row.current ?? "the built-in bundle";
  if (!row.rollout && row.holdout) {
    return `${row.channel}: everyone runs ${current} but a holdout of ${row.holdout.percent}, chosen by lot, kept on ${row.holdout.version} until ${exact(row.holdout.until)}.`;
  }
  if (!row.rollout) return `${row.channel}: everyone runs ${current}.`;
  const r = row.rollout;
  const state = r.paused ? "paused at" : "rolling out to";
  return `${row.channel}: ${r.version} ${state} ${r.percent}${r.step ? ` (${r.step})` : ""}, since ${ago(r.since, now)}; the rest run ${current}.`;
}

export function pendingCount(apps: AppOverview[]): number {
  return apps.reduce((n, a) => n + a.pendingApprovals.filter((p) => !p.rejection).length, 0);
}

export type PointerChip = { label: string; tone: "danger" | "warn"; title: string };

/** What the overview flags about a channel's pointer, as this desktop last saw it. */
export function pointerChip(c: ChannelView, now = Date.now()): PointerChip | null {
  const p = c.pointer;
  if (!p) return null;
  const seen = `seq ${p.seq}, as seen in the store ${ago(p.seenAt, now)}`;
  if (p.expired) {
    return { label: "pointer expired", tone: "danger", title: `Devices refuse it since ${exact(p.expiresAt)} (${seen}). Re-sign it.` };
  }
  if (p.lagging) {
    return {
      label: "pointer behind the log",
      tone: "warn",
      title: `The log is at seq ${c.servedSeq}; the pointer this desktop last saw is ${seen}. The next sync or change writes it.`,
    };
  }
  if (p.expiresSoon) {
    const left = (Date.parse(p.expiresAt) - now) / 1000;
    return { label: `pointer expires in ${duration(left)}`, tone: "warn", title: `At ${exact(p.expiresAt)} (${seen}). Re-sign it before then.` };
  }
  return null;
}
