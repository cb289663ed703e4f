//! Notifications to three audiences, each a webhook (Slack-compatible, or a documented JSON
//! body signed with Standard Webhooks headers) whose URL and signing secret live in the OS
//! keychain only:
//!
//! - **engineering**: every log entry;
//! - **releases**: a release first reaching a protected channel, each expansion to 100 %,
//!   each revert or rollback — version, what changed (its description), the share, the ETA
//!   to 100 % from the plan and its windows;
//! - **incidents**: opened (severity, impact), each checklist item, closed (resolution).
//!
//! [`message`] derives the messages from log entries (pure: the same history gives the
//! same messages) and renders the bodies; [`outbox`] keeps them in SQLite (migration 0011)
//! with every attempt. Delivery, claims and retries are in ops/notify.rs.

pub mod message;
pub mod outbox;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Who a message is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum Audience {
    Engineering,
    Releases,
    Incidents,
}

impl Audience {
    pub const ALL: [Audience; 3] = [
        Audience::Engineering,
        Audience::Releases,
        Audience::Incidents,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Audience::Engineering => "engineering",
            Audience::Releases => "releases",
            Audience::Incidents => "incidents",
        }
    }

    pub fn parse(key: &str) -> Result<Audience> {
        Audience::ALL
            .into_iter()
            .find(|a| a.key() == key)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "unknown audience {key:?}; the audiences are engineering, releases and incidents"
                ))
            })
    }
}

/// How a webhook's body is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum Format {
    /// Slack Block Kit with a plain `text` fallback (Slack, Mattermost, Teams' Slack mode).
    #[default]
    Slack,
    /// The JSON body documented in docs/NOTIFICATIONS.md, signed with Standard Webhooks
    /// headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
    Json,
}

/// `[notify.<audience>]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AudienceSettings {
    #[serde(default)]
    pub format: Format,
}

/// `[notify]` in airlock.toml.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct NotifySettings {
    /// The most a changing command spends sending after its own work, in seconds (default
    /// 3; 0 leaves everything for later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_seconds: Option<f64>,
    /// The wait before the first retry, in seconds (default 30; it doubles, with jitter, up
    /// to an hour).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engineering: Option<AudienceSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub releases: Option<AudienceSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incidents: Option<AudienceSettings>,
}

impl NotifySettings {
    pub fn format(&self, a: Audience) -> Format {
        let s = match a {
            Audience::Engineering => &self.engineering,
            Audience::Releases => &self.releases,
            Audience::Incidents => &self.incidents,
        };
        s.as_ref().map(|s| s.format).unwrap_or_default()
    }

    pub fn budget(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.budget_seconds.unwrap_or(3.0).clamp(0.0, 600.0))
    }
}

/// The keychain service holding webhook URLs and signing secrets.
pub const KEYCHAIN_SERVICE: &str = "airlock-notify";

/// The keychain account of `audience`'s URL for the store `store` (or its signing secret).
pub fn account(store: &str, audience: Audience, secret: bool) -> String {
    format!(
        "{store} {}{}",
        audience.key(),
        if secret { " signing-secret" } else { "" }
    )
}
