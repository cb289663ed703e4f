//! Rollback: point a channel's current back at a known-good release and quarantine the bad
//! one, ending any rollout in progress, so every device lands on the known-good version.
//! Before the log entry is written the target is proven intact in the channel's store — its
//! statement verifies and matches the pinned hash, its manifest matches the statement, and
//! every blob is fetched and hashed, whatever the registry remembers of it (a bucket writer
//! may have replaced one since) — so a rollback never points devices at something broken.

use super::Committed;
use crate::error::{Error, ErrorKind, Result};
use crate::log::Event;
use crate::progress::Task;
use crate::rules::{rollback_target, withdrawals};
use crate::state::AppState;
use crate::workspace::{Attribution, Workspace};
use airlock_protocol::digest::sha256_hex;
use airlock_protocol::dsse::{Envelope, RELEASE_PAYLOAD_TYPE};
use airlock_protocol::layout;
use airlock_protocol::limits::Cap;
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
        self.may_change(&format!("roll back {app}"))?;
        self.config.channel(channel)?;
        let state = self.load(app).await?;
        let target = rollback_target(&state, channel, to)?;
        let withdrawn = withdrawals(&state, channel);
        self.verify_intact(&state, &target, channel).await?;
        for w in &withdrawn {
            if let Some(v) = &w.current {
                match self.verify_intact(&state, v, &w.channel).await {
                    Ok(()) => {}
                    // Another channel's store being down, or unknown to this desktop, never
                    // holds up the rollback: that channel's pointer is reported pending.
                    Err(e)
                        if matches!(
                            e.kind(),
                            ErrorKind::Store | ErrorKind::Config | ErrorKind::NotFound
                        ) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        self.commit(app, by, |state, _| {
            crate::ops::rollout::as_expected(state, channel, by)?;
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
        if release.store != store.url() {
            // Published elsewhere: copy it here first (what is copied is checked below).
            self.place_release(state, version, &store).await?;
        }
        let store = store.as_ref();
        let fetch =
            |key: String, cap: Cap| async move {
                store.get(&key, cap).await?.map(|o| o.bytes).ok_or_else(|| {
                    Error::Integrity(format!("{key} is missing from {}", store.url()))
                })
            };
        crate::progress::step(format!(
            "checking {app} {version} in {}: statement, manifest and blobs",
            store.url()
        ));
        let statement_bytes = fetch(layout::statement_key(app, version), Cap::STATEMENT).await?;
        if !release.release.matches(&statement_bytes) {
            return Err(Error::Integrity(format!(
                "the statement of {app} {version} does not match the log"
            )));
        }
        // What devices trust: the active keys. A statement signed only by a retired key would
        // be refused by every device that has updated its list.
        let trusted = self.key_set().await?.set.active_keys();
        let payload = Envelope::from_bytes(&statement_bytes)?
            .verify(RELEASE_PAYLOAD_TYPE, &trusted)
            .map_err(|e| Error::Integrity(format!("the statement of {app} {version}: {e}")))?;
        let statement = ReleaseStatement::from_payload(&payload)?;
        statement.validate()?;
        if statement.app != *app
            || statement.version != version
            || statement.bundle_hash != release.bundle_hash
        {
            return Err(Error::Integrity(format!(
                "the statement of {app} {version} names {} {} (bundle {}), not what the log says",
                statement.app, statement.version, statement.bundle_hash
            )));
        }
        let manifest_bytes = fetch(layout::manifest_key(app, version), Cap::MANIFEST).await?;
        if !statement.manifest.matches(&manifest_bytes) {
            return Err(Error::Integrity(format!(
                "the manifest of {app} {version} does not match its statement"
            )));
        }
        let manifest = Manifest::from_bytes(&manifest_bytes)?;
        manifest.check()?;
        // Every blob, whatever the registry remembers of it: a bucket writer may have
        // replaced one since it was uploaded, and this is the release everyone goes back to.
        let mut checked = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let to_check: Vec<_> = manifest
            .files
            .iter()
            .filter(|f| seen.insert(f.sha256.as_str()))
            .collect();
        let subject = format!("{app} {version} in {}", store.url());
        let total = to_check.len() as u64;
        for (n, file) in to_check.into_iter().enumerate() {
            crate::progress::count(Task::Checking, &subject, n as u64, total);
            let bytes = fetch(layout::blob_key(&file.sha256), Cap::blob(file.size)).await?;
            if sha256_hex(&bytes) != file.sha256 || bytes.len() as u64 != file.size {
                return Err(Error::Integrity(format!(
                    "blob {} ({}) of {app} {version} is corrupt",
                    file.sha256, file.path
                )));
            }
            checked.push((file.sha256.clone(), file.size));
        }
        crate::progress::count(Task::Checking, &subject, total, total);
        self.registry.add_known_blobs(store.id(), &checked).await?;
        // Proven complete here, so the pointer write that follows need not look again.
        self.registry
            .mark_placed(store.id(), app, version, &release.release.sha256)
            .await
    }
}
