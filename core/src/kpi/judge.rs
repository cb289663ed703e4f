//! The canary judge: a candidate release against a baseline over a rollout (or a release's
//! stay as current), KPI by KPI, with two nested questions about one boundary per KPI
//! (kpi/boundary.rs) — is there evidence of *harm* (beyond the boundary), or evidence for a
//! *pass* (within it)? Harm fails, a pass passes, neither is `inconclusive`, with what more
//! data would rule out and when. Absolute limits (warning, critical) are judged on
//! confidence bounds. A pure function of the source's numbers: any desktop or CI job asking
//! the same question over the same window gets the same answer. The numbers of both
//! questions are in [`super::compare`], the statistics in [`super::stats`]; docs/KPIS.md
//! explains the method and every field of the verdict.

use super::boundary;
pub use super::compare::Evidence;
use super::compare::{self, Comparison};
use super::histogram::{self, Buckets};
use super::policy::{GatePolicy, Kpi, Limits, Measure};
use super::source::{Counter, Counts, Histograms, KpiSource, Latency, Scope, Window};
use super::stats::{self, Bin, Side};
use super::words;
use crate::error::Result;
use airlock_protocol::time::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;

/// What to judge.
#[derive(Clone, Debug)]
pub struct Question {
    pub app: String,
    pub channel: String,
    pub candidate: String,
    pub baseline: String,
    pub window: Window,
    /// The candidate's share of the channel's devices by the log (the rollout's percentage),
    /// when it has one; the data guard compares the session share with it.
    pub rollout_share: Option<f64>,
    /// The next step's share, to say how long a decision would take there.
    pub next_share: Option<f64>,
    /// The share of the policy's `alpha` this question may spend: [`ROLLOUT_ALPHA`] for a
    /// rollout, [`STAY_ALPHA`] for a release's stay as current, so a release is stopped
    /// wrongly with at most `alpha` over both.
    pub alpha_share: f64,
    /// The baseline's numbers come only from the channel's randomized holdout (devices
    /// reporting `cohort="holdout"`), not from every device still running it.
    pub holdout: bool,
}

/// The share of `alpha` a rollout's harm questions spend, over all its steps.
pub const ROLLOUT_ALPHA: f64 = 0.75;
/// The share the current-release check spends over the release's stay.
pub const STAY_ALPHA: f64 = 0.25;

impl Question {
    /// The day before this window: the baseline's rates there fix each rate KPI's
    /// boundary (kpi/boundary.rs) and tell a fleet-wide spike from a baseline that was
    /// already past a limit. A day, so a daily cycle is whole and the boundary does not
    /// move as the window grows.
    pub fn prior_window(&self) -> Option<Window> {
        let len = 24 * 3600;
        let step = self.window.step_seconds;
        let len = (len / step).max(1) * step;
        let from = Timestamp::from_unix(self.window.from.unix() - len).ok()?;
        Window::new(from, self.window.from, step).ok()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Inconclusive,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KpiOutcome {
    Pass,
    Warn,
    Fail,
    Inconclusive,
}

impl Outcome {
    /// As serialised: `pass`, `fail`, `inconclusive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Inconclusive => "inconclusive",
        }
    }
}

impl KpiOutcome {
    /// As serialised: `pass`, `warn`, `fail`, `inconclusive`.
    pub fn as_str(self) -> &'static str {
        match self {
            KpiOutcome::Pass => "pass",
            KpiOutcome::Warn => "warn",
            KpiOutcome::Fail => "fail",
            KpiOutcome::Inconclusive => "inconclusive",
        }
    }
}

/// One cohort's numbers for one KPI.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CohortNumbers {
    pub version: String,
    /// Sessions, requests, downloads or (for a latency) observations.
    pub exposure: f64,
    /// Crashed sessions, errors, failures; for a latency, observations above the bucket
    /// bound that stands for the baseline's p95.
    pub events: f64,
    /// `events / exposure`, and its confidence-sequence bounds.
    pub rate: Option<f64>,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    /// A latency's p95, interpolated as `histogram_quantile()` does.
    pub p95_seconds: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KpiVerdict {
    pub kpi: Kpi,
    pub verdict: KpiOutcome,
    /// A fail that reverts at once: a critical limit crossed, or harm on a guardrail.
    pub critical: bool,
    pub candidate: Option<CohortNumbers>,
    pub baseline: Option<CohortNumbers>,
    /// The candidate's rate over the baseline's.
    pub ratio: Option<f64>,
    /// The boundary as a ratio of the two, once fixed for the rollout (kpi/boundary.rs).
    pub boundary: Option<f64>,
    /// How much more variable the counts are than independent events (1: not at all); the
    /// evidence is weighed down by it.
    pub dispersion: f64,
    /// Evidence the candidate is beyond the boundary, and that it is within it.
    pub harm: Option<Evidence>,
    pub pass: Option<Evidence>,
    pub limits: Limits,
    pub reason: String,
    /// How much longer a decision would take, when inconclusive.
    pub needs_hours: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub verdict: Outcome,
    pub app: String,
    pub channel: String,
    pub candidate: String,
    pub baseline: String,
    pub from: Timestamp,
    pub to: Timestamp,
    pub hours: f64,
    pub kpis: Vec<KpiVerdict>,
    /// Problems with the data itself (missing, mislabelled): each keeps the verdict
    /// inconclusive.
    pub guards: Vec<String>,
    pub summary: String,
    /// The digest of the settings that decided it ([`GatePolicy::digest`]).
    pub settings: String,
}

impl Verdict {
    /// The most urgent KPI verdict, for a one-line account.
    pub fn worst(&self) -> Option<&KpiVerdict> {
        let rank = |k: &KpiVerdict| match (k.verdict, k.critical) {
            (KpiOutcome::Fail, true) => 0,
            (KpiOutcome::Fail, false) => 1,
            (KpiOutcome::Warn, _) => 2,
            (KpiOutcome::Inconclusive, _) => 3,
            (KpiOutcome::Pass, _) => 4,
        };
        self.kpis.iter().min_by_key(|k| rank(k))
    }
}

/// A session share this far from the expected one (as a ratio either way) means the
/// telemetry is broken or mislabelled.
const SHARE_MISMATCH: f64 = 2.0;
/// Cohorts smaller than this are not checked for a share mismatch (too noisy to tell).
const SHARE_CHECK_MIN: f64 = 200.0;
/// A cohort silent for an hour is telling when it should have had this many sessions (the
/// chance of none by luck is then e^-10, about 0.005 %).
const SILENT_MIN: f64 = 10.0;
/// The longest wait worth estimating, in hours.
const HORIZON_HOURS: f64 = 30.0 * 24.0;

/// Everything the judge reads from a source for one question.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Numbers {
    pub counts: BTreeMap<Counter, Counts>,
    pub histograms: BTreeMap<Latency, Histograms>,
    pub active_devices: BTreeMap<String, f64>,
    /// The baseline's numbers over [`Question::prior_window`], for the boundaries and the
    /// fleet-wide exemption.
    pub prior_counts: BTreeMap<Counter, Counts>,
    pub prior_histograms: BTreeMap<Latency, Histograms>,
}

/// The counters and histograms `policy`'s KPIs are judged on, with sessions always (the
/// data guards read them) and `also`, each once.
pub fn reads(policy: &GatePolicy, also: &[Counter]) -> (Vec<Counter>, Vec<Latency>) {
    let (mut counters, mut latencies) = (vec![Counter::Sessions], Vec::new());
    counters.extend_from_slice(also);
    for (kpi, _) in &policy.kpis {
        match kpi.measure() {
            Measure::Rate {
                events, exposure, ..
            } => counters.extend([events, exposure]),
            Measure::Latency(l) => latencies.push(l),
        }
    }
    counters.sort();
    counters.dedup();
    latencies.sort();
    latencies.dedup();
    (counters, latencies)
}

/// Reads what `policy`'s KPIs need for `q` (sessions always, for the data guards).
pub async fn gather(source: &dyn KpiSource, q: &Question, policy: &GatePolicy) -> Result<Numbers> {
    let scope = Scope {
        app: q.app.clone(),
        channel: q.channel.clone(),
        versions: vec![q.candidate.clone(), q.baseline.clone()],
        holdout: false,
    };
    // With a holdout, the baseline is asked for on its own, from the holdout's devices only.
    let scopes = if q.holdout {
        vec![
            Scope {
                versions: vec![q.candidate.clone()],
                ..scope.clone()
            },
            Scope {
                versions: vec![q.baseline.clone()],
                holdout: true,
                ..scope.clone()
            },
        ]
    } else {
        vec![scope.clone()]
    };
    let mut n = Numbers::default();
    let (counters, latencies) = reads(policy, &[]);
    // The day before: the whole fleet on the baseline (a holdout starts with the stay).
    let prior_scope = Scope {
        versions: vec![q.baseline.clone()],
        ..scope.clone()
    };
    let prior = q.prior_window();
    for c in counters {
        let mut counts = Counts::new();
        for s in &scopes {
            counts.extend(source.counts(c, s, &q.window).await?);
        }
        n.counts.insert(c, counts);
        // Every rate's counters (not sessions read only for the data guards).
        let judged = policy.kpis.iter().any(|(k, _)| {
            matches!(k.measure(), Measure::Rate { events, exposure, .. } if events == c || exposure == c)
        });
        if let (Some(w), true) = (&prior, judged) {
            n.prior_counts
                .insert(c, source.counts(c, &prior_scope, w).await?);
        }
    }
    for l in latencies {
        let mut hists = Histograms::new();
        for s in &scopes {
            hists.extend(source.histograms(l, s, &q.window).await?);
        }
        n.histograms.insert(l, hists);
        if let Some(w) = &prior {
            n.prior_histograms
                .insert(l, source.histograms(l, &prior_scope, w).await?);
        }
    }
    for s in &scopes {
        n.active_devices
            .extend(source.active_devices(s, q.window.to).await?);
    }
    Ok(n)
}

/// Judges `q` on `source`'s numbers under `policy`.
pub async fn judge(source: &dyn KpiSource, q: &Question, policy: &GatePolicy) -> Result<Verdict> {
    Ok(decide(q, policy, &gather(source, q, policy).await?))
}

/// The verdict on `numbers`: a pure function, so the same numbers always give the same one.
pub fn decide(q: &Question, policy: &GatePolicy, numbers: &Numbers) -> Verdict {
    let empty_counts = Counts::new();
    let empty_hists = Histograms::new();
    let counts = |c: Counter| numbers.counts.get(&c).unwrap_or(&empty_counts);
    let kpis = policy
        .kpis
        .iter()
        .map(|(kpi, limits)| match kpi.measure() {
            Measure::Rate {
                events, exposure, ..
            } => {
                let prior = numbers
                    .prior_counts
                    .get(&events)
                    .zip(numbers.prior_counts.get(&exposure));
                rate_kpi(
                    *kpi,
                    limits,
                    counts(events),
                    counts(exposure),
                    prior,
                    q,
                    policy,
                )
            }
            Measure::Latency(l) => {
                let h = numbers.histograms.get(&l).unwrap_or(&empty_hists);
                latency_kpi(*kpi, limits, h, numbers.prior_histograms.get(&l), q, policy)
            }
        })
        .collect();
    let guards = guards(q, counts(Counter::Sessions), &numbers.active_devices);
    verdict(q, kpis, guards, policy.digest())
}

fn verdict(q: &Question, kpis: Vec<KpiVerdict>, guards: Vec<String>, settings: String) -> Verdict {
    let any = |o: KpiOutcome| kpis.iter().any(|k| k.verdict == o);
    let outcome = if any(KpiOutcome::Fail) {
        Outcome::Fail
    } else if guards.is_empty()
        && !kpis.is_empty()
        && kpis.iter().all(|k| k.verdict == KpiOutcome::Pass)
    {
        Outcome::Pass
    } else {
        Outcome::Inconclusive
    };
    let mut v = Verdict {
        verdict: outcome,
        app: q.app.clone(),
        channel: q.channel.clone(),
        candidate: q.candidate.clone(),
        baseline: q.baseline.clone(),
        from: q.window.from,
        to: q.window.to,
        hours: q.window.hours(),
        kpis,
        guards,
        summary: String::new(),
        settings,
    };
    v.summary = summary(&v);
    v
}

fn summary(v: &Verdict) -> String {
    let head = format!(
        "{} {} against {} in {} over {}",
        v.app,
        v.candidate,
        v.baseline,
        v.channel,
        words::duration(v.hours)
    );
    match v.verdict {
        Outcome::Pass => format!("{head}: every KPI shown within its boundary: pass"),
        Outcome::Fail => {
            let failed: Vec<&str> = v
                .kpis
                .iter()
                .filter(|k| k.verdict == KpiOutcome::Fail)
                .map(|k| k.kpi.label())
                .collect();
            let critical = v.kpis.iter().any(|k| k.critical);
            format!(
                "{head}: {}fail on {}",
                if critical { "critical " } else { "" },
                failed.join(", ")
            )
        }
        Outcome::Inconclusive => {
            let open = v
                .kpis
                .iter()
                .filter(|k| k.verdict != KpiOutcome::Pass)
                .count();
            let longest = v
                .kpis
                .iter()
                .filter_map(|k| k.needs_hours)
                .fold(None, |a: Option<f64>, h| Some(a.map_or(h, |a| a.max(h))));
            let mut s = format!(
                "{head}: inconclusive, {open} of {} KPIs not decided",
                v.kpis.len()
            );
            if let Some(h) = longest {
                s.push_str(&format!(
                    "; about {} more at the current traffic",
                    words::duration(h)
                ));
            }
            for g in &v.guards {
                s.push_str("; ");
                s.push_str(g);
            }
            s
        }
    }
}

/// Data guards: no sessions at all, or a session share over the last hour far from the
/// device share (the rollout's earlier steps had other shares; a cohort whose reports stop
/// or lag shows here first).
fn guards(q: &Question, sessions: &Counts, devices: &BTreeMap<String, f64>) -> Vec<String> {
    let total = |v: &str| {
        sessions
            .get(v)
            .map(|b| b.iter().copied().map(clean).sum::<f64>())
    };
    let hour = usize::try_from(3600 / q.window.step_seconds.max(1))
        .unwrap_or(1)
        .max(1);
    let recent = |v: &str| {
        sessions
            .get(v)
            .map(|b| b.iter().rev().take(hour).copied().map(clean).sum::<f64>())
    };
    let mut out = Vec::new();
    if matches!(total(&q.candidate), None | Some(0.0)) {
        out.push(format!(
            "no sessions reported for {} in the window",
            q.candidate
        ));
        return out;
    }
    if matches!(total(&q.baseline), None | Some(0.0)) {
        out.push(format!(
            "no sessions reported for {} in the window",
            q.baseline
        ));
        return out;
    }
    let (c, b) = (
        recent(&q.candidate).unwrap_or(0.0),
        recent(&q.baseline).unwrap_or(0.0),
    );
    // The candidate's expected share of sessions: by active devices, else the rollout's.
    let expected = match (devices.get(&q.candidate), devices.get(&q.baseline)) {
        (Some(dc), Some(db)) if dc + db > 0.0 => Some((dc / (dc + db), "active devices")),
        _ => q.rollout_share.map(|s| (s, "the rollout's percentage")),
    }
    .filter(|(s, _)| *s > 0.0 && *s < 1.0);
    match (c, b) {
        // Nothing from either in the last hour: the window reaches past the numbers (a
        // stay judged later); nothing recent to compare.
        (0.0, 0.0) => {}
        (0.0, _) | (_, 0.0) => {
            // One cohort silent: telling when the other's sessions say it should have had
            // at least SILENT_MIN of its own (by the expected share), or, with no share
            // known, when the other had SHARE_CHECK_MIN.
            let (silent, loud, other, silent_share) = if c == 0.0 {
                (&q.candidate, &q.baseline, b, expected.map(|(s, _)| s))
            } else {
                (&q.baseline, &q.candidate, c, expected.map(|(s, _)| 1.0 - s))
            };
            let telling = silent_share.map_or(other >= SHARE_CHECK_MIN, |s| {
                other * s / (1.0 - s) >= SILENT_MIN
            });
            if telling {
                out.push(format!(
                    "no sessions reported for {silent} in the last hour while {loud} reported {}: its telemetry looks lost or late",
                    words::count(other)
                ));
            }
        }
        (c, b) => {
            let observed = c / (c + b);
            if let Some((expected, what)) = expected
                && c.min(b) >= SHARE_CHECK_MIN
            {
                let r = observed / expected;
                if !(1.0 / SHARE_MISMATCH..=SHARE_MISMATCH).contains(&r) {
                    out.push(format!(
                        "{} has {} of the last hour's sessions but {} by {what}: the telemetry looks broken, late or mislabelled",
                        q.candidate,
                        words::percent(observed),
                        words::percent(expected)
                    ));
                }
            }
        }
    }
    out
}

fn bins_of(events: &Counts, exposure: &Counts, q: &Question) -> Option<Vec<Bin>> {
    let (nc, nb) = (exposure.get(&q.candidate)?, exposure.get(&q.baseline)?);
    // A counter never incremented for one cohort has no series in Prometheus: with its
    // exposure there and the other cohort's events reported, that is zero events. With
    // neither cohort's events reported the metric is missing: no data.
    let zeros = vec![0.0; q.window.bins()];
    let (ec, eb) = match (events.get(&q.candidate), events.get(&q.baseline)) {
        (None, None) => return None,
        (c, b) => (c.unwrap_or(&zeros), b.unwrap_or(&zeros)),
    };
    Some(
        (0..q.window.bins())
            .map(|i| {
                let at = |v: &Vec<f64>| clean(v.get(i).copied().unwrap_or(0.0));
                Bin {
                    candidate_exposure: at(nc),
                    candidate_events: at(ec),
                    baseline_exposure: at(nb),
                    baseline_events: at(eb),
                }
            })
            .collect(),
    )
}

fn clean(x: f64) -> f64 {
    if x.is_finite() && x > 0.0 { x } else { 0.0 }
}

fn no_data(kpi: Kpi, limits: &Limits, what: String) -> KpiVerdict {
    KpiVerdict {
        kpi,
        verdict: KpiOutcome::Inconclusive,
        critical: false,
        candidate: None,
        baseline: None,
        ratio: None,
        boundary: None,
        dispersion: 1.0,
        harm: None,
        pass: None,
        limits: *limits,
        reason: format!(
            "{}: {what}: no evidence either way: inconclusive",
            kpi.label()
        ),
        needs_hours: None,
    }
}

fn exposure_noun(c: Counter) -> &'static str {
    match c {
        Counter::Sessions => "sessions",
        Counter::ApiRequests => "requests",
        _ => "downloads",
    }
}

/// A limit crossed on a confidence bound: `Some(true)` when `exempt` (a spike the baseline
/// shows too during the window, which it did not show before), `Some(false)` when the
/// crossing holds against the candidate.
fn crossed(bound: f64, limit: Option<f64>, exempt: impl Fn(f64) -> bool) -> Option<bool> {
    let l = limit?;
    (bound > l).then(|| exempt(l))
}

/// The error budgets of one KPI's harm (its share of the question's) and of its pass.
fn alphas(kpi: Kpi, q: &Question, policy: &GatePolicy) -> (f64, f64) {
    (
        policy.share(kpi, policy.alpha * q.alpha_share),
        policy.safety_alpha,
    )
}

fn ratio_words(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}")
    } else if r >= 1.995 {
        format!("{r:.1}")
    } else {
        format!("{r:.2}")
    }
}

/// What the boundary is, in words: "1.33 times the baseline's (0.1 point above it)".
fn boundary_words(c: &Comparison, limits: &Limits, base_rate: Option<f64>) -> String {
    if c.harm_ratio.is_none() {
        // No baseline events, or a floor far above a rare event's rate: the points decide.
        return format!(
            "its boundary of {} points above the baseline's rate (judged on both cohorts' \
             confidence bounds)",
            tolerance_points(limits.tolerance)
        );
    }
    let Some(r) = c.harm_ratio.filter(|_| c.fixed) else {
        return format!(
            "its boundary ({} times the baseline's or {} points above it, whichever is more; \
             not fixed yet: too few baseline events)",
            ratio_words(1.0 + limits.harm_margin),
            tolerance_points(limits.tolerance)
        );
    };
    let points = base_rate.is_some_and(|b| b + limits.tolerance > (1.0 + limits.harm_margin) * b);
    if points {
        format!(
            "its boundary of {} times the baseline's ({} points above it)",
            ratio_words(r),
            tolerance_points(limits.tolerance)
        )
    } else {
        format!("its boundary of {} times the baseline's", ratio_words(r))
    }
}

fn rate_kpi(
    kpi: Kpi,
    limits: &Limits,
    events: &Counts,
    exposure: &Counts,
    prior: Option<(&Counts, &Counts)>,
    q: &Question,
    policy: &GatePolicy,
) -> KpiVerdict {
    let Measure::Rate {
        exposure: exp_counter,
        good,
        ..
    } = kpi.measure()
    else {
        unreachable!("rate_kpi is called for rates")
    };
    let Some(bins) = bins_of(events, exposure, q) else {
        let missing = if events.contains_key(&q.candidate) && exposure.contains_key(&q.candidate) {
            &q.baseline
        } else {
            &q.candidate
        };
        return no_data(kpi, limits, format!("no data for {missing}"));
    };
    let (alpha, pass_alpha) = alphas(kpi, q, policy);
    // The baseline's counts over the day before, summed.
    let prior = prior.and_then(|(ev, ex)| {
        let x = ev
            .get(&q.baseline)
            .map_or(0.0, |v| v.iter().copied().map(clean).sum());
        let n: f64 = ex.get(&q.baseline)?.iter().copied().map(clean).sum();
        (n > 0.0).then_some((x, n))
    });
    let c = compare::compare(&bins, prior, limits, alpha, pass_alpha);
    let t = c.total;
    // The bounds shown are those judged (at a quarter of alpha), the baseline's rate
    // standardized to the candidate's hours (kpi/compare.rs, `Matched`).
    let (c_lo, c_hi, b_lo, b_hi) = (
        c.candidate_lower,
        c.candidate_upper,
        c.baseline_lower,
        c.baseline_upper,
    );
    let cohort =
        |version: &str, n: f64, x: f64, rate: Option<f64>, lo: f64, hi: f64| CohortNumbers {
            version: version.to_string(),
            exposure: n,
            events: x,
            rate,
            lower: Some(lo),
            upper: Some(hi),
            p95_seconds: None,
        };
    let b_rate = (c.matched.candidate_exposure > 0.0).then_some(c.matched.baseline_rate);
    let mut v = KpiVerdict {
        kpi,
        verdict: KpiOutcome::Inconclusive,
        critical: false,
        candidate: Some(cohort(
            &q.candidate,
            t.candidate_exposure,
            t.candidate_events,
            t.candidate_rate(),
            c_lo,
            c_hi,
        )),
        baseline: Some(cohort(
            &q.baseline,
            t.baseline_exposure,
            t.baseline_events,
            b_rate.or(t.baseline_rate()),
            b_lo,
            b_hi,
        )),
        ratio: c.matched.ratio(),
        boundary: c.harm_ratio.filter(|_| c.fixed),
        dispersion: c.phi,
        harm: c.harm.clone(),
        pass: c.pass.clone(),
        limits: *limits,
        reason: String::new(),
        needs_hours: None,
    };
    let noun = exposure_noun(exp_counter);
    let shown = |rate: f64| if good.is_some() { 1.0 - rate } else { rate };
    let range = |lo: f64, hi: f64| {
        if good.is_some() {
            words::percent_range(1.0 - hi, 1.0 - lo)
        } else {
            words::percent_range(lo, hi)
        }
    };
    let numbers = match (t.candidate_rate(), b_rate) {
        (Some(cr), Some(br)) => format!(
            "{} {} ({}) vs {} ({}) on {} vs {} {noun}",
            good.unwrap_or(kpi.label()),
            words::percent(shown(cr)),
            range(c_lo, c_hi),
            words::percent(shown(br)),
            range(b_lo, b_hi),
            words::count(t.candidate_exposure),
            words::count(t.baseline_exposure),
        ),
        _ => format!(
            "{}: {} vs {} {noun}",
            good.unwrap_or(kpi.label()),
            words::count(t.candidate_exposure),
            words::count(t.baseline_exposure)
        ),
    };
    let numbers = if c.phi > 1.0 {
        format!(
            "{numbers}, counts {} times as variable as independent {noun} (weighed as such)",
            ratio_words(c.phi)
        )
    } else {
        numbers
    };
    if t.candidate_exposure <= 0.0 || t.baseline_exposure <= 0.0 {
        v.reason = format!("{numbers}: one cohort has no {noun}: inconclusive");
        return v;
    }
    // The limits are judged on the harm side's bounds. A crossing is the fleet's, not this
    // release's, only when the baseline was within the limit the day before (on its upper
    // bound): a baseline already past a limit does not excuse the next release, or each
    // could be a little worse. Then, for the critical limit (which reverts), only when the
    // baseline is beyond it too during the window (on its lower bound, over the candidate's
    // hours): evidence of a fleet-wide spike. For the warning limit (which pauses), also
    // when the candidate is not confidently beyond the baseline's rate over its hours (its
    // lower bound at or under the baseline's upper): asking the baseline's lower bound to
    // cross warned on identical releases after a fleet-wide outage at 50 %, where the
    // baseline over the candidate's hours has few effective sessions.
    let prior_upper = prior.map(|(x, n)| compare::bounds(x, n, alpha / 4.0, c.phi).1);
    let was_within = |l: f64| prior_upper.is_some_and(|u| u <= l);
    let spike = |l: f64| c.baseline_lower > l && was_within(l);
    // Only within a rollout, whose baseline is the rest of the fleet: against a holdout (a
    // twentieth of it by design) the baseline's bounds are always wide, and the warning
    // limit would never fire.
    let spike_or_unclear = |l: f64| {
        was_within(l)
            && (c.baseline_lower > l || (!q.holdout && c.candidate_lower <= c.baseline_upper))
    };
    let (critical, warning) = if limits.relative_to_baseline {
        let diff = c.candidate_lower - c.baseline_upper;
        (
            crossed(diff, limits.critical, |_| false),
            crossed(diff, limits.warning, |_| false),
        )
    } else {
        (
            crossed(c.candidate_lower, limits.critical, spike),
            crossed(c.candidate_lower, limits.warning, spike_or_unclear),
        )
    };
    let per_hour = limits.critical_per_hour.and_then(|limit| {
        let per = usize::try_from(3600 / policy.step_seconds.max(1))
            .unwrap_or(1)
            .max(1);
        let most = bins
            .windows(per.min(bins.len()).max(1))
            .map(|w| w.iter().map(|b| b.candidate_events).sum::<f64>())
            .fold(0.0, f64::max);
        (most > limit).then_some((most, limit))
    });
    let expected = t.candidate_exposure * b_rate.filter(|r| *r > 0.0).unwrap_or(limits.tolerance);
    let enough = expected >= policy.min_expected_events;
    let fleet_note = |fleet: bool| {
        if fleet {
            " (the baseline crossed it too during the rollout, or cannot be told apart from it, and was within it the day before: a fleet-wide spike, not held against this release)"
        } else {
            ""
        }
    };
    let said_ratio = c
        .matched
        .ratio()
        .map(|r| format!("{} {} times the baseline's", kpi.label(), ratio_words(r)))
        .unwrap_or_else(|| format!("{} above a baseline with none", kpi.label()));
    let limit_words = |l: Option<f64>| {
        l.map(|l| {
            words::percent(if limits.relative_to_baseline {
                l
            } else {
                shown(l)
            })
        })
        .unwrap_or_default()
    };
    let bound_words = boundary_words(&c, limits, b_rate);
    let decided = |v: &mut KpiVerdict, o: KpiOutcome, critical: bool, why: String| {
        v.verdict = o;
        v.critical = critical;
        v.reason = format!("{numbers}: {why}");
    };
    if let Some((most, limit)) = per_hour {
        decided(
            &mut v,
            KpiOutcome::Fail,
            true,
            format!(
                "{} in one hour, more than {}: fail (critical)",
                words::count(most),
                words::count(limit)
            ),
        );
    } else if critical == Some(false) {
        decided(
            &mut v,
            KpiOutcome::Fail,
            true,
            format!(
                "beyond the critical limit of {} on its confidence bound: fail (critical)",
                limit_words(limits.critical)
            ),
        );
    } else if c.harm_shown() {
        decided(
            &mut v,
            KpiOutcome::Fail,
            kpi.guardrail(),
            format!("{said_ratio}, shown beyond {bound_words}: fail"),
        );
    } else if warning == Some(false) {
        decided(
            &mut v,
            KpiOutcome::Warn,
            false,
            format!(
                "beyond the warning limit of {} on its confidence bound: warn",
                limit_words(limits.warning)
            ),
        );
    } else if c.pass_shown() && enough {
        let fleet = critical.or(warning).unwrap_or(false);
        decided(
            &mut v,
            KpiOutcome::Pass,
            false,
            format!("shown within {bound_words}: pass{}", fleet_note(fleet)),
        );
    } else {
        let fleet = critical.or(warning).unwrap_or(false);
        let needs = needs_hours(
            &bins,
            &t,
            q,
            &c,
            pass_alpha,
            policy.min_expected_events,
            b_rate.filter(|r| *r > 0.0).unwrap_or(limits.tolerance),
            Some(limits),
        );
        v.needs_hours = needs.now;
        decided(
            &mut v,
            KpiOutcome::Inconclusive,
            false,
            format!(
                "no evidence of harm, not yet shown within {bound_words}: inconclusive{}; {}",
                fleet_note(fleet),
                needs.words()
            ),
        );
    }
    v
}

fn tolerance_points(t: f64) -> String {
    let p = t * 100.0;
    if p < 1.0 {
        format!("{p:.2}")
    } else {
        format!("{p:.1}")
    }
}

struct Needs {
    now: Option<f64>,
    next: Option<(f64, Option<f64>)>,
    excluded: String,
}

impl Needs {
    fn words(&self) -> String {
        let one = |h: Option<f64>| {
            h.map_or("more than 30 days".to_string(), |h| {
                format!("about {}", words::duration(h))
            })
        };
        let mut s = format!("a pass needs {} more at the current traffic", one(self.now));
        if let Some((share, h)) = self.next {
            s.push_str(&format!("; at {}: {}", words::percent(share), one(h)));
        }
        if !self.excluded.is_empty() {
            s.push_str("; at this traffic ");
            s.push_str(&self.excluded);
        }
        s
    }
}

/// How long until a pass could be shown, if traffic and rates stay as they were (and at
/// the next step's share): the ratio test's time or, where it has none (a rate with no
/// events yet), the bounds route's (`limits`), and at least the time to the minimum of
/// expected events; and which regressions waiting rules out when (kpi/boundary.rs).
#[allow(clippy::too_many_arguments)]
fn needs_hours(
    bins: &[Bin],
    t: &Bin,
    q: &Question,
    c: &Comparison,
    pass_alpha: f64,
    min_events: f64,
    rate: f64,
    limits: Option<&Limits>,
) -> Needs {
    // The traffic to come: the last hour's exposure (the current step's share, the time of
    // day), at the rates seen over the whole rollout (an hour's events are too few to
    // project); the rollout's average when the last hour has none.
    let per = usize::try_from(3600 / q.window.step_seconds.max(1))
        .unwrap_or(1)
        .max(1);
    let recent = Bin::total(&bins[bins.len().saturating_sub(per)..]);
    let span = bins.len().min(per) as f64 * q.window.step_seconds as f64 / 3600.0;
    let hourly = match (t.candidate_rate(), t.baseline_rate()) {
        (Some(rc), Some(rb))
            if span > 0.0 && recent.candidate_exposure > 0.0 && recent.baseline_exposure > 0.0 =>
        {
            Bin {
                candidate_exposure: recent.candidate_exposure / span,
                candidate_events: recent.candidate_exposure / span * rc,
                baseline_exposure: recent.baseline_exposure / span,
                baseline_events: recent.baseline_exposure / span * rb,
            }
        }
        _ => t.scaled(1.0 / q.window.hours().max(1.0 / 60.0)),
    };
    let at = |h: Bin| {
        let ratio = c.pass_ratio.and_then(|null| {
            stats::time_to_decide_tempered(
                bins,
                h,
                null,
                Side::Below,
                pass_alpha / 2.0,
                HORIZON_HOURS,
                c.phi,
            )
        });
        // The bounds route is for KPIs whose ratio test has nothing to go on (no events);
        // where the ratio test has a time, it is the one quoted.
        let bounded = limits.filter(|_| ratio.is_none()).and_then(|limits| {
            let safe = |x: f64| {
                let (_, c_hi) = compare::bounds(
                    t.candidate_events + h.candidate_events * x,
                    t.candidate_exposure + h.candidate_exposure * x,
                    pass_alpha / 4.0,
                    c.phi,
                );
                let (b_lo, _) = compare::bounds(
                    t.baseline_events + h.baseline_events * x,
                    t.baseline_exposure + h.baseline_exposure * x,
                    pass_alpha / 4.0,
                    c.phi,
                );
                boundary::within_on_bounds(c_hi, b_lo, limits)
            };
            if !safe(HORIZON_HOURS) {
                return None;
            }
            let (mut lo, mut hi) = (0.0, HORIZON_HOURS);
            for _ in 0..40 {
                let mid = (lo + hi) / 2.0;
                if safe(mid) {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            Some(hi)
        });
        let sooner = match (ratio, bounded) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        let to_minimum = if h.candidate_exposure > 0.0 {
            ((min_events / rate - t.candidate_exposure) / h.candidate_exposure).max(0.0)
        } else {
            f64::INFINITY
        };
        let total = sooner.max(to_minimum);
        (total <= HORIZON_HOURS).then_some(total)
    };
    let now = at(hourly);
    let next = match (q.rollout_share, q.next_share) {
        (Some(cur), Some(next)) if cur > 0.0 && cur < 1.0 && next > cur && next < 1.0 => {
            let (kc, kb) = (next / cur, (1.0 - next) / (1.0 - cur));
            let h = Bin {
                candidate_exposure: hourly.candidate_exposure * kc,
                candidate_events: hourly.candidate_events * kc,
                baseline_exposure: hourly.baseline_exposure * kb,
                baseline_events: hourly.baseline_events * kb,
            };
            Some((next, at(h)))
        }
        _ => None,
    };
    let excluded = c
        .pass_ratio
        .map(|b| {
            boundary::exclusions_words(&boundary::exclusions(
                bins,
                hourly,
                b,
                pass_alpha / 2.0,
                c.phi,
            ))
        })
        .unwrap_or_default();
    Needs {
        now,
        next,
        excluded,
    }
}

/// Observations above `le` that are surely above it: counted from the smallest bound at or
/// above `le` (so a fail on them never rests on a bucket's guess).
fn surely_above(b: &[(f64, f64)], le: f64) -> f64 {
    let at = b
        .iter()
        .find(|(bound, _)| *bound >= le)
        .map_or(0.0, |(_, n)| *n);
    histogram::count(b) - at
}

fn latency_kpi(
    kpi: Kpi,
    limits: &Limits,
    hists: &Histograms,
    prior: Option<&Histograms>,
    q: &Question,
    policy: &GatePolicy,
) -> KpiVerdict {
    let (Some(hc), Some(hb)) = (hists.get(&q.candidate), hists.get(&q.baseline)) else {
        let missing = if hists.contains_key(&q.candidate) {
            &q.baseline
        } else {
            &q.candidate
        };
        return no_data(kpi, limits, format!("no observations for {missing}"));
    };
    let (tc, tb) = (histogram::sum(hc), histogram::sum(hb));
    let (nc, nb) = (histogram::count(&tc), histogram::count(&tb));
    if nc <= 0.0 || nb <= 0.0 {
        let missing = if nc <= 0.0 { &q.candidate } else { &q.baseline };
        return no_data(kpi, limits, format!("no observations for {missing}"));
    }
    // One bound for the whole rollout: the baseline's p95 bucket once it has enough
    // observations, so every look tests the same share.
    let Some(fixed) = boundary::latency_bound(hb) else {
        return no_data(
            kpi,
            limits,
            "the histogram has no finite bucket bound".into(),
        );
    };
    let bound = fixed.value;
    let (alpha, pass_alpha) = alphas(kpi, q, policy);
    let empty = Buckets::new();
    let bins: Vec<Bin> = (0..q.window.bins())
        .map(|i| {
            let (c, b) = (hc.get(i).unwrap_or(&empty), hb.get(i).unwrap_or(&empty));
            // Buckets that are not monotone (a counter reset inside a bin) must not give
            // negative counts.
            let n = |x: f64| if x.is_finite() { x.max(0.0) } else { 0.0 };
            Bin {
                candidate_exposure: n(histogram::count(c)),
                candidate_events: n(histogram::above(c, bound)).min(n(histogram::count(c))),
                baseline_exposure: n(histogram::count(b)),
                baseline_events: n(histogram::above(b, bound)).min(n(histogram::count(b))),
            }
        })
        .collect();
    // A latency's boundary is 1.5 times the baseline's share whatever that share is, so the
    // day before adds nothing to it.
    let c = compare::compare(&bins, None, limits, alpha, pass_alpha);
    let t = c.total;
    let (p95c, p95b) = (
        histogram::quantile(&tc, 0.95),
        histogram::quantile(&tb, 0.95),
    );
    let cohort = |version: &str, n: f64, x: f64, p95: Option<f64>| {
        let (lo, hi) = compare::bounds(x, n, alpha / 4.0, c.phi);
        CohortNumbers {
            version: version.into(),
            exposure: n,
            events: x,
            rate: Some(x / n),
            lower: Some(lo),
            upper: Some(hi),
            p95_seconds: p95,
        }
    };
    let numbers = format!(
        "{} {} vs {} on {} vs {} observations ({} vs {} above {}{})",
        kpi.label(),
        p95c.map_or("?".into(), words::seconds),
        p95b.map_or("?".into(), words::seconds),
        words::count(nc),
        words::count(nb),
        words::percent(t.candidate_events / nc),
        words::percent(t.baseline_events / nb),
        words::seconds(bound),
        if fixed.fixed {
            ""
        } else {
            ", a bound not fixed yet"
        },
    );
    // The p95 is confidently beyond a limit when more than 5 % of the observations are
    // surely above it, on the lower confidence bound; the baseline's the same way (and
    // within it before the rollout, on its upper bound) for a fleet-wide spike.
    let beyond = |limit: Option<f64>, hist: &Buckets, n: f64| {
        let l = limit?;
        let (lo, _) = compare::bounds(surely_above(hist, l), n, alpha / 4.0, c.phi);
        Some(lo > 0.05)
    };
    let was_within = |l: f64| {
        prior
            .and_then(|p| p.get(&q.baseline))
            .map(|h| histogram::sum(h))
            .filter(|h| histogram::count(h) > 0.0)
            .is_some_and(|h| {
                let (_, hi) = compare::bounds(
                    histogram::above(&h, l),
                    histogram::count(&h),
                    alpha / 4.0,
                    c.phi,
                );
                hi <= 0.05
            })
    };
    let fleet = |limit: Option<f64>| {
        limit.is_some_and(|l| beyond(Some(l), &tb, nb) == Some(true) && was_within(l))
    };
    let crit = beyond(limits.critical, &tc, nc) == Some(true);
    let warn = beyond(limits.warning, &tc, nc) == Some(true);
    let enough = nc * 0.05 >= policy.min_expected_events;
    let mut v = KpiVerdict {
        kpi,
        verdict: KpiOutcome::Inconclusive,
        critical: false,
        candidate: Some(cohort(&q.candidate, nc, t.candidate_events, p95c)),
        baseline: Some(cohort(&q.baseline, nb, t.baseline_events, p95b)),
        ratio: t.ratio(),
        boundary: c.harm_ratio.filter(|_| fixed.fixed),
        dispersion: c.phi,
        harm: c.harm.clone(),
        pass: c.pass.clone(),
        limits: *limits,
        reason: String::new(),
        needs_hours: None,
    };
    let secs = |l: Option<f64>| l.map_or(String::new(), words::seconds);
    let boundary_said = format!(
        "{} times the baseline's share above {}",
        ratio_words(1.0 + limits.harm_margin),
        words::seconds(bound)
    );
    let (outcome, critical, why) = if crit && !fleet(limits.critical) {
        (
            KpiOutcome::Fail,
            true,
            format!(
                "p95 beyond the critical {} on its confidence bound: fail (critical)",
                secs(limits.critical)
            ),
        )
    } else if fixed.fixed && c.harm_shown() {
        (
            KpiOutcome::Fail,
            false,
            format!(
                "{} times the baseline's share above {}, shown beyond its boundary of {}: fail",
                ratio_words(t.ratio().unwrap_or(f64::INFINITY)),
                words::seconds(bound),
                ratio_words(1.0 + limits.harm_margin)
            ),
        )
    } else if warn && !fleet(limits.warning) {
        (
            KpiOutcome::Warn,
            false,
            format!(
                "p95 beyond the warning {} on its confidence bound: warn",
                secs(limits.warning)
            ),
        )
    } else if fixed.fixed && c.pass_shown() && enough {
        (
            KpiOutcome::Pass,
            false,
            format!("shown within its boundary of {boundary_said}: pass"),
        )
    } else {
        let needs = needs_hours(
            &bins,
            &t,
            q,
            &c,
            pass_alpha,
            policy.min_expected_events,
            0.05,
            None,
        );
        v.needs_hours = needs.now;
        (
            KpiOutcome::Inconclusive,
            false,
            format!(
                "no evidence of harm, not yet shown within its boundary of {boundary_said}: inconclusive; {}",
                needs.words()
            ),
        )
    };
    v.verdict = outcome;
    v.critical = critical;
    v.reason = format!("{numbers}: {why}");
    v
}
