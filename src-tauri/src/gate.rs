//! The canary gate while the console is open: the very loop `airlock watch` runs
//! (`Workspace::watch_once` in core), every `[kpi] watch-interval-seconds` (default 300)
//! while a person has it turned on. Off when the console starts and whenever another
//! workspace is opened, so opening a window never acts by itself; a viewer cannot turn it on
//! (core refuses). Each pass's reports are kept
//! for the window and announced as `gate://passed`.

use crate::commands::attribution;
use crate::error::{CommandError, CommandResult};
use crate::state::Console;
use airlock_core::ErrorKind;
use airlock_core::Workspace;
use airlock_core::error::ErrorReport;
use airlock_core::ops::watch::WatchReport;
use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
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

/// The gate's switch and its last pass, for the workspace of one console generation.
#[derive(Debug, Default)]
pub struct Gate {
    inner: Mutex<Inner>,
    /// Wakes the loop: the switch moved, or a pass was asked for.
    wake: Notify,
}

#[derive(Debug, Default)]
struct Inner {
    status: GateStatus,
    /// The console generation (`Console::generation`) the switch belongs to: a pass or a
    /// switch meant for another workspace is dropped.
    generation: u64,
}

impl Gate {
    pub fn status(&self) -> GateStatus {
        self.inner
            .lock()
            .expect("gate lock poisoned")
            .status
            .clone()
    }

    /// Turns the gate on or off for the workspace of `generation` (refused when another
    /// workspace was opened since).
    pub fn set(&self, on: bool, generation: u64, interval: u32) -> CommandResult<()> {
        let mut i = self.inner.lock().expect("gate lock poisoned");
        if i.generation != generation {
            return Err(CommandError::shell(
                ErrorKind::Conflict,
                "another workspace was opened meanwhile; switch its gate from its own overview",
            ));
        }
        i.status.on = on;
        i.status.interval_seconds = interval;
        if !on {
            i.status.next_at = None;
        }
        drop(i);
        self.wake.notify_one();
        Ok(())
    }

    /// Off, with no pass, for the workspace of `generation`: opening another workspace,
    /// which no one turned the gate on for.
    pub fn reset(&self, generation: u64) {
        *self.inner.lock().expect("gate lock poisoned") = Inner {
            status: GateStatus::default(),
            generation,
        };
        self.wake.notify_one();
    }

    fn is_on(&self, generation: u64) -> bool {
        let i = self.inner.lock().expect("gate lock poisoned");
        i.status.on && i.generation == generation
    }

    /// Keeps `pass` as the last one, if it was made for the current generation.
    fn record(
        &self,
        pass: GatePass,
        interval: u32,
        next_at: Option<String>,
        generation: u64,
    ) -> GateStatus {
        let mut i = self.inner.lock().expect("gate lock poisoned");
        if i.generation == generation {
            i.status.last = Some(pass);
            i.status.interval_seconds = interval;
            i.status.next_at = if i.status.on { next_at } else { None };
        }
        i.status.clone()
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
pub async fn pass_now(console: &Console, ws: &Workspace, generation: u64) -> GateStatus {
    let done = pass(console, ws).await;
    let next = console.gate.status().next_at;
    console.gate.record(done, interval(ws), next, generation)
}

/// Runs for the life of the app: while the gate is on, a pass every interval. A pass
/// already running when the gate is turned off or another workspace is opened completes,
/// and its result is dropped if the workspace changed.
pub fn run<R: Runtime>(app: AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        loop {
            let console = app.state::<Console>();
            let generation = console.generation.load(Ordering::SeqCst);
            if !console.gate.is_on(generation) {
                console.gate.wake.notified().await;
                continue;
            }
            let Some(ws) = console.current().await else {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            };
            // Opening another workspace turns the gate off before the swap: checked again
            // with the workspace in hand, a pass never acts on one no one turned it on for.
            if !console.gate.is_on(generation)
                || console.generation.load(Ordering::SeqCst) != generation
            {
                continue;
            }
            let every = interval(&ws);
            let done = pass(&console, &ws).await;
            let next = ws.now().plus_seconds(i64::from(every)).to_string();
            let status = console.gate.record(done, every, Some(next), generation);
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
