//! Staged rollouts: promote a release into a channel at the plan's first step, expand it
//! step by step (100 % completes it: the release becomes current and the one it replaces
//! rollback-ready), pause and resume it, or revert it (everyone back on the channel's
//! current). Promotion into a protected channel needs an approval by someone other than the
//! release's author. Each rule is checked against freshly read state inside `commit`.

use super::Committed;
use crate::config::percent_to_basis_points;
use crate::error::{Error, Result};
use crate::log::Event;
use crate::state::{AppState, Placement, Rollout};
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

fn pct(bp: u32) -> String {
    format!("{} %", f64::from(bp) / 100.0)
}

fn rollout_in<'a>(state: &'a AppState, channel: &str) -> Result<&'a Rollout> {
    state
        .channels
        .get(channel)
        .and_then(|c| c.rollout.as_ref())
        .ok_or_else(|| {
            Error::Refused(format!(
                "{} has no rollout in progress in {channel}",
                state.app
            ))
        })
}

fn not_quarantined(state: &AppState, version: &str) -> Result<()> {
    match &state.release(version)?.quarantined {
        Some(q) => Err(Error::Refused(format!(
            "{} {version} is quarantined (by {} at {}{}); it cannot be served again",
            state.app,
            q.actor,
            q.at,
            q.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ))),
        None => Ok(()),
    }
}

impl Workspace {
    pub async fn promote(&self, by: &Attribution, req: &PromoteRequest) -> Result<Committed> {
        self.config.channel(&req.from)?;
        self.config.channel(&req.to)?;
        if req.from == req.to {
            return Err(Error::InvalidInput(
                "--from and --to name the same channel".into(),
            ));
        }
        let plan = self.config.plan(&req.to)?;
        let start = match req.percent {
            Some(p) => percent_to_basis_points(p)?,
            None => plan[0],
        };
        let protected = self.is_protected(&req.to);
        let decide = |state: &AppState, seq: u64| -> Result<Event> {
            let source = state.channel(&req.from);
            let version = match &req.version {
                Some(v) => v.clone(),
                None => source.current.clone().ok_or_else(|| {
                    Error::Refused(format!(
                        "{} has no current release in {} to promote; pass --version",
                        req.app, req.from
                    ))
                })?,
            };
            let release = state.release(&version)?;
            not_quarantined(state, &version)?;
            match source.placements.get(&version).map(|p| p.placement) {
                None | Some(Placement::Archived) => {
                    return Err(Error::Refused(format!(
                        "{} {version} is not a live release of {} (promote what has been there)",
                        req.app, req.from
                    )));
                }
                Some(_) => {}
            }
            let target = state.channel(&req.to);
            if let Some(r) = &target.rollout {
                return Err(Error::Refused(format!(
                    "a rollout of {} {} is in progress in {} at {}; expand, revert or finish it first",
                    req.app,
                    r.version,
                    req.to,
                    pct(r.basis_points)
                )));
            }
            if target.current.as_deref() == Some(version.as_str()) {
                return Err(Error::Refused(format!(
                    "{} {version} is already current in {}",
                    req.app, req.to
                )));
            }
            if protected && !state.is_approved(&version, &req.to, &release.author) {
                return Err(Error::ApprovalMissing {
                    app: req.app.clone(),
                    version: version.clone(),
                    channel: req.to.clone(),
                    author: release.author.clone(),
                });
            }
            let archived = if start >= FULL {
                state.retention(&req.to, &version)
            } else {
                Vec::new()
            };
            Ok(Event::Promoted {
                rollout_id: format!("{}-{}-{seq}", req.to, version),
                version,
                from: req.from.clone(),
                to: req.to.clone(),
                basis_points: start,
                archived,
            })
        };
        // Check the rules, then copy the release into the target's store, before anything
        // is logged: a store that refuses (access denied, no such bucket) fails the
        // promotion cleanly, and nothing is copied for a promotion the rules refuse.
        let state = self.load(&req.app).await?;
        if let Event::Promoted { version, .. } = decide(&state, state.next_seq())? {
            let target = self.channel_store(&req.to)?.clone();
            self.place_release(&state, &version, &target).await?;
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
        let plan = self.config.plan(channel)?;
        let target = match to {
            ExpandTo::Percent(p) => Some(percent_to_basis_points(p)?),
            ExpandTo::Next => None,
        };
        let mut first_seen: Option<u32> = None;
        self.commit(app, by, |state, _| {
            let r = rollout_in(state, channel)?;
            if target.is_none() && *first_seen.get_or_insert(r.basis_points) != r.basis_points {
                return Err(Error::Conflict(format!(
                    "the rollout of {app} {} in {channel} moved to {} while this command ran;                      check `airlock status {app}` and expand again if still wanted",
                    r.version,
                    pct(r.basis_points)
                )));
            }
            if r.paused {
                return Err(Error::Refused(format!(
                    "the rollout of {app} {} in {channel} is paused; `airlock resume {app} {channel}` first",
                    r.version
                )));
            }
            not_quarantined(state, &r.version)?;
            let bp = target.unwrap_or_else(|| {
                plan.iter().copied().find(|s| *s > r.basis_points).unwrap_or(FULL)
            });
            if bp <= r.basis_points {
                return Err(Error::Refused(format!(
                    "{app} {} is already at {} in {channel}; a rollout only grows (revert to stop it)",
                    r.version,
                    pct(r.basis_points)
                )));
            }
            let archived = if bp >= FULL { state.retention(channel, &r.version) } else { Vec::new() };
            Ok(Event::Expanded {
                channel: channel.to_string(),
                version: r.version.clone(),
                basis_points: bp,
                rollout_id: r.rollout_id.clone(),
                archived,
            })
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
            let r = rollout_in(state, channel)?;
            if r.paused == pause {
                let now = if pause { "paused" } else { "running" };
                return Err(Error::Refused(format!(
                    "the rollout of {app} {} in {channel} is already {now}",
                    r.version
                )));
            }
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
        })
        .await
    }

    /// Ends a partial rollout: every device returns to the channel's current release.
    pub async fn revert(&self, by: &Attribution, app: &str, channel: &str) -> Result<Committed> {
        self.config.channel(channel)?;
        self.commit(app, by, |state, _| {
            let r = rollout_in(state, channel)?;
            Ok(Event::Reverted {
                channel: channel.to_string(),
                version: r.version.clone(),
                rollout_id: r.rollout_id.clone(),
                basis_points: r.basis_points,
            })
        })
        .await
    }
}
