//! One typed action for each change a person makes to a rollout — promote, expand, pause,
//! resume, revert, rollback, resign, approve, reject — so a front end (the console's
//! confirmation dialogs) previews and performs them through two functions, and reads back
//! what devices now see. Each arm calls the same operation the command line runs; no rule
//! lives here beyond "a rollback needs a reason", which the console promises its users.

use super::Committed;
use super::preview::{Preview, ServedRollout};
use super::rollout::{ExpandTo, PromoteRequest, pausing};
use crate::error::{Error, Result};
use crate::log::Event;
use crate::log::entry::EventKind;
use crate::ops::pointer::PointerUpdate;
use crate::workspace::{Attribution, Workspace};
use serde::{Deserialize, Serialize};

/// A change to an app's channels, as the console asks for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Action {
    /// Start a rollout of `version` (default: `from`'s current) into `to`.
    Promote {
        app: String,
        from: String,
        to: String,
        version: Option<String>,
        percent: Option<f64>,
    },
    /// Grow the rollout to `percent`, or to the plan's next step.
    Expand {
        app: String,
        channel: String,
        percent: Option<f64>,
    },
    Pause {
        app: String,
        channel: String,
    },
    Resume {
        app: String,
        channel: String,
    },
    /// End a partial rollout: everyone back on the channel's current release.
    Revert {
        app: String,
        channel: String,
    },
    /// Everyone back on the newest rollback-ready release (or `to`), checked intact first.
    Rollback {
        app: String,
        channel: String,
        to: Option<String>,
    },
    /// Re-sign the channel's pointer with a fresh expiry.
    Resign {
        app: String,
        channel: String,
    },
    Approve {
        app: String,
        version: String,
        channel: String,
    },
    Reject {
        app: String,
        version: String,
        channel: String,
    },
}

impl Action {
    pub fn app(&self) -> &str {
        match self {
            Self::Promote { app, .. }
            | Self::Expand { app, .. }
            | Self::Pause { app, .. }
            | Self::Resume { app, .. }
            | Self::Revert { app, .. }
            | Self::Rollback { app, .. }
            | Self::Resign { app, .. }
            | Self::Approve { app, .. }
            | Self::Reject { app, .. } => app,
        }
    }

    fn promote_request(&self) -> Option<PromoteRequest> {
        match self {
            Self::Promote {
                app,
                from,
                to,
                version,
                percent,
            } => Some(PromoteRequest {
                app: app.clone(),
                from: from.clone(),
                to: to.clone(),
                percent: *percent,
                version: version.clone(),
            }),
            _ => None,
        }
    }
}

fn expand_to(percent: Option<f64>) -> ExpandTo {
    percent.map_or(ExpandTo::Next, ExpandTo::Percent)
}

/// What a channel's stored pointer makes devices run, read back from the store after an
/// action (the signature is checked against the trusted keys, as devices do).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ServedNow {
    pub channel: String,
    /// The pointer's seq; `None` when the channel has no pointer.
    pub seq: Option<u64>,
    pub current: Option<String>,
    pub rollout: Option<ServedRollout>,
    pub expires_at: Option<String>,
    /// Why devices would refuse the stored pointer, if they would.
    pub problem: Option<String>,
}

/// What an action did: the entry it committed and what devices see now.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ActionOutcome {
    pub app: String,
    pub seq: u64,
    pub kind: EventKind,
    /// The command had already committed (a retry): nothing new was appended.
    pub replayed: bool,
    pub pointers: Vec<PointerUpdate>,
    pub devices_see: Vec<ServedNow>,
}

impl Workspace {
    /// What `action` would write and what devices would then see; writes nothing.
    pub async fn preview_action(&self, by: &Attribution, action: &Action) -> Result<Preview> {
        if let Some(req) = action.promote_request() {
            return self.preview_promote(by, &req).await;
        }
        let app = action.app();
        match action {
            Action::Expand {
                channel, percent, ..
            } => {
                self.preview_expand(by, app, channel, expand_to(*percent))
                    .await
            }
            Action::Revert { channel, .. } => self.preview_revert(by, app, channel).await,
            Action::Rollback { channel, to, .. } => {
                self.preview_rollback(by, app, channel, to.as_deref()).await
            }
            Action::Pause { channel, .. } | Action::Resume { channel, .. } => {
                let pause = matches!(action, Action::Pause { .. });
                self.config.channel(channel)?;
                let state = self.load(app).await?;
                let event = pausing(&state, channel, pause)?;
                self.preview_event(state, by, event)
            }
            Action::Resign { channel, .. } => {
                self.config.channel(channel)?;
                let state = self.load(app).await?;
                let event = Event::PointerResigned {
                    channel: channel.clone(),
                };
                self.preview_event(state, by, event)
            }
            Action::Approve {
                version, channel, ..
            }
            | Action::Reject {
                version, channel, ..
            } => {
                self.config.channel(channel)?;
                let state = self.load(app).await?;
                let (version, channel) = (version.clone(), channel.clone());
                let event = if matches!(action, Action::Approve { .. }) {
                    Event::Approved { version, channel }
                } else {
                    Event::Rejected { version, channel }
                };
                self.preview_event(state, by, event)
            }
            Action::Promote { .. } => unreachable!("handled above"),
        }
    }

    /// Performs `action` through the same operation the command line runs.
    pub async fn perform(&self, by: &Attribution, action: &Action) -> Result<Committed> {
        if let Some(req) = action.promote_request() {
            // Before Staging's gate has passed the release: allowed, and the entry says so.
            let (by, _) = self.noting_early_promotion(by, &req).await?;
            return self.promote(&by, &req).await;
        }
        let app = action.app();
        match action {
            Action::Expand {
                channel, percent, ..
            } => {
                // Before the gate has passed the step: allowed, and the entry says so.
                let (by, _) = self.noting_early_expansion(by, app, channel).await?;
                self.expand(&by, app, channel, expand_to(*percent)).await
            }
            Action::Pause { channel, .. } => self.pause(by, app, channel).await,
            Action::Resume { channel, .. } => self.resume(by, app, channel).await,
            Action::Revert { channel, .. } => self.revert(by, app, channel).await,
            Action::Rollback { channel, to, .. } => {
                if by.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
                    return Err(Error::InvalidInput(
                        "a rollback needs a reason: say what is wrong with the release, for \
                         the log and the incident"
                            .into(),
                    ));
                }
                self.rollback(by, app, channel, to.as_deref()).await
            }
            Action::Resign { channel, .. } => self.resign(by, app, channel).await,
            Action::Approve {
                version, channel, ..
            } => self.approve(by, app, version, channel).await,
            Action::Reject {
                version, channel, ..
            } => self.reject(by, app, version, channel).await,
            Action::Promote { .. } => unreachable!("handled above"),
        }
    }

    /// The committed entry, and what each channel it moved serves now, read back from the
    /// store.
    pub async fn outcome(&self, committed: &Committed) -> Result<ActionOutcome> {
        let entry = &committed.entry.entry;
        let mut devices_see = Vec::new();
        for channel in entry.event.moved_channels() {
            devices_see.push(self.served_now(&entry.app, channel).await?);
        }
        Ok(ActionOutcome {
            app: entry.app.clone(),
            seq: entry.seq,
            kind: entry.event.kind_typed(),
            replayed: committed.replayed,
            pointers: committed.pointers.clone(),
            devices_see,
        })
    }

    /// Reads `channel`'s stored pointer and checks it as a device would (signature by a
    /// trusted key, not expired).
    pub async fn served_now(&self, app: &str, channel: &str) -> Result<ServedNow> {
        let mut now = ServedNow {
            channel: channel.to_string(),
            seq: None,
            current: None,
            rollout: None,
            expires_at: None,
            problem: None,
        };
        let Some(stored) = self.stored_pointer(app, channel).await? else {
            return Ok(now);
        };
        now.problem = stored
            .untrusted
            .map(|e| format!("not signed by a trusted key: {e}"));
        let p = stored.parsed?;
        if p.expires_at.unix() <= self.clock.now().unix() {
            now.problem = Some(format!("expired at {}", p.expires_at));
        }
        now.seq = Some(p.seq);
        now.current = p.current.map(|c| c.version);
        now.rollout = p.rollout.map(|r| ServedRollout {
            version: r.version,
            basis_points: r.basis_points,
        });
        now.expires_at = Some(p.expires_at.to_string());
        Ok(now)
    }
}
