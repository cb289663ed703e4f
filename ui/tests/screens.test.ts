// The screens' logic with ipc.ts mocked: what they show from the data, and what they ask of
// Rust when a control is used.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { demoApps } from "./fixtures";

const ipc = vi.hoisted(() => ({
  previewAction: vi.fn(),
  performAction: vi.fn(),
  publish: vi.fn(),
  cancelPublish: vi.fn(),
  pickBundle: vi.fn(),
  overview: vi.fn(),
  releaseDetail: vi.fn(),
  rolloutChart: vi.fn(),
  adoption: vi.fn(async () => null),
  onChange: vi.fn(async () => () => {}),
  onSynced: vi.fn(async () => () => {}),
  setGate: vi.fn(),
  gatePassNow: vi.fn(),
  appHealth: vi.fn(async (_app: string): Promise<unknown[]> => []),
}));
vi.mock("../src/lib/ipc", () => ({
  ipc,
  newId: () => "id-1",
  asReport: (e: unknown) => (e as { report?: unknown }).report ?? { kind: "invalid_input", message: String(e), violations: [], pending: [] },
  IpcError: class {},
}));

import { session } from "../src/lib/session.svelte";
import Overview from "../src/screens/Overview.svelte";
import Approvals from "../src/screens/Approvals.svelte";
import Publish from "../src/screens/Publish.svelte";

const workspace = (readOnly: boolean, actor = "alex") => ({
  dir: "/w", store: "file:///b", signer: "local", actor, readOnly, channels: ["Production", "Staging"], syncIntervalSeconds: 30,
});

afterEach(() => cleanup());

beforeEach(() => {
  vi.clearAllMocks();
  session.apps = demoApps();
  session.workspace = workspace(false);
  ipc.overview.mockResolvedValue(demoApps());
  ipc.appHealth.mockResolvedValue([]);
  HTMLDialogElement.prototype.showModal ??= function (this: HTMLDialogElement) { this.open = true; };
  HTMLDialogElement.prototype.close ??= function (this: HTMLDialogElement) { this.open = false; };
});

describe("Overview", () => {
  it("shows each channel's health in words and keeps only what needs attention on request", async () => {
    ipc.appHealth.mockImplementation(async (app: string) =>
      app === "checkout"
        ? [{ channel: "Production", version: "1.2.0", subject: "rollout", state: "fail", reason: "crash rate 0.91 % against 0.30 %: harm shown" }]
        : [{ channel: "Production", version: "2.0.0", subject: "current", state: "pass", reason: "every KPI safe" }],
    );
    session.apps = demoApps().map((a) => ({ ...a, pendingApprovals: [] }));
    render(Overview, { now: Date.parse("2026-12-01T12:00:00Z") });
    await waitFor(() => expect(screen.getByText("Failing")).toBeTruthy());
    expect(screen.getByText("crash rate 0.91 % against 0.30 %: harm shown")).toBeTruthy();
    expect(screen.getByText("Healthy")).toBeTruthy();
    expect(screen.getByRole("link", { name: "KPIs of checkout in Production" }).getAttribute("href")).toBe("#/kpi/checkout/Production");
    await fireEvent.click(screen.getByLabelText("Only what needs attention"));
    await waitFor(() => expect(screen.queryByText("Healthy")).toBeNull());
    expect(screen.getByText("Failing")).toBeTruthy();
  });

  it("shows versions and percentages as text", () => {
    render(Overview, { now: Date.parse("2026-12-01T12:00:00Z") });
    expect(screen.getByText("20 %")).toBeTruthy();
    expect(screen.getByText("step 2 of 4", { exact: false })).toBeTruthy();
    expect(screen.getAllByText("1.0.0").length).toBeGreaterThan(0);
    expect(screen.getByText("1 waiting for approval")).toBeTruthy();
  });

  it("previews an expansion, then performs it with the previewed share as the expectation", async () => {
    ipc.previewAction.mockResolvedValue({
      kind: "expanded", description: "1.2.0 in Production to 50 %", approvals: [],
      summary: ["About 50 % of Production devices will run 1.2.0."],
      channels: [{ channel: "Production", before: { current: "1.1.0", rollout: { version: "1.2.0", basisPoints: 2000 } }, after: { current: "1.1.0", rollout: { version: "1.2.0", basisPoints: 5000 } } }],
    });
    ipc.performAction.mockResolvedValue({
      app: "checkout", seq: 13, kind: "expanded", replayed: false, pointers: [],
      devicesSee: [{ channel: "Production", seq: 13, current: "1.1.0", rollout: { version: "1.2.0", basisPoints: 5000 }, expiresAt: "2026-12-08T12:00:00Z", problem: null }],
    });
    render(Overview, { now: Date.now() });
    await fireEvent.click(screen.getByRole("button", { name: "Expand: checkout Production" }));
    await screen.findByText("About 50 % of Production devices will run 1.2.0.");
    expect(ipc.previewAction).toHaveBeenCalledWith({ action: "expand", app: "checkout", channel: "Production", percent: null });
    await fireEvent.click(screen.getByRole("button", { name: "Confirm" }));
    await screen.findByText("What devices see now, read back from the store:");
    expect(ipc.performAction).toHaveBeenCalledWith(
      { action: "expand", app: "checkout", channel: "Production", percent: null }, null, "id-1", 2000, expect.any(Function),
    );
  });

  it("keeps the commit in view when what follows it fails", async () => {
    ipc.previewAction.mockResolvedValue({ kind: "expanded", description: "expanded", approvals: [], summary: ["About 50 %."], channels: [] });
    ipc.performAction.mockImplementation(async (_a: unknown, _r: unknown, _c: unknown, _e: unknown, onProgress: (e: unknown) => void) => {
      onProgress({ phase: "committed", app: "checkout", seq: 13 });
      onProgress({ phase: "step", name: "writing the Production pointer of checkout (seq 13)" });
      throw { report: { kind: "committed", message: "committed as seq 13; the Production pointer is pending", violations: [], pending: [] } };
    });
    render(Overview, { now: Date.now() });
    await fireEvent.click(screen.getByRole("button", { name: "Expand: checkout Production" }));
    await screen.findByText("About 50 %.");
    await fireEvent.click(screen.getByRole("button", { name: "Confirm" }));
    await screen.findByText("Committed as seq 13 of checkout: the change has happened.");
    expect(screen.getByText("Writing the Production pointer of checkout (seq 13)")).toBeTruthy();
  });

  it("shows a lost race with a way to review the fresh state", async () => {
    ipc.previewAction.mockResolvedValue({ kind: "paused", description: "paused", approvals: [], summary: ["No device is affected."], channels: [] });
    ipc.performAction.mockRejectedValue({ report: { kind: "conflict", message: "the rollout moved to 50 %", violations: [], pending: [] } });
    render(Overview, { now: Date.now() });
    await fireEvent.click(screen.getByRole("button", { name: "Pause: checkout Production" }));
    await screen.findByText("No device is affected.");
    await fireEvent.click(screen.getByRole("button", { name: "Confirm" }));
    await screen.findByText("Someone else changed this first");
    expect(screen.getByRole("button", { name: "Review the fresh state" })).toBeTruthy();
  });

  it("offers no changes to a viewer, and says why", () => {
    session.workspace = workspace(true);
    render(Overview, { now: Date.now() });
    expect(screen.queryByRole("button", { name: /Expand/ })).toBeNull();
    expect(screen.getByText(/read-only \(role = viewer\)/)).toBeTruthy();
  });
});

describe("Approvals", () => {
  it("shows the author's own release as needing someone else", () => {
    render(Approvals, { now: Date.now() });
    expect(screen.getByText("needs someone else")).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Approve…" })).toBeNull();
  });
  it("lets another engineer approve", () => {
    session.workspace = workspace(false, "sam");
    render(Approvals, { now: Date.now() });
    expect(screen.getByRole("button", { name: "Approve…" })).toBeTruthy();
  });
});

describe("Publish", () => {
  it("shows every gate violation", async () => {
    ipc.pickBundle.mockResolvedValue("/bundles/bad");
    ipc.publish.mockRejectedValue({ report: { kind: "gate", message: "the bundle failed 1 policy gate(s); nothing was written", violations: ["js/app.js.map: forbidden by *.map"], pending: [] } });
    render(Publish, { app: "loyalty" });
    await fireEvent.click(screen.getByRole("button", { name: "Choose folder…" }));
    await screen.findByText("/bundles/bad");
    await fireEvent.input(screen.getByLabelText("Version"), { target: { value: "2.2.0" } });
    await fireEvent.click(screen.getByRole("button", { name: "Publish" }));
    await screen.findByText("The bundle failed the policy gates");
    expect(screen.getByText("js/app.js.map: forbidden by *.map")).toBeTruthy();
  });
  it("streams progress and cancels by id", async () => {
    ipc.pickBundle.mockResolvedValue("/bundles/big");
    let finish: (v: unknown) => void = () => {};
    ipc.publish.mockImplementation((_r: unknown, _id: string, onProgress: (e: unknown) => void) => {
      onProgress({ phase: "hashing", filesDone: 3, filesTotal: 10, bytesDone: 3000, bytesTotal: 10000 });
      return new Promise((_, reject) => (finish = reject));
    });
    render(Publish, { app: "big" });
    await fireEvent.click(screen.getByRole("button", { name: "Choose folder…" }));
    await screen.findByText("/bundles/big");
    await fireEvent.input(screen.getByLabelText("Version"), { target: { value: "1.0.0" } });
    await fireEvent.click(screen.getByRole("button", { name: "Publish" }));
    await screen.findByText(/Hashing: 3 of 10 files/);
    await fireEvent.click(screen.getByRole("button", { name: "Cancel publish" }));
    expect(ipc.cancelPublish).toHaveBeenCalledWith("id-1");
    finish({ report: { kind: "cancelled", message: "cancelled", violations: [], pending: [] } });
    await waitFor(() => screen.getByText("Publish cancelled"));
  });

  it("says when a cancel came after the release was logged", async () => {
    ipc.pickBundle.mockResolvedValue("/bundles/big");
    let finish: (v: unknown) => void = () => {};
    ipc.publish.mockImplementation((_r: unknown, _id: string, onProgress: (e: unknown) => void) => {
      onProgress({ phase: "uploading", filesDone: 9, filesTotal: 10, bytesDone: 9000, bytesTotal: 10000, skipped: 0 });
      return new Promise((resolve) => (finish = resolve));
    });
    render(Publish, { app: "big" });
    await fireEvent.click(screen.getByRole("button", { name: "Choose folder…" }));
    await screen.findByText("/bundles/big");
    await fireEvent.input(screen.getByLabelText("Version"), { target: { value: "1.0.0" } });
    await fireEvent.click(screen.getByRole("button", { name: "Publish" }));
    await screen.findByText(/Uploading: 9 of 10 files/);
    await fireEvent.click(screen.getByRole("button", { name: "Cancel publish" }));
    finish({ app: "big", version: "1.0.0", channel: "Staging", seq: 7, pointers: [] });
    await screen.findByText(/Too late to cancel: big 1.0.0 was already logged as seq 7/);
  });
});

describe("the gate panel", () => {
  const off = { on: false, intervalSeconds: 300, last: null, nextAt: null };
  it("turns the gate on and shows what its pass did", async () => {
    session.gate = off;
    ipc.setGate.mockResolvedValue({
      on: true,
      intervalSeconds: 300,
      nextAt: "2026-12-01T12:05:00Z",
      last: {
        at: "2026-12-01T12:00:00Z",
        error: null,
        reports: [{
          app: "checkout", channel: "Production", version: "1.2.0", subject: "rollout", rolloutId: "r1", basisPoints: 2000,
          action: "waiting", incident: null, summary: "inconclusive", detail: "window 1 h 10 min left; verdict so far: inconclusive",
        }],
      },
    });
    render(Overview, { now: Date.parse("2026-12-01T12:00:00Z") });
    const toggle = screen.getByRole("switch", { name: "Turn on" });
    expect(toggle.getAttribute("aria-checked")).toBe("false");
    await fireEvent.click(toggle);
    expect(ipc.setGate).toHaveBeenCalledWith(true);
    await waitFor(() => expect(screen.getByText("window 1 h 10 min left; verdict so far: inconclusive")).toBeTruthy());
    expect(screen.getByRole("switch", { name: "Turn off" }).getAttribute("aria-checked")).toBe("true");
  });
  it("offers no switch in a read-only workspace", () => {
    session.gate = off;
    session.workspace = workspace(true);
    render(Overview, { now: Date.parse("2026-12-01T12:00:00Z") });
    expect(screen.queryByRole("switch")).toBeNull();
    expect(screen.getByText("A read-only workspace cannot run the gate.")).toBeTruthy();
  });
});
