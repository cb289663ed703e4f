//! The canary gate's switch and its last pass (src-tauri/src/gate.rs runs the loop).

use crate::error::CommandResult;
use crate::gate::{self, GateStatus};
use crate::state::Console;
use tauri::State;

#[tauri::command]
#[specta::specta]
pub async fn gate_status(console: State<'_, Console>) -> CommandResult<GateStatus> {
    let mut s = console.gate.status();
    if let Some(ws) = console.current().await {
        s.interval_seconds = gate::interval(&ws);
    }
    Ok(s)
}

/// Turns the gate's loop on (a pass runs at once) or off. A viewer cannot turn it on.
#[tauri::command]
#[specta::specta]
pub async fn set_gate(console: State<'_, Console>, on: bool) -> CommandResult<GateStatus> {
    let generation = console.generation.load(std::sync::atomic::Ordering::SeqCst);
    let ws = console.workspace().await?;
    if on {
        ws.may_watch()?;
    }
    console.gate.set(on, generation, gate::interval(&ws))?;
    Ok(console.gate.status())
}

/// One pass now, on or off (as `airlock watch --once`); returns the status with it.
#[tauri::command]
#[specta::specta]
pub async fn gate_pass_now(console: State<'_, Console>) -> CommandResult<GateStatus> {
    let generation = console.generation.load(std::sync::atomic::Ordering::SeqCst);
    let ws = console.workspace().await?;
    Ok(gate::pass_now(&console, &ws, generation).await)
}
