//! The gate's second question, about releases already current: is a channel's current
//! release worse than the release its randomized holdout keeps? When a release becomes
//! current, the channel's holdout (`[channels.X] holdout`, 5 % by default) keeps the
//! previous release for a share of devices chosen by lot, for `holdout-hours` (72 by
//! default); their telemetry says `cohort="holdout"`, so the comparison is between two
//! groups chosen at random, never with the devices that merely have not updated yet
//! (docs/KPIS.md, "The holdout"). It is asked over the stay while the holdout lasts, one
//! anytime-valid test from the moment the release became current. A channel without a
//! holdout (0 %, or nothing current before) is not judged here: there is no fair group to
//! judge against. A failure opens an incident whose severity comes from the decision tree
//! (ops/incident.rs) and which recommends the rollback; a channel with `auto-rollback =
//! true` is rolled back at once for a SEV-1 or SEV-2, and retried on later passes while that
//! incident is open with no action.
//!
//! Decided once per stay: the command ids derive from the seq at which the release became
//! current, the incident requires that very stay (the same current release since that seq,
//! no rollout), and the rollback requires the release it judged still current — so two
//! watchers open one incident and roll back once, a verdict on a release a person has since
//! replaced acts on nothing, and an incident a person closed is not reopened for the stay.

use super::incident::{self, Served};
use super::watch::{Subject, WatchAction, WatchReport, command};
use crate::error::{ErrorKind, Result};
use crate::kpi::judge::{Outcome, Verdict};
use crate::kpi::source::KpiSource;
use crate::log::Event;
use crate::ops::analyze::AnalyzeRequest;
use crate::state::{AppState, Incident, Placement, PlacementRecord};
use crate::workspace::{Attribution, Expectation, Workspace};
use airlock_protocol::time::Timestamp;

/// A release's stay as a channel's current, with the holdout it is judged against.
pub(crate) struct Stay<'a> {
    pub channel: &'a str,
    pub current: &'a str,
    /// The release the holdout keeps (the previous current, also the rollback target).
    pub target: &'a str,
    pub since: Timestamp,
    pub since_seq: u64,
    /// When the holdout ends: the stay is judged up to then.
    pub until: Timestamp,
}

impl<'a> Stay<'a> {
    /// `current`'s stay in `channel` (as `serving` found it), judged against the release the
    /// channel's holdout keeps; `None` when the channel keeps none for this stay.
    pub(crate) fn of(
        state: &'a AppState,
        channel: &'a str,
        current: &'a str,
        p: &PlacementRecord,
    ) -> Option<Self> {
        let h = state.channels.get(channel)?.holdout.as_ref()?;
        (h.version != current).then_some(Self {
            channel,
            current,
            target: h.version.as_str(),
            since: p.since,
            since_seq: p.since_seq,
            until: h.until,
        })
    }

    /// How long the stay is judged: the holdout's length.
    pub(crate) fn judged_seconds(&self) -> i64 {
        self.until.unix() - self.since.unix()
    }

    /// Whether the stay is judged at `now`: from its first bin of `step` seconds to a bin
    /// after the holdout ended (its last bins, whole).
    pub(crate) fn judged_at(&self, now: Timestamp, step: i64) -> bool {
        let stayed = now.unix() - self.since.unix();
        (step..=self.judged_seconds() + step).contains(&stayed)
    }

    /// The gate's incident about this stay (opened after the release became current).
    pub(crate) fn incident<'s>(&self, state: &'s AppState) -> Option<&'s Incident> {
        state.incidents.values().rev().find(|i| {
            i.channel == self.channel && i.version == self.current && i.number > self.since_seq
        })
    }

    /// The question about this stay: its release against the holdout's, from the moment it
    /// became current to `until`, while the holdout lasts (`analyze` takes the holdout's
    /// devices alone as the baseline).
    pub(crate) fn question(&self, app: &str, until: Timestamp) -> AnalyzeRequest {
        AnalyzeRequest {
            app: app.to_string(),
            channel: self.channel.to_string(),
            candidate: Some(self.current.to_string()),
            baseline: Some(self.target.to_string()),
            from: Some(self.since),
            to: Some(until.min(self.until)),
        }
    }

    /// The command id of `action` for this stay, the same for every watcher.
    pub(crate) fn command(&self, action: &str) -> String {
        let key = format!("{}:{}", self.channel, self.since_seq);
        command(&key, airlock_protocol::bucketing::FULL, action)
    }
}

impl Workspace {
    /// The channels of `state` (or `channel`) in this workspace whose current release serves
    /// everyone, with no rollout in progress: the channel, that release, and its placement
    /// (when it became current).
    pub(crate) fn serving<'a>(
        &self,
        state: &'a AppState,
        channel: Option<&str>,
    ) -> Vec<(&'a str, &'a str, &'a PlacementRecord)> {
        let mut out = Vec::new();
        for (name, c) in &state.channels {
            if channel.is_some_and(|x| x != name) || self.config.channel(name).is_err() {
                continue;
            }
            let (Some(current), None) = (&c.current, &c.rollout) else {
                continue;
            };
            if let Some(p) = c
                .placements
                .get(current)
                .filter(|p| p.placement == Placement::Current)
            {
                out.push((name.as_str(), current.as_str(), p));
            }
        }
        out
    }

    /// Judges each of `state`'s channels (or `channel`) that serves its current release to
    /// everyone: whether that release is bad (see the module note; reported only when
    /// something was done or it could not be judged) and, for a channel with `promote-to`,
    /// whether it is to be promoted (ops/watch_promote.rs; reported until it is). Both
    /// questions read one verdict on the stay, asked once per pass.
    pub(crate) async fn watch_stays(
        &self,
        actor: &str,
        source: &dyn KpiSource,
        state: &AppState,
        channel: Option<&str>,
    ) -> Vec<WatchReport> {
        let mut out = Vec::new();
        for (name, current, p) in self.serving(state, channel) {
            let promote_to = self.promotion_pending(state, name, current);
            let report = |subject| WatchReport {
                basis_points: airlock_protocol::bucketing::FULL,
                ..WatchReport::about(&state.app, name, current, subject)
            };
            let Some(stay) = Stay::of(state, name, current, p) else {
                if let Some(to) = promote_to {
                    let why = if state.rollback_candidates(name).is_empty() {
                        "no earlier release"
                    } else {
                        "no holdout kept the previous release"
                    };
                    out.push(WatchReport {
                        detail: format!(
                            "{why} in {name} to judge it against; promote it to {to} by hand"
                        ),
                        ..report(Subject::Promotion)
                    });
                }
                continue;
            };
            let mut verdict = None;
            let mut bad = report(Subject::Current);
            if let Err(e) = self
                .watch_current(actor, source, state, &stay, &mut verdict, &mut bad)
                .await
            {
                bad.action = WatchAction::Error;
                bad.detail = e.to_string();
            }
            // A current release judged fine is not news: only actions and errors are said.
            if bad.action != WatchAction::Waiting {
                out.push(bad);
            }
            if let Some(to) = promote_to {
                let mut r = report(Subject::Promotion);
                if let Err(e) = self
                    .watch_promotion(actor, source, state, &stay, &to, &mut verdict, &mut r)
                    .await
                {
                    r.action = WatchAction::Error;
                    r.detail = e.to_string();
                }
                out.push(r);
            }
        }
        out
    }

    /// The verdict on `stay` at this moment ([`Stay::question`]), asked once per pass: the
    /// first question to need it fills `cache`.
    pub(crate) async fn stay_verdict<'c>(
        &self,
        source: &dyn KpiSource,
        app: &str,
        stay: &Stay<'_>,
        cache: &'c mut Option<Verdict>,
    ) -> Result<&'c Verdict> {
        if cache.is_none() {
            *cache = Some(
                self.analyze(&stay.question(app, self.now()), source)
                    .await?,
            );
        }
        Ok(cache.as_ref().expect("filled above"))
    }

    async fn watch_current(
        &self,
        actor: &str,
        source: &dyn KpiSource,
        state: &AppState,
        stay: &Stay<'_>,
        verdict: &mut Option<Verdict>,
        report: &mut WatchReport,
    ) -> Result<()> {
        let app = state.app.as_str();
        let policy = self.gate_policy(stay.channel)?;
        if let Some(i) = stay.incident(state) {
            // Decided for this stay already. The gate retries only its own rollback that
            // has not happened yet; a person's incident, or a closed one, is theirs.
            report.incident = Some(i.number);
            let retry = i.closed.is_none()
                && i.action.is_none()
                && i.opened_by.starts_with("gate:")
                && i.severity <= 2
                && policy.auto_rollback;
            if retry {
                self.gate_rollback(actor, app, stay, i.reason.as_deref(), report)
                    .await?;
            }
            return Ok(());
        }
        if !stay.judged_at(self.now(), policy.step_seconds) {
            return Ok(());
        }
        let v = self.stay_verdict(source, app, stay, verdict).await?;
        report.summary = v.summary.clone();
        if v.verdict != Outcome::Fail {
            return Ok(());
        }
        let (sev, _) = incident::assess(v);
        let roll_back = policy.auto_rollback && sev <= 2;
        let served = if roll_back {
            Served::RollingBack { to: stay.target }
        } else {
            Served::Current { to: stay.target }
        };
        // Only while that very stay lasts (a person's act in between wins).
        let by = Attribution::new(&format!("gate:{actor}"), Some(&v.summary))?
            .with_command(&stay.command("incident"))?
            .expecting(Expectation {
                current: Some(stay.current.to_string()),
                stay_since: Some(stay.since_seq),
                ..Expectation::default()
            });
        let Some((number, replayed)) = self
            .gate_incident(app, stay.channel, v, served, &by)
            .await?
        else {
            // The stay ended while the verdict was read (a person acted): nothing applies.
            return Ok(());
        };
        report.incident = Some(number);
        report.detail = v.worst().map(|k| k.reason.clone()).unwrap_or_default();
        report.action = if replayed {
            WatchAction::AlreadyDone
        } else {
            WatchAction::IncidentOpened
        };
        if roll_back {
            self.gate_rollback(actor, app, stay, Some(&v.summary), report)
                .await?;
        }
        Ok(())
    }

    /// Rolls `stay`'s channel back to its target, only while the release judged is still
    /// current, once (a command id per stay).
    async fn gate_rollback(
        &self,
        actor: &str,
        app: &str,
        stay: &Stay<'_>,
        why: Option<&str>,
        report: &mut WatchReport,
    ) -> Result<()> {
        let by = Attribution::new(&format!("gate:{actor}"), why)?
            .with_command(&stay.command("rollback"))?
            .expecting(Expectation {
                current: Some(stay.current.to_string()),
                ..Expectation::default()
            });
        match self
            .rollback(&by, app, stay.channel, Some(stay.target))
            .await
        {
            Ok(done) if done.replayed => report.action = WatchAction::AlreadyDone,
            Ok(_) => report.action = WatchAction::RolledBack,
            Err(e) if e.kind() == ErrorKind::Conflict => {
                report.action = WatchAction::AlreadyDone;
                report.detail = format!("not rolled back: {e}");
            }
            Err(e) if e.kind() == ErrorKind::Refused => {
                report.action = WatchAction::Refused;
                report.detail = format!("rollback refused: {e}");
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Opens the gate's incident about `v`'s candidate in `channel` while what `by` expects
    /// holds (once: `by` carries a command id). Returns its number and whether it had
    /// already been opened; `None` when the channel moved on.
    pub(crate) async fn gate_incident(
        &self,
        app: &str,
        channel: &str,
        v: &Verdict,
        served: Served<'_>,
        by: &Attribution,
    ) -> Result<Option<(u64, bool)>> {
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
            Ok(done) => Ok(Some((done.entry.entry.seq, done.replayed))),
            Err(e) if e.kind() == ErrorKind::Conflict => Ok(None),
            // Another incident about it is open (a person's): it stands.
            Err(e) if e.kind() == ErrorKind::Refused => {
                let state = self.load(app).await?;
                Ok(state
                    .open_incident(channel, &v.candidate)
                    .map(|i| (i.number, true)))
            }
            Err(e) => Err(e),
        }
    }
}
