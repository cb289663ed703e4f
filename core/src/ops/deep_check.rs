//! `airlock check --deep APP [VERSION]`: re-verifies releases where they are placed — in each
//! channel's store that holds them, the statement against the log's pin and the trusted keys,
//! the manifest against the statement, and every blob by its hash (the same proof a rollback
//! takes of its target). What the registry remembers is not trusted: a bucket writer may have
//! changed any of it since it was checked.

use crate::error::Result;
use crate::workspace::Workspace;
use serde::Serialize;

/// One release in one channel's store.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeepCheck {
    pub version: String,
    pub channel: String,
    pub store: String,
    /// Why it is not intact; `None` when it is.
    pub error: Option<String>,
}

impl Workspace {
    /// Checks `version` (every release when `None`) of `app` in each channel it is placed in.
    pub async fn check_deep(&self, app: &str, version: Option<&str>) -> Result<Vec<DeepCheck>> {
        let state = self.load(app).await?;
        if let Some(v) = version {
            state.release(v)?;
        }
        let mut out = Vec::new();
        for (channel, c) in &state.channels {
            if !self.config.channels.contains_key(channel) {
                continue;
            }
            for placed in c.placements.keys() {
                if version.is_some_and(|v| v != placed) {
                    continue;
                }
                let store = self.channel_store(channel)?.url().to_string();
                let error = self
                    .verify_intact(&state, placed, channel)
                    .await
                    .err()
                    .map(|e| e.to_string());
                out.push(DeepCheck {
                    version: placed.clone(),
                    channel: channel.clone(),
                    store,
                    error,
                });
            }
        }
        Ok(out)
    }
}
