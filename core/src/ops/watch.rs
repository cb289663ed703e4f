//! `airlock watch`: the loop that acts on the gate's verdicts. One pass looks at every
//! rollout in progress (of one app or channel, if named): a rollout a person paused is left
//! alone; otherwise its current step is judged (ops/analyze.rs) and
//!
//! - a critical fail logs `gateFailed`, opens an incident and reverts (or pauses, when the
//!   channel says so);
//! - any other fail logs `gateFailed`, opens an incident and pauses; a warning logs
//!   `gateFailed` and pauses;
//! - a pass once the step's observation window is over logs `gatePassed` and expands to the
//!   next step (or waits for a person, when the channel says so);
//! - anything else waits.
//!
//! Then it judges every channel's *current* release against its rollback target
//! (ops/watch_current.rs: a bad one opens an incident recommending the rollback, or rolls
//! back when the channel allows), promotes a current release shown safe to the channel its
//! `promote-to` names (ops/watch_promote.rs: Staging to Production's first step), and runs
//! Airlock's checks of every open incident's checklist (ops/incident_checks.rs).
//!
//! Every write goes through the engine's commit with preconditions (the rollout id and
//! percentage the verdict judged) and a command id derived from them, so two watchers on one
//! store log each decision once and act once, and neither acts on a rollout that moved on (a
//! person's pause or revert in between wins). The actor is `gate:<workspace actor>`.

use crate::error::{ErrorKind, Result};
use crate::kpi::judge::{KpiOutcome, Outcome, Verdict};
use crate::kpi::source::KpiSource;
use crate::kpi::words;
use crate::log::Event;
use crate::log::entry::{GateKpi, GateRecord};
use crate::ops::analyze::AnalyzeRequest;
use crate::ops::incident::Served;
use crate::ops::rollout::ExpandTo;
use crate::state::Rollout;
use crate::workspace::{Attribution, Expectation, Workspace};
use serde::Serialize;

/// What one pass did about one rollout.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct WatchReport {
    pub app: String,
    pub channel: String,
    pub version: String,
    /// What was looked at: a rollout's step, a channel's current release (whether it is
    /// bad, or ready for promotion to the next channel), or an incident.
    pub subject: Subject,
    /// Empty for a current release or an incident.
    pub rollout_id: String,
    pub basis_points: u32,
    /// After an expansion or a promotion: the step the rollout went to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_basis_points: Option<u32>,
    pub action: WatchAction,
    /// The incident this pass opened or checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<u64>,
    /// The verdict's one line (empty when nothing was judged).
    pub summary: String,
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum Subject {
    Rollout,
    Current,
    /// A channel's current release, as a candidate for the channel its `promote-to` names.
    Promotion,
    Incident,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum WatchAction {
    /// Judged, nothing to do yet.
    Waiting,
    /// Not acted on: a rollout paused by a person (not judged), or a current release the
    /// gate does not promote (`detail` says why: a failing verdict, an incident, a person's
    /// act in between).
    LeftAlone,
    /// The gate passed and the rollout expanded to the next step.
    Expanded,
    /// The gate passed; the channel waits for a person to expand (or, for a promotion, for
    /// the target channel's approval).
    PassedWaiting,
    /// A current release shown safe was promoted to the next channel's first step.
    Promoted,
    Paused,
    Reverted,
    /// A current release was judged bad: an incident recommends rolling it back.
    IncidentOpened,
    /// A current release was judged bad and rolled back (the channel allows it).
    RolledBack,
    /// Items of an incident's checklist were checked (`detail` says which).
    Checked,
    /// Another watcher (or this one, earlier) already took this decision, or the rollout
    /// moved on (a person paused, reverted or expanded it) since the verdict was read.
    AlreadyDone,
    /// The gate decided, but its action was refused (`detail` says why: the app's log is
    /// tampered, written by a newer Airlock, a rule said no). Never reported as done.
    Refused,
    /// This rollout could not be judged; `detail` says why. The pass goes on with the others.
    Error,
}

impl WatchReport {
    /// A report on `subject` about `version` in `channel`, nothing done yet.
    pub(crate) fn about(app: &str, channel: &str, version: &str, subject: Subject) -> Self {
        Self {
            app: app.to_string(),
            channel: channel.to_string(),
            version: version.to_string(),
            subject,
            rollout_id: String::new(),
            basis_points: 0,
            to_basis_points: None,
            action: WatchAction::Waiting,
            incident: None,
            summary: String::new(),
            detail: String::new(),
        }
    }

    fn new(app: &str, channel: &str, r: &Rollout) -> Self {
        Self {
            rollout_id: r.rollout_id.clone(),
            basis_points: r.basis_points,
            ..Self::about(app, channel, &r.version, Subject::Rollout)
        }
    }
}

/// A command id for `action` on step `bp` of rollout `id`: the same for every watcher
/// (the rollout id is hashed: it may hold characters a command id may not, and be long).
pub(crate) fn command(id: &str, bp: u32, action: &str) -> String {
    let digest = airlock_protocol::digest::sha256_hex(id.as_bytes());
    format!("gate-{action}-{bp}-{}", &digest[..24])
}

pub(crate) fn record(v: &Verdict) -> GateRecord {
    let whole = |x: Option<f64>| x.map_or(0, |x| x.max(0.0).round() as u64);
    GateRecord {
        baseline: v.baseline.clone(),
        from: v.from,
        to: v.to,
        summary: v.summary.clone(),
        settings: v.settings.clone(),
        kpis: v
            .kpis
            .iter()
            .map(|k| GateKpi {
                kpi: k.kpi.key().to_string(),
                verdict: k.verdict.as_str().into(),
                candidate_exposure: whole(k.candidate.as_ref().map(|c| c.exposure)),
                candidate_events: whole(k.candidate.as_ref().map(|c| c.events)),
                baseline_exposure: whole(k.baseline.as_ref().map(|c| c.exposure)),
                baseline_events: whole(k.baseline.as_ref().map(|c| c.events)),
                reason: k.reason.clone(),
            })
            .collect(),
    }
}

impl Workspace {
    /// Whether this desktop may run the gate (a viewer's may not): the refusal in words.
    pub fn may_watch(&self) -> Result<()> {
        self.may_change("watch")
    }

    /// One pass of the loop over the rollouts in progress; see the module note.
    pub async fn watch_once(
        &self,
        actor: &str,
        source: &dyn KpiSource,
        app: Option<&str>,
        channel: Option<&str>,
    ) -> Result<Vec<WatchReport>> {
        self.may_change("watch")?;
        let apps = match app {
            Some(a) => vec![a.to_string()],
            None => self.apps().await?,
        };
        let mut out = Vec::new();
        for app in apps {
            let state = self.load(&app).await?;
            for (name, ch) in &state.channels {
                let Some(r) = &ch.rollout else { continue };
                if channel.is_some_and(|c| c != name) || self.config.channel(name).is_err() {
                    continue;
                }
                let mut report = WatchReport::new(&app, name, r);
                // One rollout's failure (no current release to compare with, a query that
                // fails) must not keep the others from being judged.
                let current = ch.current.as_deref();
                if let Err(e) = self
                    .watch_rollout(actor, source, &mut report, r, current)
                    .await
                {
                    report.action = WatchAction::Error;
                    report.detail = e.to_string();
                }
                out.push(report);
            }
            out.extend(self.watch_stays(actor, source, &state, channel).await);
            out.extend(self.watch_incidents(actor, source, &app, channel).await);
        }
        Ok(out)
    }

    /// Runs Airlock's checks of `app`'s open incidents that have an action (of `channel`,
    /// if named): one report per incident whose items changed or could not be checked.
    async fn watch_incidents(
        &self,
        actor: &str,
        source: &dyn KpiSource,
        app: &str,
        channel: Option<&str>,
    ) -> Vec<WatchReport> {
        let state = match self.load(app).await {
            Ok(s) => s,
            Err(_) => return Vec::new(),
        };
        let mut out = Vec::new();
        for i in state.incidents.values() {
            if i.closed.is_some() || i.action.is_none() || channel.is_some_and(|c| c != i.channel) {
                continue;
            }
            let mut report = WatchReport {
                action: WatchAction::Checked,
                incident: Some(i.number),
                summary: format!("incident #{} (SEV-{})", i.number, i.severity),
                ..WatchReport::about(app, &i.channel, &i.version, Subject::Incident)
            };
            match self.check_incident(actor, source, app, i.number).await {
                Ok(checks) => {
                    let logged: Vec<String> = checks
                        .iter()
                        .filter(|c| c.logged)
                        .map(|c| format!("{}: {}", c.item.key(), c.detail))
                        .collect();
                    if logged.is_empty() {
                        continue;
                    }
                    report.detail = logged.join("; ");
                }
                Err(e) => {
                    report.action = WatchAction::Error;
                    report.detail = e.to_string();
                }
            }
            out.push(report);
        }
        out
    }

    /// Judges `r` (the rollout of `report.channel`, as this pass read it, over `current`)
    /// and acts, filling `report`.
    async fn watch_rollout(
        &self,
        actor: &str,
        source: &dyn KpiSource,
        report: &mut WatchReport,
        r: &Rollout,
        current: Option<&str>,
    ) -> Result<()> {
        let (app, channel) = (report.app.clone(), report.channel.clone());
        let (app, channel) = (app.as_str(), channel.as_str());
        if r.paused {
            report.action = WatchAction::LeftAlone;
            report.detail = "paused by a person: the gate does not act until it is resumed".into();
            return Ok(());
        }
        let policy = self.gate_policy(channel)?;
        let (window, elapsed) = self.step_window(channel, r, &policy)?;
        if elapsed < policy.step_seconds {
            report.detail = format!(
                "the step began {}; the first numbers come after {}",
                words::duration(elapsed as f64 / 3600.0),
                words::duration(policy.step_seconds as f64 / 3600.0)
            );
            return Ok(());
        }
        // The step this pass saw, even if another watcher moves the rollout meanwhile (the
        // commits below then find it moved and do nothing).
        let req = AnalyzeRequest {
            app: app.to_string(),
            channel: channel.to_string(),
            candidate: Some(r.version.clone()),
            // The rollout is one test from its start, across every step.
            from: Some(r.started_at),
            to: Some(self.now()),
            ..AnalyzeRequest::default()
        };
        let v = self.analyze(&req, source).await?;
        report.summary = v.summary.clone();
        let critical = v
            .kpis
            .iter()
            .any(|k| k.verdict == KpiOutcome::Fail && k.critical);
        let warned = v.kpis.iter().any(|k| k.verdict == KpiOutcome::Warn);
        let by = |action: &str| -> Result<Attribution> {
            let mut a = Attribution::new(&format!("gate:{actor}"), Some(&v.summary))?
                .with_command(&command(&r.rollout_id, r.basis_points, action))?;
            a.expect = Expectation {
                rollout_id: Some(r.rollout_id.clone()),
                basis_points: Some(r.basis_points),
                running: true,
                current: None,
                never_in: None,
                stay_since: None,
            };
            Ok(a)
        };
        let gate = |passed: bool| {
            let (channel, version, rollout_id) =
                (channel.to_string(), r.version.clone(), r.rollout_id.clone());
            if passed {
                Event::GatePassed {
                    channel,
                    version,
                    rollout_id,
                    basis_points: r.basis_points,
                    verdict: record(&v),
                }
            } else {
                Event::GateFailed {
                    channel,
                    version,
                    rollout_id,
                    basis_points: r.basis_points,
                    critical,
                    verdict: record(&v),
                }
            }
        };
        if v.verdict == Outcome::Fail || warned {
            let Some(logged) = self.log_gate(app, &by("failed")?, gate(false)).await? else {
                report.action = WatchAction::AlreadyDone;
                report.detail = "the rollout moved on before the verdict was logged".into();
                return Ok(());
            };
            let revert = critical && policy.auto_revert;
            let mut incident_error = String::new();
            if v.verdict == Outcome::Fail {
                // Where a revert sends devices: the channel's current as this pass read it
                // (a rollout in progress keeps it).
                let served = match (current, revert) {
                    (Some(to), true) => Served::Reverting { to },
                    (None, true) => Served::Reverting {
                        to: "their built-in bundle",
                    },
                    (_, false) => Served::RollingOut,
                };
                // The incident is bookkeeping: its failure must not hold up the revert.
                match self
                    .gate_incident(app, channel, &v, served, &by("incident")?)
                    .await
                {
                    Ok(opened) => report.incident = opened.map(|(n, _)| n),
                    Err(e) => incident_error = format!("; the incident could not be opened: {e}"),
                }
            }
            let acted = if revert {
                self.revert(&by("revert")?, app, channel).await
            } else {
                self.pause(&by("pause")?, app, channel).await
            };
            let refusal;
            (report.action, refusal) = settled(
                acted,
                if revert {
                    WatchAction::Reverted
                } else {
                    WatchAction::Paused
                },
            )?;
            if let Some(why) = refusal {
                report.detail = why;
            } else if !logged && report.action == WatchAction::AlreadyDone {
                report.detail = "another watcher took this decision".into();
            } else {
                report.detail = v.worst().map(|k| k.reason.clone()).unwrap_or_default();
                report.detail.push_str(&incident_error);
            }
        } else if v.verdict == Outcome::Pass && elapsed >= window {
            let Some(logged) = self.log_gate(app, &by("passed")?, gate(true)).await? else {
                report.action = WatchAction::AlreadyDone;
                report.detail = "the rollout moved on before the verdict was logged".into();
                return Ok(());
            };
            if policy.auto_expand {
                let acted = self
                    .expand(&by("expand")?, app, channel, ExpandTo::Next)
                    .await;
                if let Ok(c) = &acted
                    && !c.replayed
                    && let Event::Expanded { basis_points, .. } = c.entry.entry.event
                {
                    report.to_basis_points = Some(basis_points);
                }
                let refusal;
                (report.action, refusal) = settled(acted, WatchAction::Expanded)?;
                report.detail = if let Some(why) = refusal {
                    why
                } else if report.action == WatchAction::AlreadyDone && !logged {
                    "another watcher took this decision".into()
                } else {
                    format!(
                        "window of {} over, every KPI safe",
                        words::duration(window as f64 / 3600.0)
                    )
                };
            } else {
                report.action = if logged {
                    WatchAction::PassedWaiting
                } else {
                    WatchAction::AlreadyDone
                };
                report.detail = "passed; this channel waits for a person to expand".into();
            }
        } else {
            let left = (window - elapsed).max(0);
            report.detail = match v.verdict {
                Outcome::Pass => format!(
                    "safe so far; window {} left",
                    words::duration(left as f64 / 3600.0)
                ),
                _ => format!(
                    "window {} left; verdict so far: inconclusive",
                    words::duration(left as f64 / 3600.0)
                ),
            };
        }
        Ok(())
    }

    /// For a person's expansion of `channel`'s rollout: when a KPI source is configured and
    /// the step's observation window is not over, what the entry should record — "gate not
    /// passed yet: window 1 h 10 min left; verdict so far: inconclusive". The expansion is
    /// allowed either way (no `--force`); a source that cannot be read is said too.
    pub async fn early_expansion_note(&self, app: &str, channel: &str) -> Result<Option<String>> {
        if self.config.kpi.is_none() {
            return Ok(None);
        }
        let state = self.load(app).await?;
        let Some(r) = state.channel(channel).rollout else {
            return Ok(None);
        };
        let policy = self.gate_policy(channel)?;
        let (window, elapsed) = self.step_window(channel, &r, &policy)?;
        let req = AnalyzeRequest {
            app: app.to_string(),
            channel: channel.to_string(),
            ..AnalyzeRequest::default()
        };
        self.not_passed_yet("window", window, elapsed, &req).await
    }

    /// While a window of `window` seconds, `elapsed` of them gone, is not over: "gate not
    /// passed yet: {what} 1 h 10 min left; verdict so far: inconclusive", the verdict on
    /// `req` (or why it could not be read). `None` once the window is over or when there is
    /// no KPI source at all (no gate).
    pub(crate) async fn not_passed_yet(
        &self,
        what: &str,
        window: i64,
        elapsed: i64,
        req: &AnalyzeRequest,
    ) -> Result<Option<String>> {
        if elapsed >= window {
            return Ok(None);
        }
        // No KPI source at all (kpi_source says so, as a configuration error): no gate.
        let source = match self.kpi_source().await {
            Err(e) if e.kind() == ErrorKind::Config => return Ok(None),
            other => other,
        };
        let left = words::duration((window - elapsed) as f64 / 3600.0);
        let too_soon = elapsed < self.gate_policy(&req.channel)?.step_seconds;
        let so_far = match source {
            _ if too_soon => "no numbers yet".to_string(),
            Ok(source) => match self.analyze(req, source.as_ref()).await {
                Ok(v) => format!("verdict so far: {}", v.verdict.as_str()),
                Err(e) => format!("verdict unavailable ({e})"),
            },
            Err(e) => format!("verdict unavailable ({e})"),
        };
        Ok(Some(format!(
            "gate not passed yet: {what} {left} left; {so_far}"
        )))
    }

    /// `by` with the early-expansion note (if any) added to its reason.
    pub async fn noting_early_expansion(
        &self,
        by: &Attribution,
        app: &str,
        channel: &str,
    ) -> Result<(Attribution, Option<String>)> {
        let note = self.early_expansion_note(app, channel).await?;
        Ok((noted(by, note.as_deref()), note))
    }

    /// Logs a gate entry: `Some(true)` when this call wrote it, `Some(false)` when this
    /// decision was already logged (by any watcher), `None` when the rollout moved on (a
    /// person or another watcher changed it) and the verdict no longer applies.
    pub(crate) async fn log_gate(
        &self,
        app: &str,
        by: &Attribution,
        event: Event,
    ) -> Result<Option<bool>> {
        let channel = event.channel().unwrap_or_default().to_string();
        let decide = |state: &crate::state::AppState, _: u64| {
            crate::ops::rollout::as_expected(state, &channel, by)?;
            Ok(event.clone())
        };
        match self.commit(app, by, decide).await {
            Ok(done) => Ok(Some(!done.replayed)),
            Err(e) if matches!(e.kind(), ErrorKind::Conflict | ErrorKind::Refused) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// `by` with `note` (if any) added to its reason, for the log.
pub(crate) fn noted(by: &Attribution, note: Option<&str>) -> Attribution {
    let mut by = by.clone();
    if let Some(n) = note {
        by.reason = Some(match by.reason.take() {
            Some(r) if !r.trim().is_empty() => format!("{r} ({n})"),
            _ => n.to_string(),
        });
    }
    by
}

/// The action's outcome: done, already done by another watcher (its command id is in the
/// log, or the rollout already moved past the step it judged: a conflict with the verdict's
/// expectation), refused (with why), or an error.
pub(crate) fn settled(
    result: Result<crate::ops::Committed>,
    done: WatchAction,
) -> Result<(WatchAction, Option<String>)> {
    match result {
        Ok(c) if c.replayed => Ok((WatchAction::AlreadyDone, None)),
        Ok(_) => Ok((done, None)),
        Err(e) if e.kind() == ErrorKind::Conflict => Ok((WatchAction::AlreadyDone, None)),
        Err(e) if e.kind() == ErrorKind::Refused => {
            Ok((WatchAction::Refused, Some(format!("refused: {e}"))))
        }
        Err(e) => Err(e),
    }
}
