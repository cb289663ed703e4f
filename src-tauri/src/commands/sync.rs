//! Re-reading the store on demand: the same sync, and the same report, as the timer's in
//! `events.rs` (a failure is in the report, as the window shows it either way).

use crate::error::CommandResult;
use crate::events::{SyncStatus, sync_once};
use crate::state::Console;
use tauri::State;

#[tauri::command]
#[specta::specta]
pub async fn sync_now(console: State<'_, Console>) -> CommandResult<SyncStatus> {
    Ok(sync_once(&*console.workspace().await?).await)
}
