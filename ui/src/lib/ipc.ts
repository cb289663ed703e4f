// The one seam between the web UI and Rust: every command and event goes through here (unit
// tests mock this module). Commands come from the generated bindings (bindings.ts, made by
// `make bindings` from the Rust types); a failed command throws an IpcError whose `kind` is
// core's ErrorKind — screens branch on the kind, never on the message.

import { Channel } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import {
  commands,
  type Action,
  type Change,
  type ErrorReport,
  type Audience,
  type ChecklistItem,
  type GateStatus,
  type Theme,
  type LogQuery,
  type NewCredentials,
  type NewWorkspace,
  type ProgressEvent,
  type ReleaseRequest,
  type SettingEdit,
  type SyncStatus,
} from "./bindings";

export type * from "./bindings";

export class IpcError extends Error {
  readonly report: ErrorReport;
  constructor(report: ErrorReport) {
    super(report.message);
    this.report = report;
  }
  get kind() {
    return this.report.kind;
  }
}

/** Any thrown value as an ErrorReport, for showing. */
export function asReport(e: unknown): ErrorReport {
  if (e instanceof IpcError) return e.report;
  return {
    kind: "invalid_input",
    message: e instanceof Error ? e.message : String(e),
    violations: [],
    app: null,
    version: null,
    channel: null,
    seq: null,
    command: null,
    pending: [],
    store: null,
    key: null,
    deniedAction: null,
  };
}

type Answer<T> = { status: "ok"; data: T } | { status: "error"; error: ErrorReport };

async function unwrap<T>(p: Promise<Answer<T>>): Promise<T> {
  const r = await p;
  if (r.status === "ok") return r.data;
  throw new IpcError(r.error);
}

/** A fresh id for a command (idempotency) or a publish (cancellation). */
export function newId(): string {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export const ipc = {
  currentWorkspace: () => unwrap(commands.currentWorkspace()),
  recentWorkspace: () => commands.recentWorkspace(),
  startupError: () => commands.startupError(),
  openWorkspace: (dir: string, viewer = false) => unwrap(commands.openWorkspace(dir, viewer)),
  createWorkspace: (w: NewWorkspace) => unwrap(commands.createWorkspace(w)),
  openDemo: () => unwrap(commands.openDemo()),
  pickFolder: () => unwrap(commands.pickFolder()),
  pickBundle: (folder: boolean) => unwrap(commands.pickBundle(folder)),
  overview: () => unwrap(commands.overview()),
  releases: (app: string) => unwrap(commands.releases(app)),
  releaseDetail: (app: string, version: string, channel: string | null) =>
    unwrap(commands.releaseDetail(app, version, channel)),
  logPage: (app: string, query: LogQuery) => unwrap(commands.logPage(app, query)),
  rolloutChart: (app: string, channel: string) => unwrap(commands.rolloutChart(app, channel)),
  checkLog: (app: string) => unwrap(commands.checkLog(app)),
  publish: (request: ReleaseRequest, id: string, onProgress: (e: ProgressEvent) => void) => {
    const channel = new Channel<ProgressEvent>();
    channel.onmessage = onProgress;
    return unwrap(commands.publish(request, id, channel));
  },
  cancelPublish: (id: string) => commands.cancelPublish(id),
  previewAction: (action: Action) => unwrap(commands.previewAction(action)),
  performAction: (
    action: Action,
    reason: string | null,
    commandId: string,
    expectBasisPoints: number | null,
    onProgress: (e: ProgressEvent) => void = () => {},
  ) => {
    const channel = new Channel<ProgressEvent>();
    channel.onmessage = onProgress;
    return unwrap(commands.performAction(action, reason, commandId, expectBasisPoints, channel));
  },
  settings: () => unwrap(commands.settings()),
  editSettings: (edits: SettingEdit[]) => unwrap(commands.editSettings(edits)),
  testConnection: () => unwrap(commands.testConnection()),
  credentialsStatus: () => unwrap(commands.credentialsStatus()),
  setCredentials: (c: NewCredentials) => unwrap(commands.setCredentials(c)),
  syncNow: (onProgress: (e: ProgressEvent) => void = () => {}) => {
    const channel = new Channel<ProgressEvent>();
    channel.onmessage = onProgress;
    return unwrap(commands.syncNow(channel));
  },
  onChange: (f: (c: Change) => void): Promise<UnlistenFn> =>
    listen<Change>("registry://changed", (e) => f(e.payload)),
  onSynced: (f: (s: SyncStatus) => void): Promise<UnlistenFn> =>
    listen<SyncStatus>("registry://synced", (e) => f(e.payload)),
  kpiScreen: (app: string, channel: string, from: string | null, to: string | null, theme: Theme, width: number) =>
    unwrap(commands.kpiScreen(app, channel, from, to, theme, width)),
  appHealth: (app: string) => unwrap(commands.appHealth(app)),
  adoption: (app: string, channel: string) => unwrap(commands.adoption(app, channel)),
  incidents: (all: boolean) => unwrap(commands.incidents(all)),
  incident: (app: string, number: number) => unwrap(commands.incident(app, number)),
  openIncident: (app: string, channel: string | null, version: string | null, severity: number, reason: string) =>
    unwrap(commands.openIncident(app, channel, version, severity, reason)),
  tickIncident: (app: string, number: number, item: ChecklistItem, note: string | null) =>
    unwrap(commands.tickIncident(app, number, item, note)),
  closeIncident: (app: string, number: number, reason: string | null) =>
    unwrap(commands.closeIncident(app, number, reason)),
  exportPostmortem: (app: string, number: number) => unwrap(commands.exportPostmortem(app, number)),
  weeklyRollup: (week: string | null) => unwrap(commands.weeklyRollup(week)),
  notifyStatus: () => unwrap(commands.notifyStatus()),
  setNotify: (audience: Audience, value: string, secret: boolean) => unwrap(commands.setNotify(audience, value, secret)),
  deleteNotify: (audience: Audience) => unwrap(commands.deleteNotify(audience)),
  testNotify: (audience: Audience) => unwrap(commands.testNotify(audience)),
  writeWeeklyRollup: (week: string | null) => unwrap(commands.writeWeeklyRollup(week)),
  gateStatus: () => unwrap(commands.gateStatus()),
  setGate: (on: boolean) => unwrap(commands.setGate(on)),
  gatePassNow: () => unwrap(commands.gatePassNow()),
  onGatePassed: (f: (s: GateStatus) => void): Promise<UnlistenFn> =>
    listen<GateStatus>("gate://passed", (e) => f(e.payload)),
};

export type Ipc = typeof ipc;
