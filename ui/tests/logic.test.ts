import { describe, expect, it } from "vitest";
import { channelRow, describeChannel, describeHoldout, filterApps, pendingCount, pointerChip } from "../src/lib/overview";
import { offers, reasonRequired, title } from "../src/lib/actions";
import { fold, formProblems, idle } from "../src/lib/publish";
import { describeWork, foldWork, idleWork } from "../src/lib/work";
import { holdoutProblem, parsePlan, positiveInt, signerProblem, storeProblem } from "../src/lib/settings";
import { parse, href } from "../src/lib/router.svelte";
import { advice } from "../src/lib/errors";
import { gateHeadline, gateLines } from "../src/lib/gate";
import { demoApps } from "./fixtures";

const now = Date.parse("2026-12-01T12:00:00Z");

describe("overview", () => {
  it("flags a pointer that expires, has expired or lags its log, and offers a re-sign", () => {
    const [checkout] = demoApps();
    const c = checkout.channels[1];
    expect(pointerChip(c, now)).toBeNull();
    const soon = { ...c, pointer: { ...c.pointer!, expiresAt: "2026-12-02T15:00:00Z", expiresSoon: true } };
    expect(pointerChip(soon, now)?.label).toBe("pointer expires in 27 h");
    expect(offers(checkout, soon, false).map((o) => o.label)).toContain("Re-sign");
    expect(offers(checkout, soon, true)).toEqual([]);
    const expired = { ...c, pointer: { ...c.pointer!, expiresSoon: true, expired: true } };
    expect(pointerChip(expired, now)).toMatchObject({ label: "pointer expired", tone: "danger" });
    const lagging = { ...c, servedSeq: 14, pointer: { ...c.pointer!, lagging: true } };
    expect(pointerChip(lagging, now)?.title).toContain("The log is at seq 14");
  });

  it("says each channel in words, with its step and how long it has run", () => {
    const [checkout] = demoApps();
    const row = channelRow("checkout", checkout.channels[1]);
    expect(row.rollout?.percent).toBe("20 %");
    expect(row.rollout?.step).toBe("step 2 of 4");
    expect(describeChannel(row, now)).toBe(
      "Production: 1.2.0 rolling out to 20 % (step 2 of 4), since 3 h 12 min ago; the rest run 1.1.0.",
    );
  });
  it("names a channel's holdout: its share, the release it keeps and the time left", () => {
    const [checkout] = demoApps();
    const row = channelRow("checkout", checkout.channels[0]);
    expect(row.holdout).toEqual({ version: "1.1.0", percent: "5 %", until: "2026-12-03T09:00:00Z" });
    expect(describeHoldout(row.holdout!, now)).toBe("5 % on 1.1.0, 45 h left");
    expect(describeChannel(row, now)).toBe(
      "Staging: everyone runs 1.2.0 but a holdout of 5 %, chosen by lot, kept on 1.1.0 until 2026-12-03T09:00:00Z.",
    );
  });
  it("filters apps by name and puts protected channels first", () => {
    const apps = filterApps(demoApps(), "LOY");
    expect(apps.map((a) => a.app)).toEqual(["loyalty"]);
    expect(apps[0].channels.map((c) => c.channel)).toEqual(["Production", "Staging"]);
    expect(filterApps(demoApps(), "").length).toBe(2);
  });
  it("counts approvals still waiting", () => {
    expect(pendingCount(demoApps())).toBe(1);
  });
});

describe("holdout setting", () => {
  it("takes 0 to 50 % for 1 to 336 hours and says what is wrong otherwise", () => {
    expect(holdoutProblem("5", "72")).toBeNull();
    expect(holdoutProblem("0", "72")).toBeNull();
    expect(holdoutProblem("2.5", "1")).toBeNull();
    expect(holdoutProblem("60", "72")).toContain("0 (none) to 50");
    expect(holdoutProblem("", "72")).toContain("0 (none) to 50");
    expect(holdoutProblem("1.234", "72")).toContain("two decimals");
    expect(holdoutProblem("5", "0")).toContain("336 hours");
    expect(holdoutProblem("5", "1.5")).toContain("336 hours");
  });
});

describe("actions", () => {
  it("offers expand, pause, revert and rollback on a rollout in progress", () => {
    const [checkout] = demoApps();
    expect(offers(checkout, checkout.channels[1], false).map((o) => o.label)).toEqual([
      "Expand", "Pause", "Revert", "Roll back",
    ]);
  });
  it("offers promoting Staging's release into a protected channel", () => {
    const loyalty = demoApps()[1];
    const o = offers(loyalty, loyalty.channels[0], false);
    expect(o[0].label).toBe("Promote 2.1.0");
    expect(o[0].action).toEqual({ action: "promote", app: "loyalty", from: "Staging", to: "Production", version: "2.1.0", percent: null });
  });
  it("offers nothing in a read-only workspace", () => {
    const [checkout] = demoApps();
    expect(offers(checkout, checkout.channels[1], true)).toEqual([]);
  });
  it("asks a reason for rollbacks and rejections", () => {
    expect(reasonRequired({ action: "rollback", app: "a", channel: "P", to: null })).toBe(true);
    expect(reasonRequired({ action: "expand", app: "a", channel: "P", percent: null })).toBe(false);
    expect(title({ action: "revert", app: "shop", channel: "Production" })).toBe("Revert the shop rollout in Production");
  });
});

describe("publish", () => {
  it("folds progress into the bars", () => {
    let p = fold(idle, { phase: "step", name: "hashing files" });
    p = fold(p, { phase: "hashing", filesDone: 2, filesTotal: 4, bytesDone: 10, bytesTotal: 20 });
    p = fold(p, { phase: "uploading", filesDone: 1, filesTotal: 4, bytesDone: 5, bytesTotal: 20, skipped: 1 });
    expect(p.step).toBe("hashing files");
    expect(p.hashing?.filesDone).toBe(2);
    expect(p.uploading?.skipped).toBe(1);
    expect(p.committed).toBeNull();
    p = fold(p, { phase: "committed", app: "shop", seq: 12 });
    expect(p.committed).toBe(12);
    expect(p.step).toBe("Committed as seq 12: the release is logged");
  });
  it("checks the form before sending", () => {
    expect(formProblems({ app: "Shop!", bundle: null, version: "1.0" })).toHaveLength(3);
    expect(formProblems({ app: "shop-ios", bundle: "/b", version: "1.4.0" })).toEqual([]);
  });
});

describe("work behind an action", () => {
  it("says the check, the commit and the pointer in words, in order", () => {
    let w = foldWork(idleWork, { phase: "step", name: "checking shop 1.0.0 in file:///b: statement, manifest and blobs" });
    w = foldWork(w, { phase: "counting", task: "checking", subject: "shop 1.0.0 in file:///b", done: 3, total: 12 });
    expect(describeWork(w)).toEqual([
      "Checking shop 1.0.0 in file:///b: statement, manifest and blobs",
      "Checking the files of shop 1.0.0 in file:///b: 3 of 12",
    ]);
    w = foldWork(w, { phase: "committed", app: "shop", seq: 41 });
    w = foldWork(w, { phase: "step", name: "writing the Production pointer of shop (seq 41)" });
    expect(describeWork(w)).toEqual([
      "Writing the Production pointer of shop (seq 41)",
      "Committed as seq 41 of shop: the change has happened.",
    ]);
    w = foldWork(w, { phase: "waiting", what: "CloudFront invalidation I1 of E2", seconds: 4 });
    expect(describeWork(w).at(-1)).toBe("Waiting for CloudFront invalidation I1 of E2 (4 s so far)");
  });
});

describe("settings", () => {
  it("checks a store before it is sent", () => {
    expect(storeProblem("file:///srv/ota", [])).toBeNull();
    expect(storeProblem("s3://shop-prod/ota", [])).toBeNull();
    expect(storeProblem("prod", ["prod"])).toBeNull();
    expect(storeProblem("", [], true)).toBeNull();
    expect(storeProblem("", [])).toMatch(/give a store/);
    expect(storeProblem("file://relative", [])).toMatch(/absolute/);
    expect(storeProblem("s3://No_Such", [])).toMatch(/bucket name/);
    expect(storeProblem("ftp://x", [])).toMatch(/use file:/);
  });
  it("parses rollout plans and says what is wrong", () => {
    expect(parsePlan("5, 20, 50, 100")).toEqual({ plan: [5, 20, 50, 100] });
    expect(parsePlan("5% 100%")).toEqual({ plan: [5, 100] });
    expect(parsePlan("50, 20, 100")).toEqual({ error: "steps must rise" });
    expect(parsePlan("5, 50")).toEqual({ error: "the last step must be 100" });
  });
  it("checks numbers and signers", () => {
    expect(positiveInt("0", "Sync interval", 5, 86400)).toMatch(/from 5 to 86400/);
    expect(positiveInt("30", "Sync interval", 5, 86400)).toBeNull();
    expect(signerProblem("kms:alias/airlock")).toBeNull();
    expect(signerProblem("gpg")).not.toBeNull();
  });
});

describe("routes and errors", () => {
  it("round-trips every route", () => {
    for (const r of [
      { name: "overview" }, { name: "release", app: "shop ios", version: "1.4.0" }, { name: "publish", app: "shop" },
      { name: "approvals" }, { name: "history", app: null }, { name: "settings" },
    ] as const) {
      expect(parse(href(r))).toEqual(r);
    }
    expect(parse("#/nonsense")).toEqual({ name: "overview" });
  });
  it("advises by kind, and recognises a store's access denied", () => {
    const base = { violations: [], app: null, version: null, channel: null, seq: null, command: null, pending: [], store: null, key: null, deniedAction: null };
    expect(advice({ ...base, kind: "keychain", message: "x" })).toMatch(/gnome-keyring/);
    const denied = advice({ ...base, kind: "store", message: "whatever the words", store: "s3://shop-prod", key: "apps/shop/log/00000009.json", deniedAction: "s3:PutObject" });
    expect(denied).toMatch(/^Access denied: s3:\/\/shop-prod refused s3:PutObject on apps\/shop\/log\/00000009.json/);
    expect(denied).toMatch(/read-only/);
    expect(advice({ ...base, kind: "store", message: "PutObject: AccessDenied" })).not.toMatch(/Access denied/);
    expect(advice({ ...base, kind: "committed", message: "x", seq: 9, pending: ["pointer Production: timeout"] })).toMatch(/seq 9/);
    const tampered = advice({ ...base, kind: "tampered", message: "whatever the words", app: "shop-ios", seq: 8 });
    expect(tampered).toMatch(/airlock recover shop-ios --reason/);
    expect(tampered).toMatch(/seq 8/);
  });
});

describe("the canary gate", () => {
  const report = {
    app: "checkout", channel: "Production", version: "1.2.0", subject: "rollout" as const, rolloutId: "r1",
    basisPoints: 2000, toBasisPoints: 5000, action: "expanded" as const, incident: null, summary: "pass", detail: "window of 2 h over, every KPI safe",
  };
  it("says what each report did, in words", () => {
    expect(gateLines([report])).toEqual([
      { tone: "ok", what: "checkout 1.2.0 in Production at 20 %", did: "expanded to 50 %", detail: "window of 2 h over, every KPI safe" },
    ]);
    const reverted = gateLines([{ ...report, action: "reverted", incident: 14, detail: "" }])[0];
    expect(reverted.tone).toBe("danger");
    expect(reverted.what).toBe("checkout 1.2.0 in Production at 20 % · incident #14");
    expect(reverted.detail).toBe("pass");
    const current = gateLines([{ ...report, subject: "current", action: "incidentOpened" }])[0];
    expect(current.what).toBe("checkout 1.2.0 in Production (current)");
    const promo = { ...report, channel: "Staging", subject: "promotion" as const, basisPoints: 10000 };
    const waits = gateLines([{ ...promo, action: "passedWaiting", toBasisPoints: null, detail: "waits for an approval" }])[0];
    expect([waits.what, waits.did]).toEqual(["checkout 1.2.0 in Staging (current, to promote)", "passed — waits for an approval"]);
    const promoted = gateLines([{ ...promo, action: "promoted", toBasisPoints: 500 }])[0];
    expect([promoted.did, promoted.tone]).toEqual(["promoted to 5 %", "ok"]);
    const held = gateLines([{ ...promo, action: "leftAlone", toBasisPoints: null }])[0];
    expect([held.did, held.tone]).toEqual(["not promoted", "warn"]);
  });
  it("heads the panel with the switch, the last pass and the next", () => {
    const last = { at: "2026-12-01T11:57:00Z", reports: [], error: null };
    expect(gateHeadline({ on: false, intervalSeconds: 300, last: null, nextAt: null }, now)).toBe(
      "Off: rollouts move only when a person moves them.",
    );
    expect(gateHeadline({ on: true, intervalSeconds: 300, last, nextAt: "2026-12-01T12:02:00Z" }, now)).toBe(
      "On: judging every 5 min (last pass 3 min ago, next in 2 min).",
    );
    expect(gateHeadline(null, now)).toMatch(/could not be read/);
  });
});

import { healthWord, nearestHit, needsAttention, ordered, step, tone } from "../src/lib/charts";

describe("KPI charts and health", () => {
  const hit = (x: number, y: number) => ({ x, y, at: x, series: "s", value: `${x}` });

  it("reads the point nearest the pointer, favouring time", () => {
    const hits = [hit(10, 50), hit(20, 10), hit(30, 50)];
    expect(nearestHit(hits, 19, 20)).toBe(1);
    expect(nearestHit(hits, 12, 45)).toBe(0);
    expect(nearestHit(hits, 29, 0)).toBe(2);
    expect(nearestHit([], 1, 1)).toBeNull();
  });

  it("steps through the points in reading order with the arrow keys, Home and End", () => {
    const hits = ordered([hit(30, 1), hit(10, 5), hit(10, 2)]);
    expect(hits.map((h) => [h.x, h.y])).toEqual([[10, 2], [10, 5], [30, 1]]);
    expect(step(null, "ArrowRight", 3)).toBe(0);
    expect(step(null, "ArrowLeft", 3)).toBe(2);
    expect(step(2, "ArrowRight", 3)).toBe(2);
    expect(step(1, "ArrowLeft", 3)).toBe(0);
    expect(step(1, "Home", 3)).toBe(0);
    expect(step(0, "End", 3)).toBe(2);
    expect(step(1, "a", 3)).toBe(1);
    expect(step(null, "ArrowRight", 0)).toBeNull();
  });

  it("says health in words and tone, and flags only failing or warning channels", () => {
    expect([tone("pass"), tone("warning"), tone("fail"), tone("none")]).toEqual(["ok", "warn", "danger", "muted"]);
    expect(healthWord("waiting")).toBe("Waiting for data");
    expect(healthWord("none")).toBe("No data");
    const h = (state: string) => ({ channel: "Production", version: "1.2.0", subject: "rollout", state, reason: "" });
    expect(needsAttention(h("fail"))).toBe(true);
    expect(needsAttention(h("warning"))).toBe(true);
    expect(needsAttention(h("waiting"))).toBe(false);
    expect(needsAttention(undefined)).toBe(false);
  });

  it("routes the KPI screen and incidents", () => {
    expect(parse("#/kpi/checkout/Production")).toEqual({ name: "kpi", app: "checkout", channel: "Production" });
    expect(href({ name: "kpi", app: "a b", channel: "Production" })).toBe("#/kpi/a%20b/Production");
    expect(parse("#/incidents/checkout/12")).toEqual({ name: "incidents", app: "checkout", number: 12 });
    expect(parse("#/incidents/checkout/x")).toEqual({ name: "incidents", app: null, number: null });
    expect(href({ name: "incidents", app: null, number: null })).toBe("#/incidents");
  });
});
