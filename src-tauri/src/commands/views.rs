//! Reads for the screens, from the registry (no store request), plus the log check.

use crate::error::CommandResult;
use crate::state::Console;
use airlock_core::charts::RolloutChart;
use airlock_core::detail::ReleaseDetail;
use airlock_core::views::{AppOverview, LogPage, LogQuery, ReleaseView};
use tauri::State;

#[tauri::command]
#[specta::specta]
pub async fn overview(console: State<'_, Console>) -> CommandResult<Vec<AppOverview>> {
    Ok(console.workspace().await?.overview().await?)
}

#[tauri::command]
#[specta::specta]
pub async fn releases(console: State<'_, Console>, app: String) -> CommandResult<Vec<ReleaseView>> {
    Ok(console.workspace().await?.releases_view(&app).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn release_detail(
    console: State<'_, Console>,
    app: String,
    version: String,
    channel: Option<String>,
) -> CommandResult<ReleaseDetail> {
    let ws = console.workspace().await?;
    Ok(ws
        .release_detail(&app, &version, channel.as_deref())
        .await?)
}

#[tauri::command]
#[specta::specta]
pub async fn log_page(
    console: State<'_, Console>,
    app: String,
    query: LogQuery,
) -> CommandResult<LogPage> {
    Ok(console.workspace().await?.log_page(&app, &query).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn rollout_chart(
    console: State<'_, Console>,
    app: String,
    channel: String,
) -> CommandResult<RolloutChart> {
    Ok(console
        .workspace()
        .await?
        .rollout_chart(&app, &channel)
        .await?)
}

/// Reads the app's log from the store and checks every entry (chain, signatures, rules):
/// the seq of the newest entry, or the integrity error naming the broken seq.
#[tauri::command]
#[specta::specta]
pub async fn check_log(console: State<'_, Console>, app: String) -> CommandResult<u64> {
    let ws = console.workspace().await?;
    Ok(ws.load(&app).await?.head.map_or(0, |h| h.seq))
}
