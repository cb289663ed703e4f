//! Re-reading the store on demand: the same sync, and the same report, as the timer's in
//! `events.rs` (a failure is in the report, as the window shows it either way).

use crate::error::CommandResult;
use crate::events::{SyncStatus, sync_once};
use crate::progress::Throttled;
use crate::state::Console;
use airlock_core::progress::{ProgressEvent, reporting};
use std::sync::Arc;
use tauri::State;
use tauri::ipc::Channel;

/// The entries read, and any pointer repaired, stream over `progress`.
#[tauri::command]
#[specta::specta]
pub async fn sync_now(
    console: State<'_, Console>,
    progress: Channel<ProgressEvent>,
) -> CommandResult<SyncStatus> {
    let ws = console.workspace().await?;
    let sink = Arc::new(Throttled::new(progress));
    Ok(reporting(sink, sync_once(&ws)).await)
}
