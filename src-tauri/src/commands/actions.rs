//! Changes to a rollout: a preview for the confirmation dialog, then the action itself,
//! answered with what devices now see (read back from the store).

use super::attribution;
use crate::error::CommandResult;
use crate::progress::Throttled;
use crate::state::Console;
use airlock_core::Expectation;
use airlock_core::ops::action::{Action, ActionOutcome};
use airlock_core::ops::preview::Preview;
use airlock_core::progress::{ProgressEvent, reporting};
use std::sync::Arc;
use tauri::State;
use tauri::ipc::Channel;

#[tauri::command]
#[specta::specta]
pub async fn preview_action(console: State<'_, Console>, action: Action) -> CommandResult<Preview> {
    let ws = console.workspace().await?;
    let by = attribution(&console, &ws, None)?;
    Ok(ws.preview_action(&by, &action).await?)
}

/// `command_id` (chosen by the window when the dialog opens) makes a retry of the same
/// confirmation report the entry it already wrote instead of acting twice;
/// `expect_basis_points` (the rollout's share the preview showed) makes core refuse with a
/// conflict when another console moved the rollout in between. The work (placement copies,
/// a rollback target's check, the commit, pointer writes, the CDN wait) streams over
/// `progress`.
#[tauri::command]
#[specta::specta]
pub async fn perform_action(
    console: State<'_, Console>,
    action: Action,
    reason: Option<String>,
    command_id: String,
    expect_basis_points: Option<u32>,
    progress: Channel<ProgressEvent>,
) -> CommandResult<ActionOutcome> {
    let ws = console.workspace().await?;
    let by = attribution(&console, &ws, reason.as_deref())?
        .with_command(&command_id)?
        .expecting(Expectation {
            running: false,
            rollout_id: None,
            basis_points: expect_basis_points,
            current: None,
            never_in: None,
            stay_since: None,
        });
    let sink = Arc::new(Throttled::new(progress));
    let committed = reporting(sink, ws.perform(&by, &action)).await?;
    Ok(ws.outcome(&committed).await?)
}
