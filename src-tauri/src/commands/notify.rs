//! Notifications in Settings (core: ops/notify.rs): which audiences have a webhook and a
//! signing secret (never their values), setting them straight into the keychain, removing
//! them, and a test message.

use crate::error::CommandResult;
use crate::state::Console;
use airlock_core::notify::outbox::Attempt;
use airlock_core::notify::{Audience, Format};
use serde::Serialize;
use tauri::State;

#[derive(Clone, Debug, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct AudienceStatus {
    pub audience: Audience,
    pub url_set: bool,
    pub secret_set: bool,
    pub format: Format,
    /// Why it is off (a `410 Gone`), if it is.
    pub disabled: Option<String>,
}

#[tauri::command]
#[specta::specta]
pub async fn notify_status(console: State<'_, Console>) -> CommandResult<Vec<AudienceStatus>> {
    let ws = console.workspace().await?;
    let settings = ws.notify_settings();
    let mut out = Vec::new();
    for (audience, url_set, secret_set) in ws.notify_status()? {
        out.push(AudienceStatus {
            audience,
            url_set,
            secret_set,
            format: settings.format(audience),
            disabled: ws.notify_disabled(audience).await?,
        });
    }
    Ok(out)
}

/// Stores `audience`'s webhook URL (or, with `secret`, its signing secret) in the keychain.
#[tauri::command]
#[specta::specta]
pub async fn set_notify(
    console: State<'_, Console>,
    audience: Audience,
    value: String,
    secret: bool,
) -> CommandResult<()> {
    let ws = console.workspace().await?;
    ws.set_notify(audience, &value, secret).await?;
    Ok(())
}

#[tauri::command]
#[specta::specta]
pub async fn delete_notify(console: State<'_, Console>, audience: Audience) -> CommandResult<bool> {
    Ok(console.workspace().await?.delete_notify(audience)?)
}

#[tauri::command]
#[specta::specta]
pub async fn test_notify(
    console: State<'_, Console>,
    audience: Audience,
) -> CommandResult<Attempt> {
    Ok(console.workspace().await?.notify_test(audience).await?)
}
