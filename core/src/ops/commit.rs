//! Loading an app's state and committing one event. `load` pulls new log entries from the
//! store into the registry (checking the chain) and folds them; `commit` appends an entry
//! create-only and retries on a lost race with fresh state, so two consoles can never both
//! win the same seq and a command is never applied to a state it did not see.

use super::pointer::PointerUpdate;
use crate::error::{Error, Result};
use crate::log::entry::entry_hash;
use crate::log::reader::{self, StoredEntry};
use crate::log::{Event, LogEntry};
use crate::state::AppState;
use crate::store::{ObjectClass, PutOutcome};
use crate::workspace::{Attribution, Change, Workspace};
use airlock_protocol::layout;

const ATTEMPTS: usize = 5;

/// The result of a committed event.
#[derive(Clone, Debug)]
pub struct Committed {
    pub entry: StoredEntry,
    pub state: AppState,
    pub pointers: Vec<PointerUpdate>,
}

impl Workspace {
    pub(crate) fn is_protected(&self, channel: &str) -> bool {
        self.config
            .channels
            .get(channel)
            .is_some_and(|c| c.protected)
    }

    /// The app's current state: the registry's entries plus any new ones in the store.
    pub async fn load(&self, app: &str) -> Result<AppState> {
        layout::validate_app_name(app)?;
        let head = self.registry.head(app).await?;
        let new = reader::read_after(self.store.as_ref(), app, head.as_ref()).await?;
        let mut entries = self.registry.entries(app).await?;
        entries.extend(new.iter().cloned());
        let state = AppState::fold(app, &entries)?;
        if !new.is_empty() {
            self.registry
                .record(&new, &state, &|c| self.is_protected(c))
                .await?;
        }
        Ok(state)
    }

    /// Appends the event `decide` returns for the current state. `decide` gets the state
    /// and the seq the entry will have; it is called again with fresh state if another
    /// console appended first.
    pub(crate) async fn commit(
        &self,
        app: &str,
        by: &Attribution,
        mut decide: impl FnMut(&AppState, u64) -> Result<Event>,
    ) -> Result<Committed> {
        let mut lost_to: Option<String> = None;
        let command = command_id()?;
        // Every entry is followed by signed pointers: a missing, disabled or wrong key must
        // fail before the entry is committed, not after.
        self.signer().await?;
        for _ in 0..ATTEMPTS {
            let state = self.load(app).await?;
            let seq = state.next_seq();
            let event = match (decide(&state, seq), &lost_to) {
                (Ok(event), _) => event,
                (Err(e), _) if e.kind() == crate::error::ErrorKind::Conflict => return Err(e),
                (Err(e), Some(winner))
                    if e.kind().is_refusal() || e.kind() == crate::error::ErrorKind::NotFound =>
                {
                    return Err(Error::Conflict(format!("{winner} first; now: {e}")));
                }
                (Err(e), _) => {
                    // A refused command still repairs pointers that lag the log (say, after
                    // an interrupted run), so "any later command" really does.
                    let _ = self.publish_pointers(&state).await;
                    return Err(e);
                }
            };
            let entry = LogEntry {
                app: app.to_string(),
                seq,
                prev: state.head.as_ref().map(|h| h.hash.clone()),
                at: self.clock.now(),
                actor: by.actor.clone(),
                event,
                reason: by.reason.clone(),
                command: Some(command.clone()),
            };
            let bytes = entry.to_bytes();
            let key = layout::log_key(app, seq);
            let mut outcome = self.store.put_new(&key, &bytes, ObjectClass::Log).await?;
            if outcome == PutOutcome::AlreadyExists
                && self
                    .store
                    .get(&key)
                    .await?
                    .is_some_and(|o| o.bytes == bytes)
            {
                // Our own write, answered "exists" on a retry after its first reply was
                // lost: the entry carries this command's random id, so it is ours.
                outcome = PutOutcome::Created;
            }
            match outcome {
                PutOutcome::Created => {
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

    /// Records the entry just appended on top of the state it was validated against (no
    /// second read of the store), announces it and brings the pointers up to date.
    async fn after_append(&self, mut state: AppState, stored: StoredEntry) -> Result<Committed> {
        let app = stored.entry.app.clone();
        state.apply(&stored)?;
        self.registry
            .record(std::slice::from_ref(&stored), &state, &|c| {
                self.is_protected(c)
            })
            .await?;
        self.announce(Change {
            app: app.clone(),
            seq: stored.entry.seq,
            kind: stored.entry.event.kind().into(),
        });
        let pointers = self.publish_pointers(&state).await?;
        Ok(Committed {
            entry: stored,
            state,
            pointers,
        })
    }
}

/// A random command id (128 bits, hex).
fn command_id() -> Result<String> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| crate::error::Error::Signer("the system random generator failed".into()))?;
    Ok(hex::encode(bytes))
}
