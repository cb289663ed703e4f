//! The Reports screen: the weekly rollup (core: ops/rollup.rs), shown, and written as
//! Markdown, HTML and .eml into the workspace's `reports/` folder on demand.

use crate::error::CommandResult;
use crate::state::Console;
use airlock_core::ops::rollup::{Rollup, Week};
use serde::Serialize;
use tauri::State;

/// A rollup and, once written, where its files are.
#[derive(Clone, Debug, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct RollupReport {
    pub rollup: Rollup,
    pub files: Vec<String>,
}

fn week_of(ws: &airlock_core::Workspace, week: Option<String>) -> airlock_core::Result<Week> {
    match week {
        Some(w) => Week::parse(&w),
        None => Ok(Week::before(ws.now())),
    }
}

/// `week`'s rollup (default: the last whole week), read only.
#[tauri::command]
#[specta::specta]
pub async fn weekly_rollup(
    console: State<'_, Console>,
    week: Option<String>,
) -> CommandResult<RollupReport> {
    let ws = console.workspace().await?;
    // No source configured: the rollup says so; a configured one that fails is an error.
    let source = match ws.kpi_source().await {
        Ok(s) => Some(s),
        Err(e) if e.kind() == airlock_core::ErrorKind::Config => None,
        Err(e) => return Err(e.into()),
    };
    let rollup = ws
        .weekly_rollup(week_of(&ws, week)?, None, source.as_deref())
        .await?;
    Ok(RollupReport {
        rollup,
        files: Vec::new(),
    })
}

/// Writes `week`'s rollup into `<workspace>/reports/`.
#[tauri::command]
#[specta::specta]
pub async fn write_weekly_rollup(
    console: State<'_, Console>,
    week: Option<String>,
) -> CommandResult<RollupReport> {
    let ws = console.workspace().await?;
    let dir = ws.dir().join("reports");
    let (files, paths) = ws
        .write_weekly_rollup(week_of(&ws, week)?, None, &dir)
        .await?;
    Ok(RollupReport {
        rollup: files.rollup,
        files: paths.iter().map(|p| p.display().to_string()).collect(),
    })
}
