//! Decisions about releases that do not move devices by themselves: approvals and
//! rejections (by someone other than the author, per release and channel, an approval
//! surviving a revert, a rejection undone only by a later approval), quarantine (a
//! release is never served again), archiving (status only; blobs stay until `gc`), and
//! re-signing a channel's unchanged pointer before it expires. Whether each is allowed is
//! decided in `rules`.

use super::Committed;
use crate::error::Result;
use crate::log::Event;
use crate::workspace::{Attribution, Workspace};

impl Workspace {
    pub async fn approve(
        &self,
        by: &Attribution,
        app: &str,
        version: &str,
        channel: &str,
    ) -> Result<Committed> {
        self.config.channel(channel)?;
        self.commit(app, by, |_, _| {
            Ok(Event::Approved {
                version: version.to_string(),
                channel: channel.to_string(),
            })
        })
        .await
    }

    /// Turns a release down for a protected channel, with a reason (`by.reason`): it cannot
    /// be promoted there until someone approves it again.
    pub async fn reject(
        &self,
        by: &Attribution,
        app: &str,
        version: &str,
        channel: &str,
    ) -> Result<Committed> {
        self.config.channel(channel)?;
        self.commit(app, by, |_, _| {
            Ok(Event::Rejected {
                version: version.to_string(),
                channel: channel.to_string(),
            })
        })
        .await
    }

    pub async fn quarantine(
        &self,
        by: &Attribution,
        app: &str,
        version: &str,
    ) -> Result<Committed> {
        self.commit(app, by, |state, _| {
            Ok(Event::Quarantined {
                version: version.to_string(),
                ended_holdouts: crate::rules::holdouts_keeping(state, version),
            })
        })
        .await
    }

    pub async fn archive(
        &self,
        by: &Attribution,
        app: &str,
        version: &str,
        channel: &str,
    ) -> Result<Committed> {
        self.config.channel(channel)?;
        self.commit(app, by, |_, _| {
            Ok(Event::Archived {
                version: version.to_string(),
                channel: channel.to_string(),
            })
        })
        .await
    }

    /// Re-signs an unchanged pointer with a fresh expiry.
    pub async fn resign(&self, by: &Attribution, app: &str, channel: &str) -> Result<Committed> {
        self.config.channel(channel)?;
        self.commit(app, by, |_, _| {
            Ok(Event::PointerResigned {
                channel: channel.to_string(),
            })
        })
        .await
    }

    /// Re-signs every channel pointer (of every app, in the channels this workspace knows)
    /// that is missing or expires within `within_seconds`: what a scheduler runs so that no
    /// pointer ever expires. Each re-sign is its own command; a failure in one is reported
    /// and the rest still run.
    pub async fn resign_expiring(
        &self,
        by: &Attribution,
        within_seconds: i64,
    ) -> Result<Vec<(String, String, Result<Committed>)>> {
        let deadline = self.clock.now().plus_seconds(within_seconds);
        let mut out = Vec::new();
        for app in self.apps().await? {
            let state = self.load(&app).await?;
            for channel in self.config.channels.keys() {
                if state.channel(channel).served.is_none() {
                    continue;
                }
                let key = airlock_protocol::layout::pointer_key(&app, channel);
                let stored = self
                    .channel_store(channel)?
                    .get(&key, airlock_protocol::limits::Cap::POINTER)
                    .await?;
                let due = match stored.map(|o| super::pointer::read_unverified(&o.bytes)) {
                    Some(Ok(p)) => p.expires_at <= deadline,
                    Some(Err(_)) => false, // never overwritten; `status` reports it
                    None => true,
                };
                if due {
                    let done = self.resign(by, &app, channel).await;
                    out.push((app.clone(), channel.clone(), done));
                }
            }
        }
        Ok(out)
    }
}
