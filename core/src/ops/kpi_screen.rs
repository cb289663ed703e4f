//! What the console's KPI screen and the overview's health column show, from the same
//! functions the gate runs: the five panels (ops/kpi_charts.rs), the verdict the gate would
//! give now (`analyze`: the rollout against the current release over its step, or a
//! current release against its channel's holdout while it lasts, as
//! ops/watch_current.rs asks), the observation window's time left, the time a decision
//! still needs at the current traffic, and what the watcher will do next ([`forecast`],
//! which follows the rules of `watch_once` in ops/watch.rs).

use super::kpi_charts::ChartRequest;
use crate::charts::{KpiChart, Panel};
use crate::error::Result;
use crate::kpi::judge::{KpiOutcome, KpiVerdict, Outcome, Verdict};
use crate::kpi::policy::{GatePolicy, Kpi, Measure};
use crate::kpi::source::KpiSource;
use crate::kpi::words;
use crate::ops::analyze::AnalyzeRequest;
use crate::state::{AppState, Rollout};
use crate::workspace::Workspace;
use serde::Serialize;

/// One KPI's verdict in words, for the screen's table.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct KpiRow {
    pub kpi: Kpi,
    pub label: String,
    /// `pass`, `warn`, `fail` or `inconclusive`.
    pub verdict: String,
    pub critical: bool,
    /// "0.41 % of 12,345 sessions" (a rate) or "p95 2.1 s of 4,000 installs" (a latency).
    pub candidate: Option<String>,
    pub baseline: Option<String>,
    /// The candidate's interval, as the judge bounds it.
    pub interval: Option<String>,
    /// The limits it is judged against, in words.
    pub threshold: String,
    pub reason: String,
    pub needs_hours: Option<f64>,
}

/// The verdict the gate would give now.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct VerdictView {
    /// `pass`, `fail` or `inconclusive`.
    pub outcome: String,
    pub candidate: String,
    pub baseline: String,
    pub summary: String,
    pub from: String,
    pub to: String,
    pub kpis: Vec<KpiRow>,
    pub guards: Vec<String>,
    /// The longest wait any inconclusive KPI still needs at the current traffic, in hours.
    pub decision_needs_hours: Option<f64>,
}

/// The rollout's step and its observation window.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct StepClock {
    pub version: String,
    pub basis_points: u32,
    pub next_basis_points: u32,
    pub paused: bool,
    pub window_seconds: f64,
    pub elapsed_seconds: f64,
}

/// Everything the KPI screen shows for one channel.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct KpiScreen {
    pub app: String,
    pub channel: String,
    pub charts: Vec<KpiChart>,
    pub verdict: Option<VerdictView>,
    pub step: Option<StepClock>,
    /// What the watcher will do next, in one sentence.
    pub next: String,
    /// Why there are no numbers (no KPI source configured, the source failed), in words.
    pub problem: Option<String>,
}

/// A channel's health for the overview.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub channel: String,
    pub version: String,
    /// `rollout` or `current`.
    pub subject: String,
    /// `pass`, `warning`, `fail`, `waiting` (for data or a decision) or `none` (no
    /// numbers, or not judged: `reason` says which).
    pub state: String,
    pub reason: String,
}

fn limits_words(kv: &KpiVerdict) -> String {
    let l = &kv.limits;
    let show = |x: f64| match kv.kpi.measure() {
        Measure::Latency(_) => words::seconds(x),
        Measure::Rate { .. } => words::percent(x),
    };
    let mut parts = Vec::new();
    if let Some(w) = l.warning {
        parts.push(format!("warning beyond {}", show(w)));
    }
    if let Some(c) = l.critical {
        parts.push(format!("critical beyond {}", show(c)));
    }
    if l.relative_to_baseline && !parts.is_empty() {
        parts.push("(above the baseline's)".into());
    }
    parts.push(match (kv.boundary, kv.kpi.measure()) {
        (Some(b), _) => format!("boundary {b:.2}× the baseline"),
        (None, Measure::Rate { .. }) => format!(
            "boundary {:.2}× the baseline or {} points above it",
            1.0 + l.harm_margin,
            words::percent(l.tolerance).trim_end_matches(" %")
        ),
        (None, Measure::Latency(_)) => format!("boundary {:.2}× the baseline", 1.0 + l.harm_margin),
    });
    parts.join(", ")
}

fn cohort_words(kv: &KpiVerdict, candidate: bool) -> Option<String> {
    let n = if candidate {
        kv.candidate.as_ref()
    } else {
        kv.baseline.as_ref()
    }?;
    let what = match kv.kpi.measure() {
        Measure::Latency(_) => "observations",
        Measure::Rate { exposure, .. } => match exposure {
            crate::kpi::source::Counter::Sessions => "sessions",
            crate::kpi::source::Counter::ApiRequests => "requests",
            _ => "downloads",
        },
    };
    let value = match (n.p95_seconds, n.rate) {
        (Some(p), _) => format!("p95 {}", words::seconds(p)),
        (None, Some(r)) => words::percent(r),
        (None, None) => "no data".into(),
    };
    Some(format!(
        "{} {value} of {} {what}",
        n.version,
        words::count(n.exposure)
    ))
}

/// A verdict in words, KPI by KPI.
pub fn verdict_view(v: &Verdict) -> VerdictView {
    let kpis: Vec<KpiRow> = v
        .kpis
        .iter()
        .map(|k| KpiRow {
            kpi: k.kpi,
            label: k.kpi.label().to_string(),
            verdict: k.verdict.as_str().to_string(),
            critical: k.critical,
            candidate: cohort_words(k, true),
            baseline: cohort_words(k, false),
            // A rate's interval; a latency's bounds are of a share above a bucket bound,
            // which would read wrongly beside its p95.
            interval: k
                .candidate
                .as_ref()
                .filter(|c| c.p95_seconds.is_none())
                .and_then(|c| Some(words::percent_range(c.lower?, c.upper?))),
            threshold: limits_words(k),
            reason: k.reason.clone(),
            needs_hours: k.needs_hours,
        })
        .collect();
    let decision_needs_hours = v
        .kpis
        .iter()
        .filter(|k| k.verdict == KpiOutcome::Inconclusive)
        .filter_map(|k| k.needs_hours)
        .fold(None, |acc: Option<f64>, h| {
            Some(acc.map_or(h, |a| a.max(h)))
        });
    VerdictView {
        outcome: v.verdict.as_str().to_string(),
        candidate: v.candidate.clone(),
        baseline: v.baseline.clone(),
        summary: v.summary.clone(),
        from: v.from.to_string(),
        to: v.to.to_string(),
        kpis,
        guards: v.guards.clone(),
        decision_needs_hours,
    }
}

/// What `watch` will do with `r` at its next pass, given the verdict now (`None`: not
/// judged yet) and the step's window: the same rules as `watch_once` (ops/watch.rs).
pub fn forecast(
    r: &Rollout,
    policy: &GatePolicy,
    v: Option<&Verdict>,
    window: i64,
    elapsed: i64,
) -> String {
    let pct = crate::log::entry::percent;
    let next = r.next_step();
    if r.paused {
        return "Paused by a person: the gate does nothing until it is resumed.".into();
    }
    let Some(v) = v else {
        return format!(
            "Waits for the first numbers (after {} of the step).",
            words::duration(policy.step_seconds as f64 / 3600.0)
        );
    };
    let critical = v
        .kpis
        .iter()
        .any(|k| k.verdict == KpiOutcome::Fail && k.critical);
    let warned = v.kpis.iter().any(|k| k.verdict == KpiOutcome::Warn);
    if v.verdict == Outcome::Fail || warned {
        return if critical && policy.auto_revert {
            format!(
                "Reverts {} at its next pass: a critical limit is crossed.",
                r.version
            )
        } else {
            format!(
                "Pauses {} at its next pass and waits for a person.",
                r.version
            )
        };
    }
    let left = (window - elapsed).max(0);
    let when = if left == 0 {
        "at its next pass".to_string()
    } else {
        format!("in {}", words::duration(left as f64 / 3600.0))
    };
    match v.verdict {
        Outcome::Pass if policy.auto_expand => {
            format!("Expands to {} {when} if nothing changes.", pct(next))
        }
        Outcome::Pass => {
            format!("Passes {when} if nothing changes; this channel waits for a person to expand.")
        }
        _ => {
            let needs = v
                .kpis
                .iter()
                .filter(|k| k.verdict == KpiOutcome::Inconclusive)
                .filter_map(|k| k.needs_hours)
                .fold(0.0, f64::max);
            if needs > 0.0 {
                format!(
                    "Waits: a decision needs about {} more at the current traffic; the window has {} left.",
                    words::duration(needs),
                    words::duration(left as f64 / 3600.0)
                )
            } else {
                format!(
                    "Waits: no decision yet and none foreseeable at this traffic; the window has {} left.",
                    words::duration(left as f64 / 3600.0)
                )
            }
        }
    }
}

/// A verdict as one health state and its one-line reason.
fn health_of(v: &Verdict) -> (String, String) {
    let worst = v.worst();
    let reason = worst.map_or_else(|| v.summary.clone(), |k| k.reason.clone());
    let no_data = v
        .kpis
        .iter()
        .all(|k| k.candidate.as_ref().is_none_or(|c| c.exposure <= 0.0));
    let state = if v.kpis.iter().any(|k| k.verdict == KpiOutcome::Fail) {
        "fail"
    } else if v.kpis.iter().any(|k| k.verdict == KpiOutcome::Warn) {
        "warning"
    } else if v.verdict == Outcome::Pass {
        "pass"
    } else if no_data {
        "none"
    } else {
        "waiting"
    };
    let reason = if state == "none" {
        // The judge's own words ("no data for 1.0.0"), else what is missing.
        v.kpis
            .iter()
            .map(|k| k.reason.clone())
            .find(|r| !r.is_empty())
            .unwrap_or_else(|| format!("no numbers for {} yet", v.candidate))
    } else if let Some(g) = v.guards.first() {
        g.clone()
    } else {
        reason
    };
    (state.into(), reason)
}

impl Workspace {
    /// `app`'s state as this desktop knows it (the registry; no store request — though the
    /// verdicts then asked go through `analyze`, which reads the store's newest entries).
    async fn load_known(&self, app: &str) -> Result<AppState> {
        airlock_protocol::layout::validate_app_name(app)?;
        self.registry_state(app)
            .await?
            .map(|(s, _)| s)
            .ok_or_else(|| {
                crate::error::Error::NotFound(format!(
                    "{app} has no history in this workspace (sync it or check the name)"
                ))
            })
    }

    /// The rollout's clock in `channel` of `state`, if one runs.
    fn clock(
        &self,
        state: &AppState,
        channel: &str,
        policy: &GatePolicy,
    ) -> Result<Option<StepClock>> {
        let Some(r) = &state.channel(channel).rollout else {
            return Ok(None);
        };
        let (window, elapsed) = self.step_window(channel, r, policy)?;
        Ok(Some(StepClock {
            version: r.version.clone(),
            basis_points: r.basis_points,
            next_basis_points: r.next_step(),
            paused: r.paused,
            window_seconds: window as f64,
            elapsed_seconds: elapsed as f64,
        }))
    }

    /// The verdict the gate would give on `channel` of `state` now: for a rollout, from its
    /// start across its steps (`None` before its first numbers are due); for a current release
    /// while its channel's holdout lasts, against the release the holdout keeps (`None`
    /// otherwise). A rollout with
    /// no current release to compare with is an error in words, as `watch` reports it.
    async fn verdict_now(
        &self,
        state: &AppState,
        channel: &str,
        source: &dyn KpiSource,
    ) -> Result<Option<Verdict>> {
        let c = state.channel(channel);
        let policy = self.gate_policy(channel)?;
        if let Some(r) = &c.rollout {
            let (_, elapsed) = self.step_window(channel, r, &policy)?;
            if elapsed < policy.step_seconds {
                return Ok(None);
            }
            let req = AnalyzeRequest {
                app: state.app.clone(),
                channel: channel.to_string(),
                ..AnalyzeRequest::default()
            };
            return self.analyze(&req, source).await.map(Some);
        }
        for (name, current, p) in self.serving(state, Some(channel)) {
            let Some(stay) = super::watch_current::Stay::of(state, name, current, p) else {
                continue;
            };
            if !stay.judged_at(self.now(), policy.step_seconds) {
                continue;
            }
            return Ok(Some(
                self.analyze(&stay.question(&state.app, self.now()), source)
                    .await?,
            ));
        }
        Ok(None)
    }

    /// The KPI screen of `req`'s channel.
    pub async fn kpi_screen(&self, req: &ChartRequest) -> Result<KpiScreen> {
        let mut screen = KpiScreen {
            app: req.app.clone(),
            channel: req.channel.clone(),
            charts: Vec::new(),
            verdict: None,
            step: None,
            next: String::new(),
            problem: None,
        };
        let state = self.load_known(&req.app).await?;
        let policy = self.gate_policy(&req.channel)?;
        screen.step = self.clock(&state, &req.channel, &policy)?;
        let source = match self.kpi_source().await {
            Ok(s) => s,
            Err(e) => {
                screen.problem = Some(e.to_string());
                screen.next = "The gate cannot judge without a KPI source.".into();
                return Ok(screen);
            }
        };
        match self.kpi_charts(req, &Panel::ALL, source.as_ref()).await {
            Ok(charts) => screen.charts = charts,
            Err(e) => screen.problem = Some(e.to_string()),
        }
        let verdict = match self
            .verdict_now(&state, &req.channel, source.as_ref())
            .await
        {
            Ok(v) => v,
            Err(e) => {
                // The gate would fail the same way: say so, keep the clock.
                screen.next = format!("The gate cannot judge this pass: {e}");
                screen.problem.get_or_insert(e.to_string());
                None
            }
        };
        let c = state.channel(&req.channel);
        if screen.next.is_empty() {
            screen.next = match (&c.rollout, &screen.step) {
                (Some(r), Some(clock)) => forecast(
                    r,
                    &policy,
                    verdict.as_ref(),
                    clock.window_seconds as i64,
                    clock.elapsed_seconds as i64,
                ),
                _ => match &verdict {
                    Some(v) if v.verdict == Outcome::Fail => {
                        let open = state.incidents.values().any(|i| {
                            i.channel == req.channel
                                && i.version == v.candidate
                                && i.closed.is_none()
                        });
                        let (severity, _) = super::incident::assess(v);
                        if open {
                            format!(
                                "An incident about {} is open: the gate opens no other for this stay.",
                                v.candidate
                            )
                        } else if policy.auto_rollback && severity <= 2 {
                            format!(
                                "Opens a SEV-{severity} incident about {} and rolls it back at its next pass.",
                                v.candidate
                            )
                        } else {
                            format!(
                                "Opens a SEV-{severity} incident about {} at its next pass, recommending what to do.",
                                v.candidate
                            )
                        }
                    }
                    Some(_) => {
                        "Keeps judging the current release against the holdout's devices.".into()
                    }
                    None => "No rollout in progress: nothing for the gate to decide.".into(),
                },
            };
        }
        screen.verdict = verdict.as_ref().map(verdict_view);
        Ok(screen)
    }

    /// Each channel's health in `app`: its rollout's verdict now, or its current release's
    /// while its holdout lasts; `none` with the reason otherwise.
    pub async fn health(&self, app: &str) -> Result<Vec<Health>> {
        let state = self.load_known(app).await?;
        let source = self.kpi_source().await;
        let mut out = Vec::new();
        for channel in self.config().channels.keys().cloned() {
            let c = state.channel(&channel);
            let (version, subject) = match (&c.rollout, &c.current) {
                (Some(r), _) => (r.version.clone(), "rollout"),
                (None, Some(v)) => (v.clone(), "current"),
                (None, None) => continue,
            };
            let (state_word, reason) = match &source {
                Err(e) => ("none".to_string(), e.to_string()),
                Ok(source) => match self.verdict_now(&state, &channel, source.as_ref()).await {
                    Ok(Some(v)) => health_of(&v),
                    Ok(None) if c.rollout.is_some() => (
                        "waiting".into(),
                        "the step has just begun: the first numbers are not due yet".into(),
                    ),
                    Ok(None) if state.rollback_candidates(&channel).is_empty() => (
                        "none".into(),
                        "not judged: no earlier release in this channel to compare it with".into(),
                    ),
                    Ok(None) if c.holdout.is_none() => (
                        "none".into(),
                        "not judged: this channel kept no holdout on the previous release, the \
                         only fair group to compare a current release with"
                            .into(),
                    ),
                    Ok(None) => (
                        "none".into(),
                        "not judged: the gate compares a current release with its holdout while \
                         the holdout lasts, from its first numbers on"
                            .into(),
                    ),
                    Err(e) => ("none".into(), e.to_string()),
                },
            };
            out.push(Health {
                channel,
                version,
                subject: subject.into(),
                state: state_word,
                reason,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kpi::policy::KpiSettings;
    use airlock_protocol::bucketing::FULL;
    use airlock_protocol::time::Timestamp;

    fn rollout(paused: bool) -> Rollout {
        Rollout {
            version: "1.2.0".into(),
            basis_points: 2000,
            rollout_id: "r".into(),
            paused,
            started_seq: 3,
            started_at: Timestamp::from_unix(1_000_000).unwrap(),
            plan: vec![500, 2000, 5000, FULL],
            step: 1,
            step_started_at: Timestamp::from_unix(1_000_000).unwrap(),
            step_started_seq: 4,
        }
    }

    fn verdict(outcome: Outcome, kpi: Option<(KpiOutcome, bool, Option<f64>)>) -> Verdict {
        let t = Timestamp::from_unix(1_000_000).unwrap();
        Verdict {
            verdict: outcome,
            app: "shop".into(),
            channel: "Production".into(),
            candidate: "1.2.0".into(),
            baseline: "1.1.0".into(),
            from: t,
            to: t,
            hours: 1.0,
            settings: String::new(),
            kpis: kpi
                .map(|(v, critical, needs_hours)| KpiVerdict {
                    kpi: Kpi::CrashFree,
                    verdict: v,
                    critical,
                    candidate: None,
                    baseline: None,
                    ratio: None,
                    harm: None,
                    pass: None,
                    boundary: None,
                    dispersion: 1.0,
                    limits: Kpi::CrashFree.default_limits(),
                    reason: "r".into(),
                    needs_hours,
                })
                .into_iter()
                .collect(),
            guards: Vec::new(),
            summary: String::new(),
        }
    }

    #[test]
    fn the_forecast_follows_the_watchers_rules() {
        let policy = KpiSettings::default().policy("Production").unwrap();
        let (window, elapsed) = (4 * 3600, 4 * 3600 - 80 * 60);
        let pass = verdict(Outcome::Pass, Some((KpiOutcome::Pass, false, None)));
        assert_eq!(
            forecast(&rollout(false), &policy, Some(&pass), window, elapsed),
            "Expands to 50 % in 1 h 20 min if nothing changes."
        );
        assert_eq!(
            forecast(&rollout(false), &policy, Some(&pass), window, window + 60),
            "Expands to 50 % at its next pass if nothing changes."
        );
        let manual = GatePolicy {
            auto_expand: false,
            ..policy.clone()
        };
        assert!(
            forecast(&rollout(false), &manual, Some(&pass), window, elapsed)
                .contains("waits for a person")
        );
        let critical = verdict(Outcome::Fail, Some((KpiOutcome::Fail, true, None)));
        assert!(
            forecast(&rollout(false), &policy, Some(&critical), window, elapsed)
                .starts_with("Reverts 1.2.0")
        );
        let no_revert = GatePolicy {
            auto_revert: false,
            ..policy.clone()
        };
        assert!(
            forecast(
                &rollout(false),
                &no_revert,
                Some(&critical),
                window,
                elapsed
            )
            .starts_with("Pauses 1.2.0")
        );
        let warn = verdict(Outcome::Inconclusive, Some((KpiOutcome::Warn, false, None)));
        assert!(
            forecast(&rollout(false), &policy, Some(&warn), window, elapsed).starts_with("Pauses")
        );
        let wait = verdict(
            Outcome::Inconclusive,
            Some((KpiOutcome::Inconclusive, false, Some(3.0))),
        );
        assert_eq!(
            forecast(&rollout(false), &policy, Some(&wait), window, elapsed),
            "Waits: a decision needs about 3 h more at the current traffic; the window has 1 h 20 min left."
        );
        assert!(
            forecast(&rollout(true), &policy, Some(&critical), window, elapsed)
                .starts_with("Paused by a person")
        );
        assert!(
            forecast(&rollout(false), &policy, None, window, 60)
                .starts_with("Waits for the first numbers")
        );
    }

    #[test]
    fn health_reads_the_worst_kpi() {
        let fail = verdict(Outcome::Fail, Some((KpiOutcome::Fail, false, None)));
        assert_eq!(health_of(&fail).0, "fail");
        let warn = verdict(Outcome::Inconclusive, Some((KpiOutcome::Warn, false, None)));
        assert_eq!(health_of(&warn).0, "warning");
        let nothing = verdict(
            Outcome::Inconclusive,
            Some((KpiOutcome::Inconclusive, false, None)),
        );
        assert_eq!(
            health_of(&nothing),
            ("none".into(), "r".into()),
            "the judge's reason"
        );
    }
}
