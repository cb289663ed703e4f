//! What the window hears without asking: every [`Change`] core announces, forwarded as
//! `registry://changed`, and a sync of the open workspace from the store on open and every
//! `sync-interval-seconds` (default 30), reported as `registry://synced`, so two desktops on
//! one bucket see each other's actions within that interval.

use crate::state::Console;
use airlock_core::Change;
use airlock_core::error::ErrorReport;
use serde::Serialize;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, sleep, sleep_until};

pub const REGISTRY_CHANGED: &str = "registry://changed";
pub const REGISTRY_SYNCED: &str = "registry://synced";

/// The result of a background sync.
#[derive(Clone, Debug, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// When it finished (RFC 3339, UTC).
    pub at: String,
    /// Entries new from the store, over every app.
    pub new_entries: u32,
    /// Channels whose pointer is still pending after the sync.
    pub pending: Vec<String>,
    pub error: Option<ErrorReport>,
}

/// Runs for the life of the app.
pub fn watch<R: Runtime>(app: AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        loop {
            let console = app.state::<Console>();
            let generation = console.generation.load(Ordering::SeqCst);
            let Some(ws) = console.current().await else {
                sleep(Duration::from_millis(300)).await;
                continue;
            };
            let mut changes = ws.subscribe();
            let every = Duration::from_secs(u64::from(ws.info().sync_interval_seconds));
            let mut next_sync = Instant::now();
            while console.generation.load(Ordering::SeqCst) == generation {
                tokio::select! {
                    change = changes.recv() => match change {
                        Ok(c) => emit_change(&app, &c),
                        Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => break,
                    },
                    () = sleep_until(next_sync) => {
                        let status = sync_once(&ws).await;
                        let _ = app.emit(REGISTRY_SYNCED, status);
                        // An open console drains the notification outbox after each sync,
                        // within the `[notify]` budget (a warning goes to the console's log).
                        if let Some(w) = ws.notify_after_change().await {
                            eprintln!("airlock-console: {w}");
                        }
                        next_sync = Instant::now() + every;
                    }
                    () = sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    });
}

fn emit_change<R: Runtime>(app: &AppHandle<R>, change: &Change) {
    // A window that is gone cannot hear; the registry already holds the change.
    let _ = app.emit(REGISTRY_CHANGED, change);
}

/// Syncs every app from the store and sums it up for the window.
pub async fn sync_once(ws: &airlock_core::Workspace) -> SyncStatus {
    let result = ws.sync().await;
    let at = ws.now().to_string();
    match result {
        Ok(apps) => SyncStatus {
            at,
            new_entries: apps.iter().map(|a| a.new_entries as u32).sum(),
            pending: apps
                .iter()
                .flat_map(|a| {
                    a.pending
                        .iter()
                        .map(move |p| format!("{}/{}", a.app, p.channel))
                })
                .collect(),
            error: None,
        },
        Err(e) => SyncStatus {
            at,
            new_entries: 0,
            pending: Vec::new(),
            error: Some(ErrorReport::from(&e)),
        },
    }
}
