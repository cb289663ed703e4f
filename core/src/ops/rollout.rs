//! Staged rollouts: promote a release into a channel at the plan's first step, expand it
//! step by step (100 % completes it: the release becomes current and the one it replaces
//! rollback-ready), pause and resume it, or revert it (everyone back on the channel's
//! current). Promotion into a protected channel needs an approval by someone other than the
//! release's author. Each rule is checked against freshly read state inside `commit`.

use super::Committed;
use crate::config::percent_to_basis_points;
use crate::error::{Error, Result};
use crate::log::Event;
use crate::log::entry::Holdout;
use crate::log::entry::percent as pct;
use crate::rules;
use crate::state::AppState;
use crate::workspace::{Attribution, Workspace};
use airlock_protocol::bucketing::FULL;

#[derive(Clone, Debug, Default)]
pub struct PromoteRequest {
    pub app: String,
    pub from: String,
    pub to: String,
    /// Start here instead of the plan's first step.
    pub percent: Option<f64>,
    /// Promote this release instead of the source channel's current one.
    pub version: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ExpandTo {
    Next,
    Percent(f64),
}

impl ExpandTo {
    /// The target in basis points; `None` for the plan's next step.
    pub(crate) fn basis_points(self) -> Result<Option<u32>> {
        match self {
            Self::Percent(p) => Ok(Some(percent_to_basis_points(p)?)),
            Self::Next => Ok(None),
        }
    }
}

/// What pausing (or resuming) `channel`'s rollout proposes.
pub(crate) fn pausing(state: &AppState, channel: &str, pause: bool) -> Result<Event> {
    let r = rules::rollout_in(state, channel)?;
    let (channel, version, rollout_id) =
        (channel.to_string(), r.version.clone(), r.rollout_id.clone());
    Ok(if pause {
        Event::Paused {
            channel,
            version,
            rollout_id,
        }
    } else {
        Event::Resumed {
            channel,
            version,
            rollout_id,
        }
    })
}

/// What a revert of `channel`'s rollout proposes.
pub(crate) fn reversion(state: &AppState, channel: &str) -> Result<Event> {
    let r = rules::rollout_in(state, channel)?;
    Ok(Event::Reverted {
        channel: channel.to_string(),
        version: r.version.clone(),
        rollout_id: r.rollout_id.clone(),
        basis_points: r.basis_points,
    })
}

/// Refuses, as a conflict, when the rollout in `channel` is not the one the caller saw
/// (`--expect-rollout`, `--expect-percent`).
pub(crate) fn as_expected(state: &AppState, channel: &str, by: &Attribution) -> Result<()> {
    let (want_id, want_bp) = (&by.expect.rollout_id, by.expect.basis_points);
    let c = state.channel(channel);
    if let Some(want) = &by.expect.current
        && (c.current.as_ref() != Some(want) || c.rollout.is_some())
    {
        return Err(Error::Conflict(format!(
            "{channel} of {} no longer serves {want} to everyone (current {:?}{}); the verdict \
             on {want} does not apply",
            state.app,
            c.current,
            if c.rollout.is_some() {
                ", a rollout in progress"
            } else {
                ""
            }
        )));
    }
    if let (Some(version), Some(seq)) = (&by.expect.current, by.expect.stay_since) {
        rules::same_stay(state, channel, version, seq)?;
    }
    if let (Some(version), Some(other)) = (&by.expect.current, &by.expect.never_in)
        && state.placement(version, other).is_some()
    {
        return Err(Error::Conflict(format!(
            "{} {version} reached {other} meanwhile; the gate does not promote it again",
            state.app
        )));
    }
    let r = c.rollout;
    if by.expect.running
        && let Some(r) = r.as_ref().filter(|r| r.paused)
    {
        return Err(Error::Conflict(format!(
            "the rollout of {} {} in {channel} was paused meanwhile; a person's pause wins",
            state.app, r.version
        )));
    }
    if want_id.is_none() && want_bp.is_none() {
        return Ok(());
    }
    let id_ok = want_id
        .as_ref()
        .is_none_or(|id| r.as_ref().is_some_and(|r| &r.rollout_id == id));
    let bp_ok = want_bp.is_none_or(|bp| r.as_ref().is_some_and(|r| r.basis_points == bp));
    if id_ok && bp_ok {
        return Ok(());
    }
    let now = match &r {
        Some(r) => format!(
            "rollout {} of {} at {}{}",
            r.rollout_id,
            r.version,
            pct(r.basis_points),
            if r.paused { ", paused" } else { "" }
        ),
        None => "no rollout".into(),
    };
    Err(Error::Conflict(format!(
        "{channel} of {} is no longer what this command expected (rollout {}, {}); it now has {now}",
        state.app,
        want_id.as_deref().unwrap_or("any"),
        want_bp.map_or("any percentage".into(), pct)
    )))
}

impl Workspace {
    /// The holdout an entry making `version` current in `channel` sets (docs/KPIS.md, "The
    /// holdout"): the channel's current release, kept for its configured share of devices
    /// (the last buckets of `id`, the rollout's id) for its configured hours. None when the
    /// channel keeps none or has no other current release (nothing to compare with), or that
    /// release is quarantined.
    pub(crate) fn holdout_for(
        &self,
        state: &AppState,
        channel: &str,
        version: &str,
        id: &str,
    ) -> Result<Option<Holdout>> {
        let (basis_points, seconds) = self.config.holdout(channel)?;
        let Some(current) = state.channel(channel).current.clone() else {
            return Ok(None);
        };
        if basis_points == 0 || current == version || state.release(&current)?.quarantined.is_some()
        {
            return Ok(None);
        }
        Ok(Some(Holdout {
            version: current,
            basis_points,
            holdout_id: id.to_string(),
            until: self.clock.now().plus_seconds(seconds),
        }))
    }

    /// What an expansion of `channel`'s rollout proposes: to `target`, else the next step of
    /// the plan written into its `promoted` entry (so every console agrees on "next"); at
    /// 100 % with the channel's holdout.
    pub(crate) fn expansion(
        &self,
        state: &AppState,
        channel: &str,
        target: Option<u32>,
    ) -> Result<Event> {
        let r = rules::rollout_in(state, channel)?;
        let bp = target.unwrap_or_else(|| r.next_step());
        let (archived, holdout) = if bp >= FULL {
            // Never more than the rollout's last step left out: no device that ran the new
            // release is sent back.
            let holdout = self
                .holdout_for(state, channel, &r.version, &r.rollout_id)?
                .map(|mut h| {
                    h.basis_points = h.basis_points.min(FULL - r.basis_points);
                    h
                })
                .filter(|h| h.basis_points > 0);
            (state.retention(channel, &r.version), holdout)
        } else {
            (Vec::new(), None)
        };
        Ok(Event::Expanded {
            channel: channel.to_string(),
            version: r.version.clone(),
            basis_points: bp,
            rollout_id: r.rollout_id.clone(),
            archived,
            holdout,
        })
    }

    /// What a promotion proposes for a state and seq (the operation and its preview share it).
    pub(crate) fn promotion<'a>(
        &'a self,
        req: &'a PromoteRequest,
    ) -> Result<impl Fn(&AppState, u64) -> Result<Event> + 'a> {
        self.config.channel(&req.from)?;
        self.config.channel(&req.to)?;
        let plan = self.config.plan(&req.to)?;
        let start = match req.percent {
            Some(p) => percent_to_basis_points(p)?,
            None => plan[0],
        };
        Ok(move |state: &AppState, seq: u64| -> Result<Event> {
            let version = match &req.version {
                Some(v) => v.clone(),
                None => state.channel(&req.from).current.clone().ok_or_else(|| {
                    Error::Refused(format!(
                        "{} has no current release in {} to promote; pass --version",
                        req.app, req.from
                    ))
                })?,
            };
            state.release(&version)?;
            let rollout_id = rules::rollout_id(&req.to, &version, seq);
            let (archived, holdout) = if start >= FULL {
                (
                    state.retention(&req.to, &version),
                    self.holdout_for(state, &req.to, &version, &rollout_id)?,
                )
            } else {
                (Vec::new(), None)
            };
            Ok(Event::Promoted {
                rollout_id,
                holdout,
                version,
                from: req.from.clone(),
                to: req.to.clone(),
                basis_points: start,
                plan: plan.clone(),
                archived,
            })
        })
    }

    pub async fn promote(&self, by: &Attribution, req: &PromoteRequest) -> Result<Committed> {
        // Before placement copies anything into another bucket.
        self.may_change(&format!("promote {}", req.app))?;
        self.config.channel(&req.from)?;
        self.config.channel(&req.to)?;
        if req.from == req.to {
            return Err(Error::InvalidInput(
                "--from and --to name the same channel".into(),
            ));
        }
        let promotion = self.promotion(req)?;
        // The gate's promotion names the source's current release it judged (and that it
        // has never reached the target); a person's promotion expects nothing.
        let decide = |state: &AppState, seq: u64| {
            if by.expect.current.is_some() {
                as_expected(state, &req.from, by)?;
            }
            promotion(state, seq)
        };
        // Check the rules, then copy the release into the target's store, before anything
        // is logged: a store that refuses (access denied, no such bucket) fails the
        // promotion cleanly, and nothing is copied for a promotion the rules refuse.
        let state = self.load(&req.app).await?;
        let proposed = self.propose(&state, by, decide(&state, state.next_seq())?)?;
        if let Event::Promoted { version, .. } = &proposed.event {
            let target = self.channel_store(&req.to)?.clone();
            self.place_release(&state, version, &target).await?;
        }
        self.commit(&req.app, by, decide).await
    }

    pub async fn expand(
        &self,
        by: &Attribution,
        app: &str,
        channel: &str,
        to: ExpandTo,
    ) -> Result<Committed> {
        self.config.channel(channel)?;
        let target = to.basis_points()?;
        let mut first_seen: Option<u32> = None;
        self.commit(app, by, |state, _| {
            as_expected(state, channel, by)?;
            let r = rules::rollout_in(state, channel)?;
            if target.is_none() && *first_seen.get_or_insert(r.basis_points) != r.basis_points {
                return Err(Error::Conflict(format!(
                    "the rollout of {app} {} in {channel} moved to {} while this command ran; \
                     check `airlock status {app}` and expand again if still wanted",
                    r.version,
                    pct(r.basis_points)
                )));
            }
            self.expansion(state, channel, target)
        })
        .await
    }

    pub async fn pause(&self, by: &Attribution, app: &str, channel: &str) -> Result<Committed> {
        self.set_paused(by, app, channel, true).await
    }

    pub async fn resume(&self, by: &Attribution, app: &str, channel: &str) -> Result<Committed> {
        self.set_paused(by, app, channel, false).await
    }

    async fn set_paused(
        &self,
        by: &Attribution,
        app: &str,
        channel: &str,
        pause: bool,
    ) -> Result<Committed> {
        self.config.channel(channel)?;
        self.commit(app, by, |state, _| {
            as_expected(state, channel, by)?;
            pausing(state, channel, pause)
        })
        .await
    }

    /// Ends a partial rollout: every device returns to the channel's current release.
    pub async fn revert(&self, by: &Attribution, app: &str, channel: &str) -> Result<Committed> {
        self.config.channel(channel)?;
        self.commit(app, by, |state, _| {
            as_expected(state, channel, by)?;
            reversion(state, channel)
        })
        .await
    }
}
