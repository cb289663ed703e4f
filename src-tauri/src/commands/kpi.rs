//! The KPI screen and the overview's health column (core: ops/kpi_screen.rs).

use crate::error::CommandResult;
use crate::state::Console;
use airlock_core::charts::Theme;
use airlock_core::ops::adoption::AdoptionReport;
use airlock_core::ops::kpi_charts::ChartRequest;
use airlock_core::ops::kpi_screen::{Health, KpiScreen};
use airlock_protocol::time::Timestamp;
use tauri::State;

/// `channel`'s KPI screen over `from`..`to` (RFC 3339; default: the current rollout, else
/// the last 7 days), its charts drawn `width` pixels wide in `theme`.
#[tauri::command]
#[specta::specta]
pub async fn kpi_screen(
    console: State<'_, Console>,
    app: String,
    channel: String,
    from: Option<String>,
    to: Option<String>,
    theme: Theme,
    width: u32,
) -> CommandResult<KpiScreen> {
    let ws = console.workspace().await?;
    let time = |t: Option<String>| t.as_deref().map(Timestamp::parse).transpose();
    let req = ChartRequest {
        app,
        channel,
        from: time(from).map_err(airlock_core::Error::from)?,
        to: time(to).map_err(airlock_core::Error::from)?,
        theme,
        width: width.clamp(480, 2400),
    };
    Ok(ws.kpi_screen(&req).await?)
}

/// How far `channel`'s current release has reached (1 h, 24 h, 72 h after 100 %).
#[tauri::command]
#[specta::specta]
pub async fn adoption(
    console: State<'_, Console>,
    app: String,
    channel: String,
) -> CommandResult<AdoptionReport> {
    let ws = console.workspace().await?;
    let source = ws.kpi_source().await?;
    Ok(ws.adoption(&app, &channel, source.as_ref()).await?)
}

/// Each channel's health in `app`, for the overview.
#[tauri::command]
#[specta::specta]
pub async fn app_health(console: State<'_, Console>, app: String) -> CommandResult<Vec<Health>> {
    Ok(console.workspace().await?.health(&app).await?)
}
