//! The gate's third question, for a channel that feeds another (`[kpi.channels.Staging]
//! promote-to = "Production"`): has the channel's current release been shown safe there?
//! It is judged as ops/watch_current.rs judges a current release — against its rollback
//! target in the same channel, over its stay as current — and once the channel's
//! observation window is over and that verdict *passes* (evidence of safety on every KPI in
//! force, never mere absence of harm), the gate logs `currentPassed` (the verdict, the stay
//! it judged and the target) and promotes the release to the target's first step, where
//! the rollout gate (ops/watch.rs) takes it on. A protected target still needs its approval
//! by someone other than the author: without one the gate says it waits for it.
//!
//! Once per stay: the command ids derive from the channel and the seq at which the release
//! became current, and both entries require that very stay (the release still current here
//! since that seq, no rollout, no incident about it since) and the release never placed in
//! the target, so two watchers promote once and a person who promoted
//! (or promoted and reverted) it meanwhile wins. A stay with an incident is left to a person.
//!
//! A person may promote before the window is over, as they may expand early: allowed, and
//! the entry's reason says the gate had not passed yet ([`Workspace::noting_early_promotion`]).

use super::watch::{WatchAction, WatchReport, noted};
use super::watch_current::Stay;
use crate::error::{ErrorKind, Result};
use crate::kpi::judge::{Outcome, Verdict};
use crate::kpi::source::KpiSource;
use crate::kpi::words;
use crate::log::Event;
use crate::ops::rollout::PromoteRequest;
use crate::state::AppState;
use crate::workspace::{Attribution, Expectation, Workspace};

impl Workspace {
    /// For a person's promotion of `req`: when the source channel's gate would promote this
    /// release to this target and its window is not over, what the entry should record —
    /// "gate not passed yet: Staging's window 40 min left; verdict so far: inconclusive".
    pub async fn early_promotion_note(&self, req: &PromoteRequest) -> Result<Option<String>> {
        if self.config.kpi.is_none()
            || self.gate_policy(&req.from)?.promote_to.as_deref() != Some(req.to.as_str())
        {
            return Ok(None);
        }
        let state = self.load(&req.app).await?;
        let Some((name, current, p)) = self
            .serving(&state, Some(&req.from))
            .into_iter()
            .find(|(_, current, _)| req.version.as_deref().is_none_or(|v| v == *current))
        else {
            return Ok(None);
        };
        let Some(stay) = Stay::of(&state, name, current, p) else {
            return Ok(None);
        };
        let window = self.promotion_window(name)?;
        let question = stay.question(&req.app, self.now());
        let elapsed = self.now().unix() - p.since.unix();
        self.not_passed_yet(&format!("{name}'s window"), window, elapsed, &question)
            .await
    }

    /// `by` with the early-promotion note (if any) added to its reason.
    pub async fn noting_early_promotion(
        &self,
        by: &Attribution,
        req: &PromoteRequest,
    ) -> Result<(Attribution, Option<String>)> {
        let note = self.early_promotion_note(req).await?;
        Ok((noted(by, note.as_deref()), note))
    }

    /// How long a release stays current in `channel` before the gate may promote it: the
    /// window of the channel's last plan step (its only one for Staging's plan of 100 %).
    fn promotion_window(&self, channel: &str) -> Result<i64> {
        let steps = self.config.plan(channel)?.len().saturating_sub(1) as u32;
        let protected = self.config.channel(channel)?.protected;
        Ok(self.gate_policy(channel)?.window_seconds(steps, protected))
    }

    /// The channel `channel`'s current release `current` is still to be promoted to: its
    /// `promote-to`, while the release has never been there and is not quarantined.
    pub(crate) fn promotion_pending(
        &self,
        state: &AppState,
        channel: &str,
        current: &str,
    ) -> Option<String> {
        let to = self.gate_policy(channel).ok()?.promote_to?;
        let quarantined = state
            .releases
            .get(current)
            .is_none_or(|r| r.quarantined.is_some());
        (state.placement(current, &to).is_none() && !quarantined).then_some(to)
    }

    /// Whether `stay`'s release is promoted to `to` now (see the module note), filling
    /// `report`; `verdict` is the stay's, shared with the bad-current-release question.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn watch_promotion(
        &self,
        actor: &str,
        source: &dyn KpiSource,
        state: &AppState,
        stay: &Stay<'_>,
        to: &str,
        verdict: &mut Option<Verdict>,
        report: &mut WatchReport,
    ) -> Result<()> {
        let app = state.app.as_str();
        let (name, version) = (stay.channel, stay.current);
        if let Some(i) = stay.incident(state) {
            report.incident = Some(i.number);
            report.action = WatchAction::LeftAlone;
            report.detail = format!(
                "incident #{} is about this release in {name}: the gate leaves its promotion \
                 to a person",
                i.number
            );
            return Ok(());
        }
        let policy = self.gate_policy(name)?;
        let window = self.promotion_window(name)?;
        let stayed = self.now().unix() - stay.since.unix();
        let hours = |s: i64| words::duration(s as f64 / 3600.0);
        if stayed < policy.step_seconds {
            report.detail = format!(
                "current in {name} for {}; the first numbers come after {}",
                hours(stayed),
                hours(policy.step_seconds)
            );
            return Ok(());
        }
        // While the holdout lasts (Stay::question): after that there is no fair group to
        // compare with, and the verdict on it stands.
        let judged_for = stay.judged_seconds();
        let judged = stayed.min(judged_for);
        let v = self.stay_verdict(source, app, stay, verdict).await?;
        report.summary = v.summary.clone();
        let left = hours((window - stayed).max(0));
        match v.verdict {
            Outcome::Fail => {
                report.action = WatchAction::LeftAlone;
                report.detail = format!(
                    "not promoted to {to}: {}",
                    v.worst()
                        .map(|k| k.reason.as_str())
                        .unwrap_or("the gate failed")
                );
                return Ok(());
            }
            Outcome::Pass if stayed >= window => {}
            Outcome::Pass => {
                report.detail = format!("safe so far; promoted to {to} in {left} if it stays so");
                return Ok(());
            }
            _ if stayed < window => {
                report.detail = format!("window {left} left; verdict so far: inconclusive");
                return Ok(());
            }
            _ if stayed > judged_for => {
                report.detail = format!(
                    "not shown safe while {name}'s holdout lasted ({}); promote it to {to} by \
                     hand",
                    hours(judged_for)
                );
                return Ok(());
            }
            _ => {
                report.detail = format!(
                    "window over, not shown safe yet (inconclusive); judged on until it is, while \
                     {name}'s holdout lasts ({} in all)",
                    hours(judged_for)
                );
                return Ok(());
            }
        }
        let shown = format!("shown safe in {name} over {}", hours(judged));
        let author = &state.release(version)?.author;
        if self.config.channel(to)?.protected && !state.is_approved(version, to, author) {
            report.action = WatchAction::PassedWaiting;
            report.detail = format!(
                "{shown}; {to} is protected: it waits for an approval by someone other than \
                 {author}"
            );
            return Ok(());
        }
        if let Some(r) = state.channel(to).rollout {
            report.detail = format!(
                "{shown}; promoted to {to} once its rollout of {} is finished",
                r.version
            );
            return Ok(());
        }
        let by = |action: &str| -> Result<Attribution> {
            Ok(
                Attribution::new(&format!("gate:{actor}"), Some(&v.summary))?
                    .with_command(&stay.command(action))?
                    .expecting(Expectation {
                        current: Some(version.to_string()),
                        never_in: Some(to.to_string()),
                        stay_since: Some(stay.since_seq),
                        ..Expectation::default()
                    }),
            )
        };
        let passed = Event::CurrentPassed {
            channel: name.to_string(),
            version: version.to_string(),
            since_seq: stay.since_seq,
            to: to.to_string(),
            verdict: super::watch::record(v),
        };
        let Some(logged) = self.log_gate(app, &by("passed")?, passed).await? else {
            report.action = WatchAction::AlreadyDone;
            report.detail = format!("{name} moved on before the verdict was logged");
            return Ok(());
        };
        let req = PromoteRequest {
            app: app.to_string(),
            from: name.to_string(),
            to: to.to_string(),
            percent: None,
            version: Some(version.to_string()),
        };
        match self.promote(&by("promote")?, &req).await {
            Ok(c) if c.replayed => {
                report.action = WatchAction::AlreadyDone;
                report.detail = "another watcher took this decision".into();
            }
            Ok(c) => {
                report.action = WatchAction::Promoted;
                let mut at = String::new();
                if let Event::Promoted { basis_points, .. } = c.entry.entry.event {
                    report.to_basis_points = Some(basis_points);
                    at = format!(" at {}", crate::log::entry::percent(basis_points));
                }
                report.detail = format!("{shown}; promoted to {to}{at}");
            }
            // A person acted in between (promoted it, started another rollout there,
            // withdrew the approval, opened an incident): theirs wins, and it is said.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Conflict | ErrorKind::Refused | ErrorKind::ApprovalMissing
                ) =>
            {
                report.action = if logged {
                    WatchAction::LeftAlone
                } else {
                    WatchAction::AlreadyDone
                };
                report.detail = format!("{shown}; not promoted: {e}");
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }
}
