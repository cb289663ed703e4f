//! The Settings screen: the workspace's settings, typed edits written to airlock.toml
//! (comments kept) and applied at once by reopening the workspace, the connection test, and
//! AWS keys typed into the window, which go straight to the keychain and never come back.

use crate::error::{CommandError, CommandResult};
use crate::state::Console;
use airlock_core::aws::credentials::{self, CredentialsStatus, StaticKeys};
use airlock_core::config::Config;
use airlock_core::keychain::{Keychain, SecretServiceKeychain};
use airlock_core::ops::check::ConnectionReport;
use airlock_core::settings::SettingEdit;
use airlock_core::views::WorkspaceInfo;
use airlock_core::{Error, ErrorKind};
use std::sync::Arc;
use tauri::State;

#[tauri::command]
#[specta::specta]
pub async fn settings(console: State<'_, Console>) -> CommandResult<Config> {
    Ok(console.workspace().await?.config().clone())
}

/// Applies `edits` all or none, then reopens the workspace with them.
#[tauri::command]
#[specta::specta]
pub async fn edit_settings(
    console: State<'_, Console>,
    edits: Vec<SettingEdit>,
) -> CommandResult<WorkspaceInfo> {
    let dir = console.workspace().await?.dir().to_path_buf();
    Config::edit(&dir, &edits)?;
    let ws = console.open(&dir).await?;
    Ok(console.info(&ws))
}

#[tauri::command]
#[specta::specta]
pub async fn test_connection(console: State<'_, Console>) -> CommandResult<ConnectionReport> {
    Ok(console.workspace().await?.check_connection().await?)
}

/// Runs `f` with the console's keychain on a blocking thread (keychain calls block).
async fn with_keychain<T: Send + 'static>(
    console: &Console,
    f: impl FnOnce(&dyn Keychain) -> airlock_core::Result<T> + Send + 'static,
) -> CommandResult<T> {
    let given = console.services().keychain;
    tokio::task::spawn_blocking(move || {
        let keychain: Arc<dyn Keychain> = match given {
            Some(k) => k,
            None => Arc::new(SecretServiceKeychain::connect()?),
        };
        f(keychain.as_ref())
    })
    .await
    .map_err(|e| {
        CommandError::shell(
            ErrorKind::Keychain,
            format!("the keychain call failed: {e}"),
        )
    })?
    .map_err(CommandError::from)
}

#[tauri::command]
#[specta::specta]
pub async fn credentials_status(console: State<'_, Console>) -> CommandResult<CredentialsStatus> {
    let setting = console.workspace().await?.config().credentials.clone();
    with_keychain(&console, move |k| {
        credentials::status(k, setting.as_deref())
    })
    .await
}

/// What the credentials form sends; the secret is used once, to store it.
#[derive(serde::Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct NewCredentials {
    pub name: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for NewCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCredentials")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Stores AWS keys in the keychain as `keychain:<name>` and makes the workspace use them.
#[tauri::command]
#[specta::specta]
pub async fn set_credentials(
    console: State<'_, Console>,
    keys: NewCredentials,
) -> CommandResult<CredentialsStatus> {
    let dir = console.workspace().await?.dir().to_path_buf();
    let name = keys.name.trim().to_string();
    if name.is_empty() {
        return Err(Error::InvalidInput("name the keychain entry (e.g. default)".into()).into());
    }
    let static_keys = StaticKeys::new(
        &keys.access_key_id,
        keys.secret_access_key,
        keys.session_token,
    )?;
    let setting = format!("keychain:{name}");
    let stored = name.clone();
    with_keychain(&console, move |k| {
        credentials::save(k, &stored, &static_keys)
    })
    .await?;
    Config::edit(
        &dir,
        &[SettingEdit::Credentials {
            value: Some(setting.clone()),
        }],
    )?;
    console.open(&dir).await?;
    with_keychain(&console, move |k| credentials::status(k, Some(&setting))).await
}
