// Which changes a channel offers, from its state: what the buttons on the overview and the
// release page are. Core decides whether each is allowed (and says why not); this only
// chooses what to offer, and offers nothing in a read-only workspace.

import type { Action, AppOverview, ChannelView } from "./bindings";

export type Offer = { label: string; action: Action; danger?: boolean; needsReason?: boolean };

export function offers(app: AppOverview, c: ChannelView, readOnly: boolean): Offer[] {
  if (readOnly) return [];
  const out: Offer[] = [];
  const a = app.app;
  const ch = c.channel;
  if (c.rollout) {
    if (!c.rollout.paused) {
      out.push({ label: "Expand", action: { action: "expand", app: a, channel: ch, percent: null } });
      out.push({ label: "Pause", action: { action: "pause", app: a, channel: ch } });
    } else {
      out.push({ label: "Resume", action: { action: "resume", app: a, channel: ch } });
    }
    out.push({ label: "Revert", action: { action: "revert", app: a, channel: ch }, danger: true });
  } else if (c.protected) {
    const source = app.channels.find((s) => !s.protected && s.current && s.current !== c.current);
    if (source?.current) {
      out.push({
        label: `Promote ${source.current}`,
        action: { action: "promote", app: a, from: source.channel, to: ch, version: source.current, percent: null },
      });
    }
  }
  if (c.pointer && (c.pointer.expiresSoon || c.pointer.expired)) {
    out.push({ label: "Re-sign", action: { action: "resign", app: a, channel: ch } });
  }
  if (c.current && c.rollbackTarget) {
    out.push({
      label: "Roll back",
      action: { action: "rollback", app: a, channel: ch, to: null },
      danger: true,
      needsReason: true,
    });
  }
  return out;
}

/** The action's title for its confirmation dialog. */
export function title(a: Action): string {
  switch (a.action) {
    case "promote":
      return `Promote ${a.app} ${a.version ?? ""} from ${a.from} to ${a.to}`;
    case "expand":
      return `Expand the ${a.app} rollout in ${a.channel}`;
    case "pause":
      return `Pause the ${a.app} rollout in ${a.channel}`;
    case "resume":
      return `Resume the ${a.app} rollout in ${a.channel}`;
    case "revert":
      return `Revert the ${a.app} rollout in ${a.channel}`;
    case "rollback":
      return `Roll back ${a.app} in ${a.channel}`;
    case "resign":
      return `Re-sign the ${a.app} pointer in ${a.channel}`;
    case "approve":
      return `Approve ${a.app} ${a.version} for ${a.channel}`;
    case "reject":
      return `Reject ${a.app} ${a.version} for ${a.channel}`;
  }
}

/** A rollback and a rejection need a reason; the rest take an optional comment. */
export function reasonRequired(a: Action): boolean {
  return a.action === "rollback" || a.action === "reject";
}
