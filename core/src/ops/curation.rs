//! Decisions about releases that do not move devices by themselves: approvals (by someone
//! other than the author, per release and channel, surviving a revert), quarantine (a
//! release is never served again), archiving (status only; blobs stay until `gc`), and
//! re-signing a channel's unchanged pointer before it expires.

use super::Committed;
use crate::error::{Error, Result};
use crate::log::Event;
use crate::state::Placement;
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
        self.commit(app, by, |state, _| {
            let release = state.release(version)?;
            if release.author == by.actor {
                return Err(Error::Refused(format!(
                    "{} authored {app} {version}; an approval must come from someone else",
                    by.actor
                )));
            }
            if release.quarantined.is_some() {
                return Err(Error::Refused(format!("{app} {version} is quarantined")));
            }
            if state
                .approvals
                .iter()
                .any(|a| a.version == version && a.channel == channel && a.actor == by.actor)
            {
                return Err(Error::Refused(format!(
                    "{} already approved {app} {version} for {channel}",
                    by.actor
                )));
            }
            Ok(Event::Approved {
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
            let release = state.release(version)?;
            if release.quarantined.is_some() {
                return Err(Error::Refused(format!(
                    "{app} {version} is already quarantined"
                )));
            }
            for (name, c) in &state.channels {
                if c.current.as_deref() == Some(version)
                    || c.rollout.as_ref().is_some_and(|r| r.version == version)
                {
                    return Err(Error::Refused(format!(
                        "{app} {version} is being served in {name}; roll back or revert there first"
                    )));
                }
            }
            Ok(Event::Quarantined {
                version: version.to_string(),
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
        self.commit(app, by, |state, _| {
            state.release(version)?;
            match state.placement(version, channel) {
                Some(Placement::RollbackReady | Placement::Reverted) => {
                    Ok(Event::Archived { version: version.to_string(), channel: channel.to_string() })
                }
                Some(p) => Err(Error::Refused(format!("{app} {version} is {p:?} in {channel}; only rollback-ready or reverted releases can be archived"))),
                None => Err(Error::NotFound(format!("{app} {version} was never in {channel}"))),
            }
        })
        .await
    }

    /// Re-signs an unchanged pointer with a fresh expiry.
    pub async fn resign(&self, by: &Attribution, app: &str, channel: &str) -> Result<Committed> {
        self.config.channel(channel)?;
        self.commit(app, by, |state, _| {
            if state.channel(channel).served.is_none() {
                return Err(Error::Refused(format!(
                    "{app} has never served anything in {channel}"
                )));
            }
            Ok(Event::PointerResigned {
                channel: channel.to_string(),
            })
        })
        .await
    }
}
