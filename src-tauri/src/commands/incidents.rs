//! Incidents (core: ops/incident.rs): the list, one incident, opening one by hand, ticking
//! a checklist item, closing, and the postmortem saved through the native dialog.

use super::attribution;
use super::workspace::pick;
use crate::error::{CommandError, CommandResult};
use crate::state::{Console, Pick};
use airlock_core::ErrorKind;
use airlock_core::log::entry::ChecklistItem;
use airlock_core::ops::incident::{IncidentView, OpenRequest};
use tauri::State;

/// Incidents of every app, open ones first then newest first; closed ones with `all`.
#[tauri::command]
#[specta::specta]
pub async fn incidents(console: State<'_, Console>, all: bool) -> CommandResult<Vec<IncidentView>> {
    let mut list = console.workspace().await?.incidents(None, all).await?;
    list.sort_by_key(|i| (!i.open, std::cmp::Reverse(i.number)));
    Ok(list)
}

#[tauri::command]
#[specta::specta]
pub async fn incident(
    console: State<'_, Console>,
    app: String,
    number: u64,
) -> CommandResult<IncidentView> {
    Ok(console.workspace().await?.incident(&app, number).await?)
}

/// Opens an incident by hand; `reason` (what was seen) is required.
#[tauri::command]
#[specta::specta]
pub async fn open_incident(
    console: State<'_, Console>,
    app: String,
    channel: Option<String>,
    version: Option<String>,
    severity: u8,
    reason: String,
) -> CommandResult<u64> {
    let ws = console.workspace().await?;
    if reason.trim().is_empty() {
        return Err(CommandError::shell(
            ErrorKind::InvalidInput,
            "say what was seen: an incident needs a reason",
        ));
    }
    let by = attribution(&console, &ws, Some(&reason))?;
    let req = OpenRequest {
        app,
        channel,
        version,
        severity,
    };
    Ok(ws.open_incident(&by, &req).await?.entry.entry.seq)
}

/// Ticks one checklist item; who and when are recorded in the log entry.
#[tauri::command]
#[specta::specta]
pub async fn tick_incident(
    console: State<'_, Console>,
    app: String,
    number: u64,
    item: ChecklistItem,
    note: Option<String>,
) -> CommandResult<IncidentView> {
    let ws = console.workspace().await?;
    let by = attribution(&console, &ws, None)?;
    ws.tick_incident(&by, &app, number, item, note.as_deref())
        .await?;
    Ok(ws.incident(&app, number).await?)
}

/// Closes an incident; with items unchecked, `reason` must say why.
#[tauri::command]
#[specta::specta]
pub async fn close_incident(
    console: State<'_, Console>,
    app: String,
    number: u64,
    reason: Option<String>,
) -> CommandResult<IncidentView> {
    let ws = console.workspace().await?;
    let by = attribution(&console, &ws, reason.as_deref())?;
    ws.close_incident(&by, &app, number).await?;
    Ok(ws.incident(&app, number).await?)
}

/// Writes the incident's postmortem where the person chooses; the path written, or `None`
/// when they cancelled.
#[tauri::command]
#[specta::specta]
pub async fn export_postmortem(
    console: State<'_, Console>,
    app: String,
    number: u64,
) -> CommandResult<Option<String>> {
    let ws = console.workspace().await?;
    let text = ws.postmortem(&app, number).await?;
    let name = format!("postmortem-{app}-{number}.md");
    let Some(path) = pick(&console, Pick::SaveMarkdown(name)).await? else {
        return Ok(None);
    };
    std::fs::write(&path, text)
        .map_err(|e| CommandError::shell(ErrorKind::InvalidInput, format!("{path}: {e}")))?;
    Ok(Some(path))
}
