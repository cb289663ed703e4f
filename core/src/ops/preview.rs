//! Previews: what an operation would write and what devices would then see, computed from
//! the real state by the same code the operation runs (the event it would propose, checked
//! by the same rules), without writing anything. The console's confirmation dialogs show
//! them; a `--dry-run` can print them.
//!
//! Invariant: a preview never writes to the store or the registry, and an operation the
//! preview shows as allowed is refused later only if the state changed in between.

use super::rollout::{ExpandTo, PromoteRequest, reversion};
use crate::error::Result;
use crate::log::Event;
use crate::log::entry::percent as pct;
use crate::log::reader::StoredEntry;
use crate::rules::{rollback_target, withdrawals};
use crate::state::AppState;
use crate::workspace::{Attribution, Workspace};
use serde::Serialize;

/// What an operation would do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    /// The log entry it would append (its seq is the next one now).
    #[cfg_attr(feature = "specta", specta(skip))]
    pub entry: crate::log::LogEntry,
    /// The entry's kind, and a line saying what it records.
    pub kind: crate::log::entry::EventKind,
    pub description: String,
    /// Promotions into a protected channel: who has approved the release there.
    pub approvals: Vec<String>,
    /// Each channel whose devices it moves: what they are served before and after.
    pub channels: Vec<ChannelChange>,
    /// In words, one sentence per point, for the confirmation.
    pub summary: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ChannelChange {
    pub channel: String,
    pub before: Served,
    pub after: Served,
}

/// What a channel's pointer serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Served {
    /// `None`: devices run their built-in bundle.
    pub current: Option<String>,
    pub rollout: Option<ServedRollout>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ServedRollout {
    pub version: String,
    pub basis_points: u32,
}

fn served(state: &AppState, channel: &str) -> Served {
    let c = state.channel(channel);
    Served {
        current: c.current,
        rollout: c.rollout.map(|r| ServedRollout {
            version: r.version,
            basis_points: r.basis_points,
        }),
    }
}

fn or_built_in(v: &Option<String>) -> String {
    v.clone()
        .unwrap_or_else(|| "the app's built-in bundle".into())
}

impl Workspace {
    pub async fn preview_promote(&self, by: &Attribution, req: &PromoteRequest) -> Result<Preview> {
        let decide = self.promotion(req)?;
        let state = self.load(&req.app).await?;
        let event = decide(&state, state.next_seq())?;
        self.preview_event(state, by, event)
    }

    pub async fn preview_expand(
        &self,
        by: &Attribution,
        app: &str,
        channel: &str,
        to: ExpandTo,
    ) -> Result<Preview> {
        self.config.channel(channel)?;
        let state = self.load(app).await?;
        let event = self.expansion(&state, channel, to.basis_points()?)?;
        self.preview_event(state, by, event)
    }

    pub async fn preview_revert(
        &self,
        by: &Attribution,
        app: &str,
        channel: &str,
    ) -> Result<Preview> {
        self.config.channel(channel)?;
        let state = self.load(app).await?;
        let event = reversion(&state, channel)?;
        self.preview_event(state, by, event)
    }

    /// The rollback's target and what every channel serving the bad release would serve
    /// instead. The target's integrity check runs when the rollback does.
    pub async fn preview_rollback(
        &self,
        by: &Attribution,
        app: &str,
        channel: &str,
        to: Option<&str>,
    ) -> Result<Preview> {
        self.config.channel(channel)?;
        let state = self.load(app).await?;
        let c = state.channel(channel);
        let event = Event::RolledBack {
            channel: channel.to_string(),
            from: c.current.clone(),
            to: rollback_target(&state, channel, to)?,
            ended_rollout: c.rollout.map(|r| r.version),
            withdrawn: withdrawals(&state, channel),
        };
        self.preview_event(state, by, event)
    }

    /// Checks `event` against the rules as the commit would, applies it to a copy of the
    /// state, and describes the difference.
    pub(crate) fn preview_event(
        &self,
        state: AppState,
        by: &Attribution,
        event: Event,
    ) -> Result<Preview> {
        self.may_change(&format!("change {}", state.app))?;
        let entry = self.propose(&state, by, event)?;
        let mut after = state.clone();
        after.apply(&StoredEntry {
            entry: entry.clone(),
            bytes: Vec::new(),
            hash: "preview".into(),
        })?;
        let channels: Vec<ChannelChange> = entry
            .event
            .moved_channels()
            .into_iter()
            .map(|c| ChannelChange {
                channel: c.to_string(),
                before: served(&state, c),
                after: served(&after, c),
            })
            .collect();
        let summary = describe(&entry.event, &channels);
        let approvals = match &entry.event {
            Event::Promoted { version, to, .. } if self.is_protected(to) => state
                .standing_approvals(version, to)
                .map(|a| a.actor.clone())
                .collect(),
            _ => Vec::new(),
        };
        Ok(Preview {
            kind: entry.event.kind_typed(),
            description: entry.event.describe(),
            approvals,
            entry,
            channels,
            summary,
        })
    }
}

/// The preview in words.
fn describe(event: &Event, channels: &[ChannelChange]) -> Vec<String> {
    let mut out = Vec::new();
    for c in channels {
        let (before, after, name) = (&c.before, &c.after, &c.channel);
        match (&before.rollout, &after.rollout) {
            (None, Some(r)) => out.push(format!(
                "About {} of {name} devices will receive {}; {} stays current for the rest.",
                pct(r.basis_points),
                r.version,
                or_built_in(&after.current)
            )),
            (Some(b), Some(a)) if a.basis_points > b.basis_points => out.push(format!(
                "About {} of {name} devices will run {}; the {} who already have it keep it. \
                 {} stays current for the rest.",
                pct(a.basis_points),
                a.version,
                pct(b.basis_points),
                or_built_in(&after.current)
            )),
            (Some(b), None) if after.current.as_deref() == Some(b.version.as_str()) => {
                out.push(format!(
                    "{} becomes current in {name}: every device will run it (the {} who have \
                     it keep it).",
                    b.version,
                    pct(b.basis_points)
                ));
            }
            (Some(b), None) => out.push(format!(
                "The rollout of {} in {name} ends: the {} who had it go back to {}.",
                b.version,
                pct(b.basis_points),
                or_built_in(&after.current)
            )),
            _ if before.current != after.current => out.push(format!(
                "Every {name} device will run {} instead of {}.",
                or_built_in(&after.current),
                or_built_in(&before.current)
            )),
            _ => {}
        }
    }
    if let Event::RolledBack {
        from: Some(bad), ..
    } = event
    {
        out.push(format!(
            "{bad} is quarantined: it is never served again, in any channel."
        ));
    }
    if channels.is_empty() {
        out.push("No device is affected.".into());
    }
    out
}
