//! Publishing a bundle from the window: progress streams over an IPC channel (at most ~20
//! updates a second, every step and every phase's last update always sent), and the
//! publish can be cancelled until its log entry is written.

use super::attribution;
use crate::error::CommandResult;
use crate::progress::Throttled;
use crate::state::Console;
use airlock_core::ops::release::{ReleaseOutcome, ReleaseRequest};
use airlock_core::progress::{ProgressEvent, reporting};
use std::sync::Arc;
use tauri::State;
use tauri::ipc::Channel;

/// Publishes `request` (into Staging by default); `id` names it for `cancel_publish`.
#[tauri::command]
#[specta::specta]
pub async fn publish(
    console: State<'_, Console>,
    request: ReleaseRequest,
    id: String,
    progress: Channel<ProgressEvent>,
) -> CommandResult<ReleaseOutcome> {
    let ws = console.workspace().await?;
    let by = attribution(&console, &ws, None)?;
    let cancel = console.start_publish(&id);
    let sink = Arc::new(Throttled::new(progress));
    // The hashing and uploads report to `sink` directly; the commit and the pointer writes
    // that follow report through the scope.
    let outcome = reporting(
        sink.clone(),
        ws.release_cancellable(&by, &request, sink.as_ref(), &cancel),
    )
    .await;
    console.end_publish(&id);
    Ok(outcome?)
}

/// Cancels the publish `id`: true if it was running (it stops before its log entry).
#[tauri::command]
#[specta::specta]
pub fn cancel_publish(console: State<'_, Console>, id: String) -> bool {
    console.cancel_publish(&id)
}
