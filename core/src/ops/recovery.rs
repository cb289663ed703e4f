//! Rollback: point a channel's current back at a known-good release and quarantine the bad
//! one, ending any rollout in progress, so every device lands on the known-good version.
//! Before the log entry is written the target is proven intact in the channel's store — its
//! statement verifies and matches the pinned hash, its manifest matches the statement, and
//! every blob is either recorded in the registry as uploaded and verified there (blobs of
//! rollback-ready releases are never deleted) or fetched and hashed — so a rollback never
//! points devices at something broken, and on S3 it costs two reads, not one per file.

use super::Committed;
use crate::error::{Error, Result};
use crate::log::{Event, Withdrawal};
use crate::state::{AppState, Placement};
use crate::workspace::{Attribution, Workspace};
use airlock_protocol::digest::sha256_hex;
use airlock_protocol::dsse::{Envelope, RELEASE_PAYLOAD_TYPE};
use airlock_protocol::layout;
use airlock_protocol::manifest::Manifest;
use airlock_protocol::statement::ReleaseStatement;

impl Workspace {
    pub async fn rollback(
        &self,
        by: &Attribution,
        app: &str,
        channel: &str,
        to: Option<&str>,
    ) -> Result<Committed> {
        self.config.channel(channel)?;
        let state = self.load(app).await?;
        let target = rollback_target(&state, channel, to)?;
        let withdrawn = withdrawals(&state, channel);
        self.verify_intact(&state, &target, channel).await?;
        for w in &withdrawn {
            if let Some(v) = &w.current {
                self.verify_intact(&state, v, &w.channel).await?;
            }
        }
        self.commit(app, by, |state, _| {
            let fresh = rollback_target(state, channel, to)?;
            if fresh != target || withdrawals(state, channel) != withdrawn {
                return Err(Error::Conflict(format!(
                    "{app} changed while the rollback of {channel} to {target} was being checked; \
                     run it again"
                )));
            }
            let c = state.channel(channel);
            Ok(Event::RolledBack {
                channel: channel.to_string(),
                from: c.current.clone(),
                to: target.clone(),
                ended_rollout: c.rollout.map(|r| r.version),
                withdrawn: withdrawn.clone(),
            })
        })
        .await
    }

    /// Proves a release is complete and untampered in `channel`'s store.
    pub async fn verify_intact(
        &self,
        state: &AppState,
        version: &str,
        channel: &str,
    ) -> Result<()> {
        let release = state.release(version)?;
        let app = &state.app;
        let store = self.channel_store(channel)?.clone();
        self.place_release(state, version, &store).await?;
        let store = store.as_ref();
        let fetch =
            |key: String| async move {
                store.get(&key).await?.map(|o| o.bytes).ok_or_else(|| {
                    Error::Integrity(format!("{key} is missing from {}", store.url()))
                })
            };
        let statement_bytes = fetch(layout::statement_key(app, version)).await?;
        if !release.release.matches(&statement_bytes) {
            return Err(Error::Integrity(format!(
                "the statement of {app} {version} does not match the log"
            )));
        }
        let signer = self.signer().await?;
        let payload = Envelope::from_bytes(&statement_bytes)?
            .verify(
                RELEASE_PAYLOAD_TYPE,
                std::slice::from_ref(signer.public_key()),
            )
            .map_err(|e| Error::Integrity(format!("the statement of {app} {version}: {e}")))?;
        let statement = ReleaseStatement::from_payload(&payload)?;
        let manifest_bytes = fetch(layout::manifest_key(app, version)).await?;
        if !statement.manifest.matches(&manifest_bytes) {
            return Err(Error::Integrity(format!(
                "the manifest of {app} {version} does not match its statement"
            )));
        }
        let manifest = Manifest::from_bytes(&manifest_bytes)?;
        manifest.check()?;
        let known = self.registry.known_blobs(store.id()).await?;
        let mut checked = Vec::new();
        for file in manifest.files.iter().filter(|f| !known.contains(&f.sha256)) {
            let bytes = fetch(layout::blob_key(&file.sha256)).await?;
            if sha256_hex(&bytes) != file.sha256 || bytes.len() as u64 != file.size {
                return Err(Error::Integrity(format!(
                    "blob {} ({}) of {app} {version} is corrupt",
                    file.sha256, file.path
                )));
            }
            checked.push((file.sha256.clone(), file.size));
        }
        self.registry.add_known_blobs(store.id(), &checked).await
    }
}

/// The other channels serving the release a rollback of `channel` quarantines (its current
/// there, or its rollout), and what each serves instead: its newest known-good release, or
/// nothing (back to the built-in bundle) if it has none.
fn withdrawals(state: &AppState, channel: &str) -> Vec<Withdrawal> {
    let Some(bad) = state.channel(channel).current else {
        return Vec::new();
    };
    state
        .channels
        .iter()
        .filter(|(name, _)| name.as_str() != channel)
        .filter(|(_, c)| {
            c.current.as_ref() == Some(&bad) || c.rollout.as_ref().is_some_and(|r| r.version == bad)
        })
        .map(|(name, c)| Withdrawal {
            channel: name.clone(),
            current: if c.current.as_ref() == Some(&bad) {
                state
                    .rollback_candidates(name)
                    .into_iter()
                    .find(|v| *v != bad)
            } else {
                c.current.clone()
            },
        })
        .collect()
}

fn rollback_target(state: &AppState, channel: &str, to: Option<&str>) -> Result<String> {
    let app = &state.app;
    let c = state.channel(channel);
    let Some(current) = c.current.as_deref() else {
        return Err(Error::Refused(format!(
            "{app} has no current release in {channel}; to stop a partial rollout use `airlock revert`"
        )));
    };
    match to {
        Some(v) => {
            let release = state.release(v)?;
            if release.quarantined.is_some() {
                return Err(Error::Refused(format!(
                    "{app} {v} is quarantined and cannot be rolled back to"
                )));
            }
            if v == current {
                return Err(Error::Refused(format!(
                    "{app} {v} is already current in {channel}"
                )));
            }
            match state.placement(v, channel) {
                Some(Placement::RollbackReady | Placement::Archived)
                    if state.channel(channel).ever_current.contains(v) =>
                {
                    Ok(v.to_string())
                }
                _ => Err(Error::Refused(format!(
                    "{app} {v} was never current in {channel}, so it is not known to be good there"
                ))),
            }
        }
        None => state
            .rollback_candidates(channel)
            .into_iter()
            .next()
            .ok_or_else(|| {
                Error::Refused(format!(
                    "{app} has no rollback-ready release in {channel} (nothing was current there \
                 before {current})"
                ))
            }),
    }
}
