//! The canary gate while the console is open: the very loop `airlock watch` runs
//! (`Workspace::watch_once` in core), every `[kpi] watch-interval-seconds` (default 300)
//! while a person has it turned on. Off when the console starts, so opening a window never
//! acts by itself; a viewer cannot turn it on (core refuses). Each pass's reports are kept
//! for the window and announced as `gate://passed`.

use crate::commands::attribution;
use crate::state::Console;
use airlock_core::Workspace;
use airlock_core::error::ErrorReport;
use airlock_core::ops::watch::WatchReport;
use serde::Serialize;
use std::sync::Mutex;
use std::time::Duration;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::Notify;

pub const GATE_PASSED: &str = "gate://passed";

/// What the window shows of the gate.
#[derive(Clone, Debug, Default, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct GateStatus {
    pub on: bool,
    pub interval_seconds: u32,
    /// The last pass (turned on, on the timer, or asked for).
    pub last: Option<GatePass>,
    /// When the next pass runs, while on (RFC 3339, UTC).
    pub next_at: Option<String>,
}

#[derive(Clone, Debug, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct GatePass {
    /// When it ran (RFC 3339, UTC).
    pub at: String,
    pub reports: Vec<WatchReport>,
    /// Why the pass as a whole failed (no KPI source, the store down); the reports then
    /// are empty.
    pub error: Option<ErrorReport>,
}

/// The gate's switch and its last pass.
#[derive(Debug, Default)]
pub struct Gate {
    status: Mutex<GateStatus>,
    /// Wakes the loop: the switch moved, or a pass was asked for.
    wake: Notify,
}

impl Gate {
    pub fn status(&self) -> GateStatus {
        self.status.lock().expect("gate lock poisoned").clone()
    }

    pub fn set(&self, on: bool) {
        let mut s = self.status.lock().expect("gate lock poisoned");
        s.on = on;
        if !on {
            s.next_at = None;
        }
        drop(s);
        self.wake.notify_one();
    }

    fn record(&self, pass: GatePass, interval: u32, next_at: Option<String>) -> GateStatus {
        let mut s = self.status.lock().expect("gate lock poisoned");
        s.last = Some(pass);
        s.interval_seconds = interval;
        s.next_at = if s.on { next_at } else { None };
        s.clone()
    }
}

/// The interval of `ws`'s gate, in seconds.
pub fn interval(ws: &Workspace) -> u32 {
    ws.config()
        .kpi
        .as_ref()
        .and_then(|k| k.watch_interval_seconds)
        .unwrap_or(300)
}

/// One pass over every rollout and current release, as `airlock watch --once` does.
pub async fn pass(console: &Console, ws: &Workspace) -> GatePass {
    let result = async {
        let by = attribution(console, ws, None)?;
        let source = ws.kpi_source().await?;
        Ok::<_, crate::error::CommandError>(
            ws.watch_once(&by.actor, source.as_ref(), None, None)
                .await?,
        )
    }
    .await;
    let at = ws.now().to_string();
    match result {
        Ok(reports) => GatePass {
            at,
            reports,
            error: None,
        },
        Err(e) => GatePass {
            at,
            reports: Vec::new(),
            error: Some(*e.0),
        },
    }
}

/// Runs one pass now and records it (the loop's next pass is not moved).
pub async fn pass_now(console: &Console, ws: &Workspace) -> GateStatus {
    let done = pass(console, ws).await;
    let next = console.gate.status().next_at;
    console.gate.record(done, interval(ws), next)
}

/// Runs for the life of the app: while the gate is on, a pass every interval.
pub fn run<R: Runtime>(app: AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        loop {
            let console = app.state::<Console>();
            if !console.gate.status().on {
                console.gate.wake.notified().await;
                continue;
            }
            let Some(ws) = console.current().await else {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            };
            let every = interval(&ws);
            let done = pass(&console, &ws).await;
            let next = ws.now().plus_seconds(i64::from(every)).to_string();
            let status = console.gate.record(done, every, Some(next));
            let _ = app.emit(GATE_PASSED, status);
            // Until the next pass, unless the switch moves.
            let _ = tokio::time::timeout(
                Duration::from_secs(u64::from(every)),
                console.gate.wake.notified(),
            )
            .await;
        }
    });
}
