//! The gate's second question, about releases already current: is a channel's current
//! release worse than its rollback target, over the same recent window (the devices that
//! have not updated yet run the target, so the comparison stays like-for-like)? A failure
//! opens an incident whose severity comes from the decision tree (ops/incident.rs) and
//! which recommends the rollback; a channel with `auto-rollback = true` is rolled back at
//! once. Each is decided once per time a release became current (the command ids derive
//! from that), so two watchers open one incident and roll back once, and an incident a
//! person closed is not reopened for the same stay.

use super::incident::{self, Served};
use super::watch::{Subject, WatchAction, WatchReport, command};
use crate::error::{ErrorKind, Result};
use crate::kpi::judge::{Outcome, Verdict};
use crate::kpi::source::KpiSource;
use crate::log::Event;
use crate::ops::analyze::AnalyzeRequest;
use crate::state::{AppState, Placement};
use crate::workspace::{Attribution, Workspace};

/// How far back a current release is judged: its whole stay, up to a day.
pub const CURRENT_WINDOW_SECONDS: i64 = 24 * 3600;

impl Workspace {
    /// Judges the current release of each of `state`'s channels (or of `channel`) that has
    /// no rollout in progress and a rollback target; see the module note. Reports only what
    /// led to an action (or could not be judged).
    pub(crate) async fn watch_currents(
        &self,
        actor: &str,
        source: &dyn KpiSource,
        state: &AppState,
        channel: Option<&str>,
    ) -> Vec<WatchReport> {
        let mut out = Vec::new();
        for (name, c) in &state.channels {
            if channel.is_some_and(|x| x != name) || self.config.channel(name).is_err() {
                continue;
            }
            let (Some(current), None) = (&c.current, &c.rollout) else {
                continue;
            };
            let Some(target) = state.rollback_candidates(name).into_iter().next() else {
                continue;
            };
            let since = c
                .placements
                .get(current)
                .filter(|p| p.placement == Placement::Current)
                .map(|p| (p.since, p.since_seq));
            let Some((since, since_seq)) = since else {
                continue;
            };
            let mut report = WatchReport {
                app: state.app.clone(),
                channel: name.clone(),
                version: current.clone(),
                subject: Subject::Current,
                rollout_id: String::new(),
                basis_points: airlock_protocol::bucketing::FULL,
                action: WatchAction::Waiting,
                incident: None,
                summary: String::new(),
                detail: String::new(),
            };
            let stay = Stay {
                channel: name,
                current,
                target: &target,
                since,
                since_seq,
            };
            if let Err(e) = self
                .watch_current(actor, source, state, &stay, &mut report)
                .await
            {
                report.action = WatchAction::Error;
                report.detail = e.to_string();
            }
            // A current release judged fine is not news: only actions and errors are said.
            if report.action != WatchAction::Waiting {
                out.push(report);
            }
        }
        out
    }

    async fn watch_current(
        &self,
        actor: &str,
        source: &dyn KpiSource,
        state: &AppState,
        stay: &Stay<'_>,
        report: &mut WatchReport,
    ) -> Result<()> {
        let app = state.app.as_str();
        if let Some(i) = state.open_incident(stay.channel, stay.current) {
            report.incident = Some(i.number);
            report.detail = format!("incident #{} is open about it", i.number);
            return Ok(());
        }
        let policy = self.gate_policy(stay.channel)?;
        let now = self.now();
        // One anytime-valid test over the stay's first day; a sliding day after that.
        let from = stay.since.max(now.plus_seconds(-CURRENT_WINDOW_SECONDS));
        if now.unix() - from.unix() < policy.step_seconds {
            report.detail = "current too briefly for numbers".into();
            return Ok(());
        }
        let req = AnalyzeRequest {
            app: app.to_string(),
            channel: stay.channel.to_string(),
            candidate: Some(stay.current.to_string()),
            baseline: Some(stay.target.to_string()),
            from: Some(from),
            to: Some(now),
        };
        let v = self.analyze(&req, source).await?;
        report.summary = v.summary.clone();
        if v.verdict != Outcome::Fail {
            report.detail = format!(
                "no harm shown against {} ({})",
                stay.target,
                v.verdict.as_str()
            );
            return Ok(());
        }
        // Once per stay as current: the seq at which it became current names it.
        let key = format!("{}:{}", stay.channel, stay.since_seq);
        let by =
            |action: &str| -> Result<Attribution> {
                Attribution::new(&format!("gate:{actor}"), Some(&v.summary))?
                    .with_command(&command(&key, airlock_protocol::bucketing::FULL, action))
            };
        let (sev, _) = incident::assess(&v);
        let roll_back = policy.auto_rollback && sev <= 2;
        let served = if roll_back {
            Served::RolledBack { to: stay.target }
        } else {
            Served::Current { to: stay.target }
        };
        report.incident = self
            .open_gate_incident(app, stay.channel, &v, served, &by("incident")?)
            .await?;
        report.detail = v.worst().map(|k| k.reason.clone()).unwrap_or_default();
        if !roll_back {
            report.action = WatchAction::IncidentOpened;
            return Ok(());
        }
        match self
            .rollback(&by("rollback")?, app, stay.channel, Some(stay.target))
            .await
        {
            Ok(done) if done.replayed => report.action = WatchAction::AlreadyDone,
            Ok(_) => report.action = WatchAction::RolledBack,
            Err(e) if matches!(e.kind(), ErrorKind::Conflict | ErrorKind::Refused) => {
                report.action = WatchAction::AlreadyDone;
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Opens the gate's incident about `v`'s candidate in `channel` (once: `by` carries a
    /// command id; an incident already open about it stands). Returns its number.
    pub(crate) async fn open_gate_incident(
        &self,
        app: &str,
        channel: &str,
        v: &Verdict,
        served: Served<'_>,
        by: &Attribution,
    ) -> Result<Option<u64>> {
        let (severity, why) = incident::assess(v);
        let mut by = by.clone();
        by.reason = Some(format!("{}: SEV-{severity}: {why}", v.summary));
        let event = Event::IncidentOpened {
            channel: channel.to_string(),
            version: v.candidate.clone(),
            severity,
            recommendation: incident::recommendation(severity, app, channel, served),
            kpis: incident::triggering(v),
        };
        let decide = |state: &AppState, _: u64| {
            crate::ops::rollout::as_expected(state, channel, &by)?;
            Ok(event.clone())
        };
        match self.commit(app, &by, decide).await {
            Ok(done) => Ok(Some(done.entry.entry.seq)),
            // Already open (a person opened one, or the rollout moved on): it stands.
            Err(e) if matches!(e.kind(), ErrorKind::Conflict | ErrorKind::Refused) => {
                let state = self.load(app).await?;
                Ok(state.open_incident(channel, &v.candidate).map(|i| i.number))
            }
            Err(e) => Err(e),
        }
    }
}

/// A release's stay as a channel's current.
struct Stay<'a> {
    channel: &'a str,
    current: &'a str,
    target: &'a str,
    since: airlock_protocol::time::Timestamp,
    since_seq: u64,
}
