//! Re-reading the store on demand (the timer in `events.rs` calls the same core function).

use crate::error::CommandResult;
use crate::state::Console;
use airlock_core::ops::sync::AppSync;
use tauri::State;

#[tauri::command]
#[specta::specta]
pub async fn sync_now(console: State<'_, Console>) -> CommandResult<Vec<AppSync>> {
    Ok(console.workspace().await?.sync().await?)
}
