// The window's shared state: the open workspace, the overview every screen starts from, and
// the last sync. A `registry://changed` event (this window's action, a teammate's found by a
// sync, a CLI command in the same workspace) refreshes it and bumps `tick`, which screens
// watch to reload what they show.

import { asReport, ipc } from "./ipc";
import { describeWork, foldWork, idleWork } from "./work";
import type { AppOverview, Change, ErrorReport, GateStatus, SyncStatus, WorkspaceInfo } from "./ipc";

class Session {
  workspace: WorkspaceInfo | null = $state(null);
  apps: AppOverview[] = $state([]);
  ready = $state(false);
  sync: SyncStatus | null = $state(null);
  lastChange: Change | null = $state(null);
  startupError: ErrorReport | null = $state(null);
  loadError: ErrorReport | null = $state(null);
  tick = $state(0);
  /** The canary gate's switch and last pass (null until read). */
  gate: GateStatus | null = $state(null);
  /** What an on-demand sync is doing now, in words (null when none runs). */
  syncProgress: string | null = $state(null);

  async start() {
    try {
      this.startupError = await ipc.startupError();
      this.workspace = await ipc.currentWorkspace();
      if (this.workspace) await this.refresh();
      // For the launch benchmark (bench/console_launch.py): when the first overview arrived.
      performance.mark("airlock:overview-loaded");
    } catch (e) {
      this.loadError = asReport(e);
    }
    this.ready = true;
    await ipc.onChange((c) => {
      this.lastChange = c;
      void this.refresh();
    });
    await ipc.onSynced((s) => {
      this.sync = s;
      // Always re-read: a command line on this desktop shares the registry, so what it did
      // is not "new" to the sync, but it is new to this window. The read is registry-only.
      void this.refresh();
    });
    await ipc.onGatePassed((g) => {
      this.gate = g;
    });
    if (this.workspace) {
      void this.readGate();
      void this.syncNow();
    }
  }

  async readGate() {
    try {
      this.gate = await ipc.gateStatus();
    } catch {
      this.gate = null;
    }
  }

  /** Re-reads the store now; the result shows in the header like a background sync's. */
  async syncNow() {
    let work = idleWork;
    try {
      this.sync = await ipc.syncNow((e) => {
        work = foldWork(work, e);
        this.syncProgress = describeWork(work).at(-1) ?? null;
      });
    } catch (e) {
      this.sync = { at: new Date().toISOString(), newEntries: 0, pending: [], error: asReport(e) };
    }
    this.syncProgress = null;
    await this.refresh();
  }

  async refresh() {
    if (!this.workspace) return;
    try {
      this.apps = await ipc.overview();
      this.loadError = null;
    } catch (e) {
      this.loadError = asReport(e);
    }
    this.tick++;
  }

  async opened(info: WorkspaceInfo) {
    this.workspace = info;
    this.startupError = null;
    void this.readGate();
    await this.syncNow();
  }
}

export const session = new Session();
