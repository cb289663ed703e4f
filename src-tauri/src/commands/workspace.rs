//! Opening a workspace: the one given on the command line or used last, a folder the user
//! picks, a new one (local folder or S3, with the connection test init runs), or the demo.
//! Files and folders are picked with the native dialog, here in Rust.

use crate::error::{CommandError, CommandResult};
use crate::state::Console;
use crate::state::Pick;
use airlock_core::config::Config;
use airlock_core::error::ErrorReport;
use airlock_core::views::WorkspaceInfo;
use airlock_core::{ErrorKind, Workspace};
use std::path::PathBuf;
use tauri::State;

/// The open workspace, or `None` (the first-run screen).
#[tauri::command]
#[specta::specta]
pub async fn current_workspace(
    console: State<'_, Console>,
) -> CommandResult<Option<WorkspaceInfo>> {
    Ok(console.current().await.map(|ws| console.info(&ws)))
}

/// The workspace opened last time, if it is still there.
#[tauri::command]
#[specta::specta]
pub fn recent_workspace(console: State<'_, Console>) -> Option<String> {
    console.recent().map(|d| d.display().to_string())
}

/// Why the workspace named at start (`--workspace`, or the last one) did not open.
#[tauri::command]
#[specta::specta]
pub fn startup_error(console: State<'_, Console>) -> Option<ErrorReport> {
    console.startup_error()
}

/// Opens the workspace in `dir`; `viewer` opens it read-only whatever its airlock.toml says
/// (a product lead looking at a release manager's workspace).
#[tauri::command]
#[specta::specta]
pub async fn open_workspace(
    console: State<'_, Console>,
    dir: String,
    viewer: bool,
) -> CommandResult<WorkspaceInfo> {
    let ws = console.open_as(&PathBuf::from(dir), viewer).await?;
    Ok(console.info(&ws))
}

/// What the "New workspace" form asks for.
#[derive(Debug, serde::Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct NewWorkspace {
    /// The folder for airlock.toml and the registry.
    pub dir: String,
    /// `file:///absolute/folder` or `s3://bucket/prefix`.
    pub store: String,
    /// `local`, `local:<name>` or `kms:<key>`.
    pub signer: String,
    pub actor: String,
}

/// Creates a workspace (init checks that the store honours create-only and compare-and-swap
/// writes first) and opens it.
#[tauri::command]
#[specta::specta]
pub async fn create_workspace(
    console: State<'_, Console>,
    workspace: NewWorkspace,
) -> CommandResult<WorkspaceInfo> {
    let dir = PathBuf::from(workspace.dir.trim());
    std::fs::create_dir_all(&dir).map_err(|e| {
        CommandError::shell(
            ErrorKind::InvalidInput,
            format!("cannot create {}: {e}", dir.display()),
        )
    })?;
    let mut config = Config::new(workspace.store.trim(), workspace.signer.trim());
    config.actor = Some(workspace.actor.trim().to_string()).filter(|a| !a.is_empty());
    Workspace::init(&dir, config, console.services(), workspace.actor.trim()).await?;
    let ws = console.open(&dir).await?;
    Ok(console.info(&ws))
}

/// Opens the demo workspace in the user's data folder, creating it the first time.
#[tauri::command]
#[specta::specta]
pub async fn open_demo(console: State<'_, Console>) -> CommandResult<WorkspaceInfo> {
    let ws = console.open_demo().await?;
    Ok(console.info(&ws))
}

/// In debug builds only (what the end-to-end tests run), `AIRLOCK_CONSOLE_TEST_PICK` names a
/// file whose text answers the native dialog, which WebDriver cannot drive (the test writes
/// the path it wants picked there before clicking). Release builds always show the dialog.
fn test_pick() -> Option<String> {
    if !cfg!(debug_assertions) {
        return None;
    }
    let file = std::env::var_os("AIRLOCK_CONSOLE_TEST_PICK")?;
    let answer = std::fs::read_to_string(file).ok()?;
    Some(answer.trim().to_string()).filter(|a| !a.is_empty())
}

/// A folder, from the native dialog (`None`: cancelled).
#[tauri::command]
#[specta::specta]
pub async fn pick_folder(console: State<'_, Console>) -> CommandResult<Option<String>> {
    pick(&console, Pick::Folder).await
}

/// A bundle: a folder (`folder: true`), or a `.zip` / `.tar.gz` file.
#[tauri::command]
#[specta::specta]
pub async fn pick_bundle(
    console: State<'_, Console>,
    folder: bool,
) -> CommandResult<Option<String>> {
    pick(&console, if folder { Pick::Folder } else { Pick::Archive }).await
}

pub(crate) async fn pick(console: &Console, what: Pick) -> CommandResult<Option<String>> {
    if let Some(p) = test_pick() {
        return Ok(Some(p));
    }
    let picker = console.picker.get().ok_or_else(|| {
        CommandError::shell(ErrorKind::InvalidInput, "this console has no file dialog")
    })?;
    Ok(picker(what)
        .await
        .ok()
        .flatten()
        .map(|p| p.display().to_string()))
}
