//! Rebuilding and reading the registry. `sync` reads each app's new log entries from the
//! store (or, with [`SyncDepth::Full`], the whole log again, checked end to end), rebuilds
//! the projection where it diverged (a second desktop pointed at the same store sees the
//! same registry) and repairs pointers that lag their log. `status` summarises an app: channels, rollouts, pointer expiry, release statuses.

use super::PointerUpdate;
use crate::error::Result;
use crate::log::reader::{self, StoredEntry};
use crate::registry::StatusRow;
use crate::workspace::{Attribution, Change, ChangeKind, Workspace};
use airlock_protocol::layout;
use serde::Serialize;
use std::collections::BTreeSet;

/// How much of each log a sync reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyncDepth {
    /// The entries after the registry's newest (checking first that the store still has
    /// that one): what the console runs every 30 s and `airlock sync` runs by default.
    #[default]
    New,
    /// Every entry again, every signature and rule checked from seq 1 (`airlock sync
    /// --full`): finds an entry changed in the store behind the registry's back.
    Full,
}

/// Pointers expiring sooner than this are flagged.
pub const EXPIRY_WARNING_SECONDS: i64 = 48 * 3600;

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AppSync {
    pub app: String,
    pub entries: u64,
    pub new_entries: u64,
    /// The local registry disagreed with the store and was rebuilt from it.
    pub rebuilt: bool,
    pub pointers: Vec<PointerUpdate>,
    /// Channels whose pointer could not be brought up to date, and why.
    pub pending: Vec<super::pointer::PointerFailure>,
    /// Objects in the log folder that are not log entries (passed over).
    pub foreign_objects: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelStatus {
    pub channel: String,
    pub protected: bool,
    pub current: Option<String>,
    pub rollout: Option<crate::state::Rollout>,
    /// The randomized holdout kept on the previous release, while it lasts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holdout: Option<crate::log::entry::Holdout>,
    pub pointer: Option<PointerStatus>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PointerStatus {
    pub seq: u64,
    pub issued_at: String,
    pub expires_at: String,
    pub expires_soon: bool,
    pub expired: bool,
    /// The stored pointer is older than the log (run `airlock sync`).
    pub lagging: bool,
    /// How the stored pointer (signed by a trusted key) disagrees with the log: it names an
    /// entry beyond or beside the one that last moved the channel, or serves other releases
    /// at the same entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disagrees: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppStatus {
    pub app: String,
    pub head_seq: u64,
    pub channels: Vec<ChannelStatus>,
    pub releases: Vec<StatusRow>,
    pub warnings: Vec<String>,
}

impl Workspace {
    /// Apps in the store or the registry.
    pub async fn apps(&self) -> Result<Vec<String>> {
        let mut apps: BTreeSet<String> = self.registry.apps().await?.into_iter().collect();
        for key in self.store.list("apps/", None).await? {
            if let Some(app) = key.split('/').nth(1)
                && layout::validate_app_name(app).is_ok()
                && key.contains("/log/")
            {
                apps.insert(app.to_string());
            }
        }
        Ok(apps.into_iter().collect())
    }

    /// Brings every app's registry up to date with the store (see [`Workspace::sync_app`]).
    pub async fn sync(&self) -> Result<Vec<AppSync>> {
        self.sync_with(SyncDepth::New).await
    }

    pub async fn sync_with(&self, depth: SyncDepth) -> Result<Vec<AppSync>> {
        let mut out = Vec::new();
        for app in self.apps().await? {
            out.push(self.sync_app(&app, depth).await?);
        }
        Ok(out)
    }

    /// Reads `app`'s new entries from the store (all of them, and every signature and rule
    /// checked again, with [`SyncDepth::Full`]), rebuilds the registry where it diverged
    /// from the store, and repairs pointers that lag the log.
    pub async fn sync_app(&self, app: &str, depth: SyncDepth) -> Result<AppSync> {
        let (state, read, new, rebuilt) = match depth {
            SyncDepth::New => {
                let loaded = self.load_read(app).await?;
                let n = loaded.read.entries.len();
                (loaded.state, loaded.read, n, loaded.rebuilt)
            }
            SyncDepth::Full => self.reread(app).await?,
        };
        let entries = state.head.as_ref().map_or(0, |h| h.seq);
        let mut report = if let Some((seq, why)) = &read.newer {
            // Pointers are another Airlock's to write now: this one does not know the rest.
            super::pointer::PointerReport {
                failed: vec![super::pointer::PointerFailure {
                    channel: "*".into(),
                    error: format!("seq {seq} ({why}); upgrade Airlock to sync {app}"),
                }],
                ..Default::default()
            }
        } else if self.read_only() {
            // A viewer's sync reads: it never repairs or re-signs a pointer, but notes each
            // one, so the overview can say when one expires or lags.
            self.observe_pointers(app).await;
            super::pointer::PointerReport::default()
        } else {
            self.publish_pointers(&state, &[]).await
        };
        // A lost pointer is re-signed under a new seq: rewriting the old seq with new bytes
        // would be refused by every device that saw the lost one.
        let by = Attribution::new(
            self.config.actor.as_deref().unwrap_or("airlock sync"),
            Some("re-signing a pointer missing from the store"),
        )?;
        for channel in std::mem::take(&mut report.missing) {
            match self.resign(&by, app, &channel).await {
                Ok(done) => report.written.extend(done.pointers),
                Err(e) => report.failed.push(super::pointer::PointerFailure {
                    channel,
                    error: e.to_string(),
                }),
            }
        }
        Ok(AppSync {
            app: app.to_string(),
            entries,
            new_entries: new as u64,
            rebuilt,
            pointers: report.written,
            pending: report.failed,
            foreign_objects: read.foreign,
        })
    }

    /// Re-reads `app`'s whole log from the store and checks it end to end, as a first read
    /// would; the registry is rebuilt if it disagrees. Returns the state, the read, how many
    /// entries were new to the registry and whether it was rebuilt.
    async fn reread(
        &self,
        app: &str,
    ) -> Result<(crate::state::AppState, reader::LogRead, usize, bool)> {
        layout::validate_app_name(app)?;
        let read = self.read_log(app, None).await?;
        let full = &read.entries;
        let known = self.registry.entries(app).await?;
        let agrees =
            known.len() <= full.len() && known.iter().zip(full).all(|(a, b)| a.hash == b.hash);
        if let Some(seen) = self.registry.seen_log(self.store.id(), app).await? {
            let head = full.last().map(|e| reader::Head {
                seq: e.entry.seq,
                hash: e.hash.clone(),
            });
            // Every entry of the chain is in `full`: look the seen one up there alone.
            self.check_seen_log(app, &seen, head.as_ref(), full).await?;
            if !agrees {
                let at = known
                    .iter()
                    .zip(full.iter().map(Some).chain(std::iter::repeat(None)))
                    .find(|(a, b)| b.is_none_or(|b| a.hash != b.hash))
                    .map_or(0, |(a, _)| a.entry.seq);
                return Err(crate::Error::Tampered {
                    app: app.to_string(),
                    seq: at,
                    detail: format!(
                        "the log of {app} in {} differs from what this desktop recorded from \
                         seq {at} on",
                        self.store.url()
                    ),
                });
            }
        }
        let new: &[StoredEntry] = if agrees {
            &full[known.len()..]
        } else {
            self.registry.forget(app).await?;
            self.registry.forget_store_caches().await?;
            full
        };
        let mut state = self.fold_checked(app, full).await?;
        state.written_by_newer = read.newer.as_ref().map(|(seq, _)| *seq);
        if !agrees {
            self.announce(Change {
                app: app.to_string(),
                channel: None,
                seq: state.head.as_ref().map(|h| h.seq),
                kind: ChangeKind::RegistryRebuilt,
                actor: None,
                at: self.clock.now(),
            });
        }
        if let Some(h) = &state.head {
            self.registry.note_seen_log(self.store.id(), app, h).await?;
        }
        let n = new.len();
        if n > 0 {
            self.record_read(new, None, &state).await?;
        } else {
            // Refresh the snapshot: the whole log was just checked under today's policy.
            let protected = |c: &str| self.is_protected(c);
            self.registry
                .record(&[], None, &state, &protected, &self.policy_id())
                .await?;
        }
        Ok((state, read, n, !agrees))
    }

    /// Reads each channel's stored pointer and notes it in the registry (best effort: an
    /// unreachable or unreadable pointer is simply not noted; `status` reports why).
    async fn observe_pointers(&self, app: &str) {
        for name in self.config.channels.keys() {
            // `stored_pointer` notes what it reads; a failure to read is `status`'s to say.
            let _ = self.stored_pointer(app, name).await;
        }
    }

    pub async fn status(&self, app: &str) -> Result<AppStatus> {
        let state = self.load(app).await?;
        let now = self.clock.now();
        let mut warnings = Vec::new();
        if let Some(seq) = state.written_by_newer {
            warnings.push(format!(
                "{app}: seq {seq} of the log was written by a newer Airlock; this shows the \
                 history before it, and nothing can be changed here until you upgrade"
            ));
        }
        let mut channels = Vec::new();
        for name in self.config.channels.keys() {
            let c = state.channel(name);
            let stored = self.stored_pointer(app, name).await?;
            if let Some(e) = stored.as_ref().and_then(|s| s.untrusted.as_ref()) {
                warnings.push(format!(
                    "{app}/{name}: THE STORED POINTER IS NOT SIGNED BY A TRUSTED KEY ({e}); \
                     devices refuse it. Run `airlock keys show` and `airlock sync`"
                ));
            }
            let trusted = stored.as_ref().is_some_and(|s| s.untrusted.is_none());
            let pointer = match stored.map(|s| s.parsed).transpose() {
                Ok(p) => p.map(|p| {
                    let left = p.expires_at.unix() - now.unix();
                    let lagging = c.served.as_ref().is_some_and(|s| s.seq > p.seq);
                    let disagrees = trusted.then(|| disagreement(&c, &p)).flatten();
                    PointerStatus {
                        seq: p.seq,
                        issued_at: p.issued_at.to_string(),
                        expires_at: p.expires_at.to_string(),
                        expires_soon: left < EXPIRY_WARNING_SECONDS,
                        expired: left <= 0,
                        lagging,
                        disagrees,
                    }
                }),
                Err(e) => {
                    warnings.push(format!(
                        "{app}/{name}: the stored pointer is unreadable: {e}"
                    ));
                    None
                }
            };
            if let Some(p) = &pointer {
                if p.expired {
                    warnings.push(format!("{app}/{name}: the pointer EXPIRED at {}; devices refuse it. Run `airlock resign {app} {name}`", p.expires_at));
                } else if p.expires_soon {
                    warnings.push(format!("{app}/{name}: the pointer expires at {} (within 48 h); run `airlock resign {app} {name}`", p.expires_at));
                }
                if let Some(why) = &p.disagrees {
                    warnings.push(format!(
                        "{app}/{name}: THE STORED POINTER DISAGREES WITH THE LOG: {why}. If \
                         entries were removed, commands refuse as tampering; `airlock recover \
                         {app} --reason ...` re-signs the log's state at a new seq"
                    ));
                }
                if p.lagging {
                    warnings.push(format!(
                        "{app}/{name}: the pointer lags the log; run `airlock sync`"
                    ));
                }
            } else if c.served.is_some() {
                warnings.push(format!(
                    "{app}/{name}: the pointer is missing; run `airlock sync`"
                ));
            }
            channels.push(ChannelStatus {
                channel: name.clone(),
                protected: self.is_protected(name),
                current: c.current.clone(),
                rollout: c.rollout.clone(),
                holdout: c
                    .holdout
                    .clone()
                    .filter(|h| c.held(self.now()) == Some(h.version.as_str())),
                pointer,
            });
        }
        Ok(AppStatus {
            app: app.to_string(),
            head_seq: state.head.as_ref().map_or(0, |h| h.seq),
            channels,
            releases: self.registry.statuses(app).await?,
            warnings,
        })
    }

    /// The app's log entries, oldest first.
    pub async fn history(&self, app: &str) -> Result<Vec<StoredEntry>> {
        self.load(app).await?;
        self.registry.entries(app).await
    }
}

/// How a trusted stored pointer disagrees with what the log says `c` serves, if it does.
fn disagreement(
    c: &crate::state::Channel,
    p: &airlock_protocol::pointer::ChannelPointer,
) -> Option<String> {
    let Some(served) = &c.served else {
        return Some(format!(
            "it is at seq {}, but the log never served anything here",
            p.seq
        ));
    };
    if p.seq > served.seq || (p.seq == served.seq && p.log_head != served.hash) {
        return Some(format!(
            "it names log entry seq {} ({}), the log's last change here is seq {}",
            p.seq,
            &p.log_head[..p.log_head.len().min(12)],
            served.seq
        ));
    }
    if p.seq < served.seq {
        return None; // lagging: repaired by the next sync
    }
    let current = p.current.as_ref().map(|r| r.version.as_str());
    let rollout = p
        .rollout
        .as_ref()
        .map(|r| (r.version.as_str(), r.basis_points, r.rollout_id.as_str()));
    let logged = c
        .rollout
        .as_ref()
        .map(|r| (r.version.as_str(), r.basis_points, r.rollout_id.as_str()));
    (current != c.current.as_deref() || rollout != logged).then(|| {
        format!(
            "at seq {} it serves {} (rollout {:?}), the log says {} (rollout {:?})",
            p.seq,
            current.unwrap_or("nothing"),
            rollout,
            c.current.as_deref().unwrap_or("nothing"),
            logged
        )
    })
}
