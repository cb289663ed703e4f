//! The canary judge: a candidate release against a baseline over one window, KPI by KPI,
//! with two questions each — is there evidence of *harm* (worse than the baseline by more
//! than the harm margin), and is there evidence of *safety* (no worse than the tolerance)?
//! Only safety passes; harm fails; neither is `inconclusive`, with how much more data a
//! decision needs. A pure function of the source's numbers: any desktop or CI job asking
//! the same question over the same window gets the same answer. The statistics are in
//! [`super::stats`]; docs/KPIS.md explains the method and every field of the verdict.

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

/// One of the two tests: its null ratio, its e-value (capped at 1e15) and the e-value it
/// needs (`1/alpha`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    pub null_ratio: f64,
    pub e_value: f64,
    pub needed: f64,
    pub shown: bool,
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
    pub harm: Option<Evidence>,
    pub safety: Option<Evidence>,
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
/// The longest wait worth estimating, in hours.
const HORIZON_HOURS: f64 = 30.0 * 24.0;

/// Everything the judge reads from a source for one question.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Numbers {
    pub counts: BTreeMap<Counter, Counts>,
    pub histograms: BTreeMap<Latency, Histograms>,
    pub active_devices: BTreeMap<String, f64>,
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
    };
    let mut n = Numbers::default();
    let (counters, latencies) = reads(policy, &[]);
    for c in counters {
        n.counts
            .insert(c, source.counts(c, &scope, &q.window).await?);
    }
    for l in latencies {
        n.histograms
            .insert(l, source.histograms(l, &scope, &q.window).await?);
    }
    n.active_devices = source.active_devices(&scope, q.window.to).await?;
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
            } => rate_kpi(*kpi, limits, counts(events), counts(exposure), q, policy),
            Measure::Latency(l) => {
                let h = numbers.histograms.get(&l).unwrap_or(&empty_hists);
                latency_kpi(*kpi, limits, h, q, policy)
            }
        })
        .collect();
    let guards = guards(q, counts(Counter::Sessions), &numbers.active_devices);
    verdict(q, kpis, guards)
}

fn verdict(q: &Question, kpis: Vec<KpiVerdict>, guards: Vec<String>) -> Verdict {
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
        Outcome::Pass => format!("{head}: every KPI shown safe: pass"),
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

/// Data guards: no sessions at all, or a session share far from the device share.
fn guards(q: &Question, sessions: &Counts, devices: &BTreeMap<String, f64>) -> Vec<String> {
    let total = |v: &str| sessions.get(v).map(|b| b.iter().sum::<f64>());
    let (c, b) = (total(&q.candidate), total(&q.baseline));
    let mut out = Vec::new();
    match (c, b) {
        (None | Some(0.0), _) => out.push(format!(
            "no sessions reported for {} in the window",
            q.candidate
        )),
        (_, None | Some(0.0)) => out.push(format!(
            "no sessions reported for {} in the window",
            q.baseline
        )),
        (Some(c), Some(b)) => {
            let observed = c / (c + b);
            let from_devices = match (devices.get(&q.candidate), devices.get(&q.baseline)) {
                (Some(dc), Some(db)) if dc + db > 0.0 => Some((dc / (dc + db), "active devices")),
                _ => q.rollout_share.map(|s| (s, "the rollout's percentage")),
            };
            if let Some((expected, what)) = from_devices
                && c.min(b) >= SHARE_CHECK_MIN
                && expected > 0.0
                && expected < 1.0
            {
                let r = observed / expected;
                if !(1.0 / SHARE_MISMATCH..=SHARE_MISMATCH).contains(&r) {
                    out.push(format!(
                        "{} has {} of the sessions but {} by {what}: the telemetry looks broken or mislabelled",
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
    let clean = |x: f64| if x.is_finite() && x > 0.0 { x } else { 0.0 };
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

fn evidence(bins: &[Bin], null: f64, side: Side, alpha: f64) -> Evidence {
    let ln_e = stats::ratio_e_value(bins, null, side);
    Evidence {
        null_ratio: null,
        e_value: ln_e.exp().min(1e15),
        needed: 1.0 / alpha,
        shown: ln_e >= (1.0 / alpha).ln(),
    }
}

fn no_data(kpi: Kpi, limits: &Limits, what: String) -> KpiVerdict {
    KpiVerdict {
        kpi,
        verdict: KpiOutcome::Inconclusive,
        critical: false,
        candidate: None,
        baseline: None,
        ratio: None,
        harm: None,
        safety: None,
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

/// A limit crossed on a confidence bound: `Some(true)` when the baseline crosses it too (a
/// fleet-wide problem, not this release's), `Some(false)` when only the candidate does.
fn crossed(bound: f64, limit: Option<f64>, baseline: Option<f64>) -> Option<bool> {
    let l = limit?;
    (bound > l).then(|| baseline.is_some_and(|x| x > l))
}

fn rate_kpi(
    kpi: Kpi,
    limits: &Limits,
    events: &Counts,
    exposure: &Counts,
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
    let alpha = policy.share(kpi, policy.alpha);
    let safety_alpha = policy.share(kpi, policy.safety_alpha);
    let t = Bin::total(&bins);
    let (c_lo, c_hi) = stats::rate_bounds(t.candidate_events, t.candidate_exposure, alpha / 2.0);
    let (b_lo, b_hi) = stats::rate_bounds(t.baseline_events, t.baseline_exposure, alpha / 2.0);
    let cohort = |version: &str, n: f64, x: f64, lo: f64, hi: f64| CohortNumbers {
        version: version.to_string(),
        exposure: n,
        events: x,
        rate: (n > 0.0).then(|| x / n),
        lower: Some(lo),
        upper: Some(hi),
        p95_seconds: None,
    };
    let mut v = KpiVerdict {
        kpi,
        verdict: KpiOutcome::Inconclusive,
        critical: false,
        candidate: Some(cohort(
            &q.candidate,
            t.candidate_exposure,
            t.candidate_events,
            c_lo,
            c_hi,
        )),
        baseline: Some(cohort(
            &q.baseline,
            t.baseline_exposure,
            t.baseline_events,
            b_lo,
            b_hi,
        )),
        ratio: t.ratio(),
        harm: None,
        safety: None,
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
    let numbers = match (t.candidate_rate(), t.baseline_rate()) {
        (Some(c), Some(b)) => format!(
            "{} {} ({}) vs {} ({}) on {} vs {} {noun}",
            good.unwrap_or(kpi.label()),
            words::percent(shown(c)),
            range(c_lo, c_hi),
            words::percent(shown(b)),
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
    if t.candidate_exposure <= 0.0 || t.baseline_exposure <= 0.0 {
        v.reason = format!("{numbers}: one cohort has no {noun}: inconclusive");
        return v;
    }
    // Harm: the ratio test, and the limits on the candidate's confidence bound.
    let harm = evidence(&bins, 1.0 + limits.harm_margin, Side::Above, alpha / 2.0);
    let b_rate = t.baseline_rate();
    let (critical, warning) = if limits.relative_to_baseline {
        // Two bounds judge a difference: each at a quarter, so the limits keep their half.
        let (c_lo, _) = stats::rate_bounds(t.candidate_events, t.candidate_exposure, alpha / 4.0);
        let (_, b_hi) = stats::rate_bounds(t.baseline_events, t.baseline_exposure, alpha / 4.0);
        let diff = c_lo - b_hi;
        let point = b_rate.map(|_| 0.0);
        (
            crossed(diff, limits.critical, point),
            crossed(diff, limits.warning, point),
        )
    } else {
        (
            crossed(c_lo, limits.critical, b_rate),
            crossed(c_lo, limits.warning, b_rate),
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
    // Safety: the ratio test against the tolerance turned into a ratio on the baseline's
    // upper bound, or both bounds within the tolerance.
    let (b_lo_s, b_hi_s) =
        stats::rate_bounds(t.baseline_events, t.baseline_exposure, safety_alpha / 4.0);
    let (_, c_hi_s) =
        stats::rate_bounds(t.candidate_events, t.candidate_exposure, safety_alpha / 4.0);
    let safe_ratio = 1.0 + limits.tolerance / b_hi_s.max(f64::MIN_POSITIVE);
    let safety = evidence(&bins, safe_ratio, Side::Below, safety_alpha / 2.0);
    let safe_bounds = c_hi_s - b_lo_s <= limits.tolerance;
    let expected = t.candidate_exposure * b_rate.filter(|r| *r > 0.0).unwrap_or(limits.tolerance);
    let enough = expected >= policy.min_expected_events;
    let fleet_note = |fleet: bool| {
        if fleet {
            " (the baseline is beyond it too: a fleet-wide problem, not this release's)"
        } else {
            ""
        }
    };
    let ratio_words = t
        .ratio()
        .map(|r| format!("{} {r:.1} times the baseline's", kpi.label()))
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
    v.harm = Some(harm.clone());
    v.safety = Some(safety.clone());
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
    } else if harm.shown {
        decided(
            &mut v,
            KpiOutcome::Fail,
            kpi.guardrail(),
            format!(
                "{ratio_words}, beyond the {:.0} % harm margin: fail",
                limits.harm_margin * 100.0
            ),
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
    } else if (safety.shown || safe_bounds) && enough {
        let fleet = critical.or(warning).unwrap_or(false);
        decided(
            &mut v,
            KpiOutcome::Pass,
            false,
            format!(
                "shown no more than {} points worse than the baseline: pass{}",
                tolerance_points(limits.tolerance),
                fleet_note(fleet)
            ),
        );
    } else {
        let fleet = critical.or(warning).unwrap_or(false);
        let needs = needs_hours(
            &bins,
            &t,
            q,
            safe_ratio,
            safety_alpha / 2.0,
            policy.min_expected_events,
            b_rate.filter(|r| *r > 0.0).unwrap_or(limits.tolerance),
            Some((limits.tolerance, safety_alpha / 4.0)),
        );
        v.needs_hours = needs.now;
        decided(
            &mut v,
            KpiOutcome::Inconclusive,
            false,
            format!(
                "no evidence of harm, safety not shown yet: inconclusive{}; {}",
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
}

impl Needs {
    fn words(&self) -> String {
        let one = |h: Option<f64>| {
            h.map_or("more than 30 days".to_string(), |h| {
                format!("about {}", words::duration(h))
            })
        };
        let mut s = format!(
            "a decision needs {} more at the current traffic",
            one(self.now)
        );
        if let Some((share, h)) = self.next {
            s.push_str(&format!("; at {}: {}", words::percent(share), one(h)));
        }
        s
    }
}

/// How long until safety could be shown, if traffic and rates stay as they were (and at
/// the next step's share): the sooner of the ratio test and, for rates, the bounds route
/// (`bounds`: the tolerance and each bound's alpha), and at least the time to the minimum
/// of expected events.
#[allow(clippy::too_many_arguments)]
fn needs_hours(
    bins: &[Bin],
    t: &Bin,
    q: &Question,
    null: f64,
    alpha: f64,
    min_events: f64,
    rate: f64,
    bounds: Option<(f64, f64)>,
) -> Needs {
    let hours = q.window.hours().max(1.0 / 60.0);
    let hourly = t.scaled(1.0 / hours);
    let at = |h: Bin| {
        let ratio = stats::time_to_decide(bins, h, null, Side::Below, alpha, HORIZON_HOURS);
        let bounded = bounds.and_then(|(tolerance, a)| {
            let safe = |x: f64| {
                let (_, c_hi) = stats::rate_bounds(
                    t.candidate_events + h.candidate_events * x,
                    t.candidate_exposure + h.candidate_exposure * x,
                    a,
                );
                let (b_lo, _) = stats::rate_bounds(
                    t.baseline_events + h.baseline_events * x,
                    t.baseline_exposure + h.baseline_exposure * x,
                    a,
                );
                c_hi - b_lo <= tolerance
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
    Needs { now, next }
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
    let Some(bound) = histogram::bound_of_quantile(&tb, 0.95) else {
        return no_data(
            kpi,
            limits,
            "the histogram has no finite bucket bound".into(),
        );
    };
    let alpha = policy.share(kpi, policy.alpha);
    let safety_alpha = policy.share(kpi, policy.safety_alpha);
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
    let t = Bin::total(&bins);
    let (p95c, p95b) = (
        histogram::quantile(&tc, 0.95),
        histogram::quantile(&tb, 0.95),
    );
    let cohort = |version: &str, n: f64, x: f64, p95: Option<f64>| {
        let (lo, hi) = stats::rate_bounds(x, n, alpha / 2.0);
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
    let harm = evidence(&bins, 1.0 + limits.harm_margin, Side::Above, alpha / 2.0);
    let safety = evidence(
        &bins,
        limits.tolerance.max(1.0 + f64::EPSILON),
        Side::Below,
        safety_alpha,
    );
    let numbers = format!(
        "{} {} vs {} on {} vs {} observations ({} vs {} above {})",
        kpi.label(),
        p95c.map_or("?".into(), words::seconds),
        p95b.map_or("?".into(), words::seconds),
        words::count(nc),
        words::count(nb),
        words::percent(t.candidate_events / nc),
        words::percent(t.baseline_events / nb),
        words::seconds(bound),
    );
    // The p95 is confidently beyond a limit when more than 5 % of the candidate's
    // observations are surely above it, on the lower confidence bound.
    let beyond = |limit: Option<f64>, hist: &Buckets, n: f64| {
        let l = limit?;
        let (lo, _) = stats::rate_bounds(surely_above(hist, l), n, alpha / 2.0);
        Some(lo > 0.05)
    };
    let fleet = |limit: Option<f64>| limit.zip(p95b).is_some_and(|(l, p)| p > l);
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
        harm: Some(harm.clone()),
        safety: Some(safety.clone()),
        limits: *limits,
        reason: String::new(),
        needs_hours: None,
    };
    let secs = |l: Option<f64>| l.map_or(String::new(), words::seconds);
    let (outcome, critical, why) = if crit && !fleet(limits.critical) {
        (
            KpiOutcome::Fail,
            true,
            format!(
                "p95 beyond the critical {} on its confidence bound: fail (critical)",
                secs(limits.critical)
            ),
        )
    } else if harm.shown {
        (
            KpiOutcome::Fail,
            false,
            format!(
                "{:.1} times the baseline's share above {}, beyond the {:.0} % harm margin: fail",
                t.ratio().unwrap_or(f64::INFINITY),
                words::seconds(bound),
                limits.harm_margin * 100.0
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
    } else if safety.shown && enough {
        (
            KpiOutcome::Pass,
            false,
            format!(
                "shown under {:.1} times the baseline's share above its p95: pass",
                limits.tolerance
            ),
        )
    } else {
        let needs = needs_hours(
            &bins,
            &t,
            q,
            limits.tolerance,
            safety_alpha,
            policy.min_expected_events,
            0.05,
            None,
        );
        v.needs_hours = needs.now;
        (
            KpiOutcome::Inconclusive,
            false,
            format!(
                "no evidence of harm, safety not shown yet: inconclusive; {}",
                needs.words()
            ),
        )
    };
    v.verdict = outcome;
    v.critical = critical;
    v.reason = format!("{numbers}: {why}");
    v
}
