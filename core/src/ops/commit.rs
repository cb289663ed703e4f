//! Loading an app's state and committing one event. `load` pulls new log entries from the
//! store into the registry (checking the chain, every signature against the trusted keys and
//! every entry against the rules) and folds them; `commit` appends a signed entry
//! create-only and retries on a lost race with fresh state, so two consoles can never both
//! win the same seq and a command is never applied to a state it did not see.
//!
//! A command that is refused writes nothing at all. Once its entry is appended the command
//! has happened: anything that fails after that (the registry, a pointer, a CDN) is reported
//! as [`Error::Committed`] with the seq, never as if the command had not run, and a retry
//! with the same command id reports the entry instead of acting twice.

use super::pointer::PointerUpdate;
use crate::error::{Error, ErrorKind, Pending, Result};
use crate::log::entry::entry_hash;
use crate::log::reader::{self, Head, LogRead, StoredEntry};
use crate::log::{Event, LogEntry};
use crate::rules::{self, Policy};
use crate::signer::sign_envelope_by;
use crate::state::AppState;
use crate::store::{ObjectClass, PutOutcome};
use crate::workspace::{Attribution, Change, Workspace};
use airlock_protocol::dsse::LOG_PAYLOAD_TYPE;
use airlock_protocol::layout;
use airlock_protocol::limits::Cap;

const ATTEMPTS: usize = 5;

/// What [`Workspace::load_read`] found: the state, what was read from the store to reach
/// it, and whether the registry had to be rebuilt from the store.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub state: AppState,
    pub read: reader::LogRead,
    pub rebuilt: bool,
}

/// The result of a committed event.
#[derive(Clone, Debug)]
pub struct Committed {
    pub entry: StoredEntry,
    pub state: AppState,
    pub pointers: Vec<PointerUpdate>,
    /// The command had already committed (a retry with the same command id): nothing new
    /// was appended.
    pub replayed: bool,
}

impl Workspace {
    pub(crate) fn is_protected(&self, channel: &str) -> bool {
        self.config
            .channels
            .get(channel)
            .is_some_and(|c| c.protected)
    }

    /// The rules' view of this workspace's settings.
    fn policy(&self) -> impl Fn(&str) -> bool + Sync + '_ {
        |c: &str| self.is_protected(c)
    }

    /// What the registry's snapshot of a state was checked under: the protected channels.
    /// A snapshot folded under other protection is folded again.
    pub(crate) fn policy_id(&self) -> String {
        let protected: Vec<&str> = self
            .config
            .channels
            .iter()
            .filter(|(_, c)| c.protected)
            .map(|(n, _)| n.as_str())
            .collect();
        serde_json::to_string(&protected).expect("names serialise")
    }

    /// Folds `fresh` entries (just read from the store by [`Workspace::read_log`], which
    /// checked their signatures) onto `state`, checking every entry against the rules.
    pub(crate) async fn extend_checked(
        &self,
        state: AppState,
        fresh: &[StoredEntry],
    ) -> Result<AppState> {
        let protected = self.policy();
        state.extend(
            fresh,
            &Policy {
                protected: &protected,
            },
        )
    }

    /// Folds a whole log read from the store, checking every signature and rule.
    pub(crate) async fn fold_checked(
        &self,
        app: &str,
        entries: &[StoredEntry],
    ) -> Result<AppState> {
        self.extend_checked(AppState::new(app), entries).await
    }

    /// Records entries just read from the store with the state they fold to (from `before`,
    /// when that is what the registry holds), and announces them (a teammate's actions, to
    /// the window).
    pub(crate) async fn record_read(
        &self,
        new: &[StoredEntry],
        before: Option<&AppState>,
        state: &AppState,
    ) -> Result<()> {
        if new.is_empty() {
            return Ok(());
        }
        let protected = self.policy();
        self.registry
            .record(new, before, state, &protected, &self.policy_id())
            .await?;
        for e in new {
            self.announce(Change::entry(&e.entry, true));
        }
        Ok(())
    }

    /// The registry's state of `app`: its snapshot (`true`), or (none, or stale) the fold
    /// of its entries, whose signatures were checked when they were recorded (`false`).
    pub(crate) async fn registry_state(&self, app: &str) -> Result<Option<(AppState, bool)>> {
        if let Some(state) = self.registry.snapshot(app, &self.policy_id()).await? {
            return Ok(Some((state, true)));
        }
        let entries = self.registry.entries(app).await?;
        if entries.is_empty() {
            return Ok(None);
        }
        let protected = self.policy();
        AppState::fold(
            app,
            &entries,
            &Policy {
                protected: &protected,
            },
        )
        .map(|s| Some((s, false)))
    }

    /// The app's current state: the registry's state plus any new entries in the store. A
    /// registry whose newest entry the store no longer has (another store, a bucket
    /// recreated or restored) is rebuilt from the store, never extended.
    pub async fn load(&self, app: &str) -> Result<AppState> {
        Ok(self.load_read(app).await?.state)
    }

    /// [`Workspace::load`], saying what it read.
    pub(crate) async fn load_read(&self, app: &str) -> Result<Loaded> {
        layout::validate_app_name(app)?;
        // One read of the registry gives both the state and the head to continue from:
        // another process may record entries meanwhile, and reading the head separately
        // would fold those twice.
        let seen = self.registry.seen_log(self.store.id(), app).await?;
        let mut known = self.registry_state(app).await?;
        let mut rebuilt = false;
        if let Some(h) = known.as_ref().and_then(|(s, _)| s.head.clone()) {
            let there = match self
                .store
                .get(&layout::log_key(app, h.seq), Cap::LOG_ENTRY)
                .await
            {
                Ok(there) => there.map(|o| entry_hash(&o.bytes)),
                Err(Error::Protocol(airlock_protocol::Error::OverCap { .. })) => None,
                Err(e) => return Err(e),
            };
            if there.as_deref() != Some(h.hash.as_str()) {
                if let Some(seen) = &seen {
                    // This desktop has read this store's log: it went back. Never rebuilt.
                    let found = there.map_or("nothing".into(), |h| format!("entry {}", &h[..12]));
                    return Err(Error::Tampered {
                        app: app.to_string(),
                        seq: h.seq,
                        detail: format!(
                            "the log of {app} in {} has {found} at seq {} where this desktop \
                             read entry {} (it has seen the log reach seq {})",
                            self.store.url(),
                            h.seq,
                            &h.hash[..h.hash.len().min(12)],
                            seen.seq
                        ),
                    });
                }
                // A registry of another store (the workspace was pointed elsewhere): rebuilt.
                self.registry.forget(app).await?;
                self.registry.forget_store_caches().await?;
                known = None;
                rebuilt = true;
            }
        }
        let (base, from_snapshot) = known.unwrap_or_else(|| (AppState::new(app), false));
        let read = self.read_log(app, base.head.as_ref()).await?;
        if let Some(seen) = &seen {
            let head = read.entries.last().map(|e| Head {
                seq: e.entry.seq,
                hash: e.hash.clone(),
            });
            self.check_seen_log(
                app,
                seen,
                head.as_ref().or(base.head.as_ref()),
                &read.entries,
            )
            .await?;
        }
        // The projection moves row by row from a snapshot; from anything else it is
        // rewritten whole.
        let before = (from_snapshot && !read.entries.is_empty()).then(|| base.clone());
        let mut state = self.extend_checked(base, &read.entries).await?;
        state.written_by_newer = read.newer.as_ref().map(|(seq, _)| *seq);
        state.next_free = first_free(state.next_seq(), &read.occupied);
        if rebuilt {
            self.announce(Change {
                app: app.to_string(),
                channel: None,
                seq: state.head.as_ref().map(|h| h.seq),
                kind: crate::workspace::ChangeKind::RegistryRebuilt,
                actor: None,
                at: self.clock.now(),
            });
        }
        self.record_read(&read.entries, before.as_ref(), &state)
            .await?;
        if read.entries.is_empty() && !from_snapshot && state.head.is_some() {
            // Folded from the registry's entries (a registry from before snapshots, or one
            // checked under other protection): keep the fold, so the next load starts here.
            let protected = self.policy();
            self.registry
                .record(&[], None, &state, &protected, &self.policy_id())
                .await?;
        }
        if let Some(head) = &state.head {
            self.registry
                .note_seen_log(self.store.id(), app, head)
                .await?;
        }
        Ok(Loaded {
            state,
            read,
            rebuilt,
        })
    }

    /// Reads `app`'s log after `after`, keeping the entries a key trusted for their position
    /// signed, against the key set read afresh from the store.
    pub(crate) async fn read_log(&self, app: &str, after: Option<&Head>) -> Result<LogRead> {
        // Read afresh each time: a key retired by another desktop since this one cached
        // the set must stop counting here at once (a console stays open for days).
        let keys = match self.refresh_key_set().await {
            Ok(keys) => keys,
            Err(e) => {
                // No key set to check against (no pin yet): fine while there is nothing new
                // to read.
                let start = after.map(|h| layout::log_key(app, h.seq));
                let listed = self
                    .store
                    .list(&layout::log_prefix(app), start.as_deref())
                    .await?;
                if listed.is_empty() {
                    return Ok(LogRead::default());
                }
                return Err(e);
            }
        };
        reader::read_after(self.store.as_ref(), app, after, &keys.set).await
    }

    /// Appends the event `decide` returns for the current state, once it passes the rules.
    /// `decide` gets the state and the seq the entry will have; it is called again with
    /// fresh state if another console appended first.
    pub(crate) async fn commit(
        &self,
        app: &str,
        by: &Attribution,
        decide: impl FnMut(&AppState, u64) -> Result<Event>,
    ) -> Result<Committed> {
        self.commit_from(app, by, 0, decide).await
    }

    /// [`Workspace::commit`], placing the entry at seq `floor` or later (recovery puts its
    /// entry past every seq a pointer carried, so pointer seqs keep rising).
    pub(crate) async fn commit_from(
        &self,
        app: &str,
        by: &Attribution,
        floor: u64,
        mut decide: impl FnMut(&AppState, u64) -> Result<Event>,
    ) -> Result<Committed> {
        self.may_change(&format!("change {app}"))?;
        let mut lost_to: Option<String> = None;
        let command = match &by.command {
            Some(c) => c.clone(),
            None => command_id()?,
        };
        // Every entry is signed, and followed by signed pointers: a missing, disabled or
        // untrusted key must fail before anything is written.
        let signers = self.signers().await?;
        for _ in 0..ATTEMPTS {
            let loaded = self.load_read(app).await?;
            let mut state = loaded.state;
            if floor > state.next_seq() {
                let free = first_free(floor, &loaded.read.occupied).unwrap_or(floor);
                state.next_free = Some(free);
            }
            if let Some(seq) = state.written_by_newer {
                return Err(Error::Refused(format!(
                    "seq {seq} of {app}'s log was written by a newer Airlock; upgrade this one \
                     before changing {app} (reading it still works)"
                )));
            }
            if by.command.is_some()
                && let Some(done) = self.find_command(app, &command).await?
            {
                return self.replay(state, done).await;
            }
            let seq = state.next_seq();
            let proposed = decide(&state, seq).and_then(|event| {
                let mut entry = self.propose(&state, by, event)?;
                entry.command = Some(command.clone());
                Ok(entry)
            });
            let entry = match (proposed, &lost_to) {
                (Ok(entry), _) => entry,
                (Err(e), _) if e.kind() == ErrorKind::Conflict => return Err(e),
                (Err(e), Some(winner))
                    if e.kind().is_refusal() || e.kind() == ErrorKind::NotFound =>
                {
                    return Err(Error::Conflict(format!("{winner} first; now: {e}")));
                }
                (Err(e), _) => return Err(e),
            };
            // A desktop that has seen nothing of this log (a fresh CI job) still has the
            // stored pointers as witnesses: one beyond this state refuses the command
            // before anything is written, if the log lost what it serves.
            self.check_pointers_agree(&state, &entry.event.moved_channels())
                .await?;
            let env = sign_envelope_by(&signers, LOG_PAYLOAD_TYPE, &entry.to_payload()).await?;
            let bytes = env.to_bytes();
            let key = layout::log_key(app, seq);
            let mut outcome = self.store.put_new(&key, &bytes, ObjectClass::Log).await?;
            if outcome == PutOutcome::AlreadyExists
                && self
                    .store
                    .get(&key, Cap::LOG_ENTRY)
                    .await?
                    .is_some_and(|o| o.bytes == bytes)
            {
                // Our own write, answered "exists" on a retry after its first reply was
                // lost: the entry carries this command's random id, so it is ours.
                outcome = PutOutcome::Created;
            }
            match outcome {
                PutOutcome::Created => {
                    crate::progress::report(crate::progress::ProgressEvent::Committed {
                        app: app.to_string(),
                        seq,
                    });
                    let stored = StoredEntry {
                        hash: entry_hash(&bytes),
                        entry,
                        bytes,
                    };
                    return self.after_append(state, stored).await;
                }
                PutOutcome::AlreadyExists => {
                    let winner = self.load(app).await?;
                    let who = winner.head.as_ref().map_or(0, |h| h.seq);
                    lost_to = Some(format!("another console changed {app} (up to seq {who})"));
                }
            }
        }
        Err(Error::Conflict(format!(
            "{app} kept changing while this command ran ({ATTEMPTS} attempts); try again"
        )))
    }

    /// The entry `event` would be if appended to `state` now, once it passes the rules (for
    /// checks made before a command's slow preparation, and for previews).
    pub(crate) fn propose(
        &self,
        state: &AppState,
        by: &Attribution,
        event: Event,
    ) -> Result<LogEntry> {
        let now = self.clock.now();
        let entry = LogEntry {
            format_version: event.format_version(),
            app: state.app.clone(),
            seq: state.next_seq(),
            prev: state.head.as_ref().map(|h| h.hash.clone()),
            at: state.last_at.map_or(now, |last| now.max(last)),
            actor: by.actor.clone(),
            event,
            reason: by.reason.clone(),
            command: by.command.clone(),
        };
        let protected = |c: &str| self.is_protected(c);
        rules::check(
            state,
            &entry,
            &Policy {
                protected: &protected,
            },
        )?;
        Ok(entry)
    }

    /// The logged entry written by `command`, if any.
    async fn find_command(&self, app: &str, command: &str) -> Result<Option<StoredEntry>> {
        Ok(self
            .registry
            .entries(app)
            .await?
            .into_iter()
            .find(|e| e.entry.command.as_deref() == Some(command)))
    }

    /// Reports an already committed entry as this command's result, completing its pointers.
    async fn replay(&self, state: AppState, done: StoredEntry) -> Result<Committed> {
        let report = self
            .publish_pointers(&state, &done.entry.event.moved_channels())
            .await;
        let e = &done.entry;
        let pointers = report.settle(&e.app, e.seq, e.command.as_deref(), Vec::new())?;
        Ok(Committed {
            entry: done,
            state,
            pointers,
            replayed: true,
        })
    }

    /// Records the entry just appended on top of the state it was validated against (no
    /// second read of the store), announces it and brings the pointers up to date.
    async fn after_append(&self, mut state: AppState, stored: StoredEntry) -> Result<Committed> {
        let before = state.clone();
        state.apply(&stored)?;
        let mut pending = Vec::new();
        let protected = self.policy();
        if let Err(e) = self
            .registry
            .record(
                std::slice::from_ref(&stored),
                Some(&before),
                &state,
                &protected,
                &self.policy_id(),
            )
            .await
        {
            pending.push(Pending {
                what: "the local registry".into(),
                cause: e.to_string(),
            });
        }
        // What this desktop wrote, it has seen: the store may never go back from it.
        let head = Head {
            seq: stored.entry.seq,
            hash: stored.hash.clone(),
        };
        if let Err(e) = self
            .registry
            .note_seen_log(self.store.id(), &stored.entry.app, &head)
            .await
        {
            pending.push(Pending {
                what: "this desktop's record of the log".into(),
                cause: e.to_string(),
            });
        }
        self.announce(Change::entry(&stored.entry, false));
        let report = self
            .publish_pointers(&state, &stored.entry.event.moved_channels())
            .await;
        let e = &stored.entry;
        let pointers = report.settle(&e.app, e.seq, e.command.as_deref(), pending)?;
        Ok(Committed {
            entry: stored,
            state,
            pointers,
            replayed: false,
        })
    }
}

/// The first position at or after `next` that no passed-over object holds: where the next
/// entry goes (a foreign object at the next position never blocks the next signed entry).
fn first_free(next: u64, occupied: &[u64]) -> Option<u64> {
    let mut seq = next;
    while occupied.contains(&seq) {
        seq += 1;
    }
    (seq != next).then_some(seq)
}

/// A random command id (128 bits, hex).
fn command_id() -> Result<String> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| crate::error::Error::Signer("the system random generator failed".into()))?;
    Ok(hex::encode(bytes))
}
