//! Whole rollouts on simulated fleets, judged the way `airlock watch` judges them, for the
//! gate's rate tests (core/tests/gate_rates.rs) and its benchmark (bench/gate.sh). A rollout
//! goes 5 → 20 → 50 → 100 %, each step observed for its window (4, 2, 2 hours), judged by
//! `judge::decide` with the default ten KPIs from the rollout's start at every look; a fail
//! or a warning stops it, a pass once the step's window is over expands it, anything else
//! waits — past the window, as the watcher does — until a horizon.
//!
//! The fleet is not the judge's model: besides Poisson counts at constant rates it draws
//! overdispersed counts (negative binomial), a crash-looping device, a diurnal cycle, an
//! adoption ramp after each step, crash reports that arrive at the next launch (counted as
//! the telemetry contract says, or against it, at report time), a baseline that drifts, a
//! counter series born at its first event (Prometheus's `increase()` drops that event) and
//! lost telemetry for one cohort (docs/KPIS.md, "The benchmark").
//!
//! Beside the gate, on the very same numbers: the seed's fixed check (crash rate over the
//! last hour above 0.5 %), a Kayenta-style Mann–Whitney judge of per-bin crash rates, a
//! Capgo-style Wilson bound against a threshold, and a fixed-horizon test at the end of the
//! first window (the power ceiling a sequential test is measured against).

use super::histogram::Buckets;
use super::judge::{self, KpiOutcome, Numbers, Outcome, Question};
use super::policy::{GatePolicy, Kpi, KpiSettings};
use super::source::{Counter, Counts, Histograms, Latency, Window};
use super::stats;
use super::synthetic::Rng;
use airlock_protocol::time::Timestamp;
use std::collections::BTreeMap;

/// The bin the numbers are read in (the gate's default).
pub const BIN_SECONDS: i64 = 300;
const STEPS: [f64; 3] = [0.05, 0.2, 0.5];
const WINDOWS_HOURS: [f64; 3] = [4.0, 2.0, 2.0];
/// The fleet's healthy rates: crashed sessions, sessions with a JS error, API errors per
/// request, download failures, signature failures and device-side rollbacks per download.
pub const CRASH: f64 = 0.003;
const JS_ERRORS: f64 = 0.003;
const API_PER_SESSION: f64 = 8.0;
const API_ERRORS: f64 = 0.005;
const DOWNLOADS_PER_SESSION: f64 = 0.1;
const DOWNLOAD_FAILURES: f64 = 0.01;
const DEVICE_ROLLBACKS: f64 = 0.001;
/// Latency bucket bounds (seconds) and each latency's median; log-normal, σ = 0.5.
const LATENCY_BUCKETS: [f64; 10] = [
    0.25,
    0.5,
    1.0,
    1.5,
    2.5,
    4.0,
    6.0,
    10.0,
    15.0,
    f64::INFINITY,
];
const LATENCIES: [(Latency, f64); 4] = [
    (Latency::DownloadDuration, 2.0),
    (Latency::InstallDuration, 1.0),
    (Latency::FirstContentfulPaint, 0.6),
    (Latency::TimeToInteractive, 1.2),
];
/// The telemetry contract's settling delay (docs/KPIS.md, "When an event counts").
pub const SETTLE_MINUTES: i64 = 60;

/// How crash reports that arrive at the next launch are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reports {
    /// At once (no delay): the judge's own assumption.
    #[default]
    Instant,
    /// As the contract says: a session counts once settled, an hour after its start, with
    /// its crash if reported by then.
    Settled,
    /// Against the contract: sessions at their start, crashes when reported.
    AtReport,
}

/// What makes the fleet unlike the judge's model.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Adversary {
    /// Every event count this many times as variable as Poisson (negative binomial); 0 or
    /// 1: Poisson.
    pub phi: f64,
    /// One candidate device crash-looping this many times within one hour of the first step.
    pub crash_loop: u32,
    /// Its crashes counted as the telemetry contract says: one crashed session per device
    /// and hour, however many it had.
    pub capped: bool,
    /// Traffic ±60 % and every rate ±30 % over a day.
    pub diurnal: bool,
    /// Devices take the new step's release over this many hours (0: at once).
    pub ramp_hours: f64,
    pub reports: Reports,
    /// Both cohorts' rates grow by this share per day.
    pub drift_per_day: f64,
    /// The candidate's event counters lose their first event (a series born at it).
    pub born_at_first_event: bool,
    /// The candidate loses this share of its reports from hour 2 to hour 3.
    pub lost_share: f64,
    /// Every error rate of *both* cohorts this many times higher for the first hour of the
    /// 50 % step (a backend outage); 0: none.
    pub spike_at_half: f64,
}

/// One simulated rollout's question.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fleet {
    /// The candidate's sessions an hour at the first step (5 %).
    pub candidate_per_hour: f64,
    /// The candidate's crash rate over the baseline's.
    pub worse: f64,
    pub adversary: Adversary,
    /// Undecided rollouts stop being followed here.
    pub horizon_hours: f64,
    /// How often the gate looks, in bins.
    pub look_bins: usize,
}

/// How one rollout ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Stopped,
    Passed,
    Undecided,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ran {
    pub end: End,
    /// Hours from the rollout's start to the end (or the horizon).
    pub hours: f64,
    /// The step (0: 5 %) the rollout was at when it ended.
    pub step: usize,
    /// The KPI whose fail or warning stopped it, and its reason.
    pub stopped_by: Option<Kpi>,
    pub reason: String,
    /// The KPIs not decided at the last look, when undecided.
    pub waiting_on: Vec<Kpi>,
    /// The comparators on the same numbers, over the first window (4 h at 5 %): stopped,
    /// and when (hours).
    pub fixed_check: Option<f64>,
    pub mann_whitney: Option<f64>,
    pub wilson: Option<f64>,
    /// The fixed-horizon test at the end of the first window: would it stop the release?
    pub fixed_horizon_stop: bool,
}

/// The numbers one bin holds, per cohort (0: candidate, 1: baseline).
#[derive(Clone, Debug, Default)]
struct BinCounts {
    counts: [BTreeMap<Counter, f64>; 2],
    hists: [BTreeMap<Latency, Buckets>; 2],
}

fn gamma(rng: &mut Rng, shape: f64) -> f64 {
    // Marsaglia and Tsang; shape below 1 by boosting.
    if shape < 1.0 {
        return gamma(rng, shape + 1.0) * rng.next().powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = rng.normal();
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = rng.next();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// A count with mean `mean`, `phi` times as variable as Poisson.
fn count(rng: &mut Rng, mean: f64, phi: f64) -> f64 {
    if mean <= 0.0 {
        return 0.0;
    }
    if phi > 1.0 {
        let shape = mean / (phi - 1.0);
        let g = gamma(rng, shape);
        rng.poisson(mean * g / shape)
    } else {
        rng.poisson(mean)
    }
}

fn normal_cdf(z: f64) -> f64 {
    // Abramowitz and Stegun 7.1.26 on erf; about 1e-7.
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + y)
    } else {
        0.5 * (1.0 - y)
    }
}

fn histogram(rng: &mut Rng, n: f64, median: f64) -> Buckets {
    let mut left = n;
    let mut below = 0.0;
    let mut p_done = 0.0;
    LATENCY_BUCKETS
        .iter()
        .map(|le| {
            let p = if le.is_finite() {
                normal_cdf((le / median).ln() / 0.5)
            } else {
                1.0
            };
            let in_bucket = if p >= 1.0 {
                left
            } else {
                let cond = ((p - p_done) / (1.0 - p_done)).clamp(0.0, 1.0);
                rng.binomial(left, cond)
            };
            left -= in_bucket;
            below += in_bucket;
            p_done = p;
            (*le, below)
        })
        .collect()
}

/// The gap between a crash and its report (the next launch): log-normal, median 20 min.
const REPORT_GAP_MEDIAN_MINUTES: f64 = 20.0;
const REPORT_GAP_SIGMA: f64 = 1.2;

/// The share of crashes reported within `minutes`.
fn report_gap_share(minutes: f64) -> f64 {
    if minutes <= 0.0 {
        return 0.0;
    }
    normal_cdf((minutes / REPORT_GAP_MEDIAN_MINUTES).ln() / REPORT_GAP_SIGMA)
}

struct Sim {
    fleet: Fleet,
    rng: Rng,
    bins: Vec<BinCounts>,
    /// Crashes (and JS errors) still to be reported, by bin, per cohort (at-report mode).
    pending: Vec<[f64; 2]>,
    loop_hour: usize,
    born: [bool; 2],
    /// The baseline's counts over the day before the rollout (the whole fleet on it).
    prior: BTreeMap<Counter, f64>,
    /// The first bin at the 50 % step.
    half_from: Option<usize>,
}

impl Sim {
    /// A fleet seeded by `seed`, its crash loop (if any) in one of the first `loop_hours`.
    fn new(fleet: Fleet, seed: u64, loop_hours: f64) -> Sim {
        let mut sim = Sim {
            fleet,
            rng: Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xA5A5),
            bins: Vec::new(),
            pending: Vec::new(),
            loop_hour: 0,
            born: [false; 2],
            prior: BTreeMap::new(),
            half_from: None,
        };
        sim.loop_hour = (sim.rng.next() * loop_hours) as usize;
        sim
    }

    /// The day before the rollout, the whole fleet on the baseline, drawn as one sum (its
    /// daily cycle averages out; a drift is at its mean over the day).
    fn draw_prior(&mut self) {
        let a = self.fleet.adversary;
        let phi = a.phi.max(1.0);
        let k = 1.0 - a.drift_per_day / 2.0;
        let rng = &mut self.rng;
        let sessions = rng.poisson(self.fleet.candidate_per_hour / STEPS[0] * 24.0);
        let requests = rng.poisson(sessions * API_PER_SESSION);
        let downloads = rng.poisson(sessions * DOWNLOADS_PER_SESSION);
        let crashed = count(rng, sessions * CRASH * k, phi);
        let js = count(rng, sessions * JS_ERRORS * k, phi);
        let api = count(rng, requests * API_ERRORS * k, phi);
        let failures = count(rng, downloads * DOWNLOAD_FAILURES * k, phi);
        let rollbacks = count(rng, downloads * DEVICE_ROLLBACKS * k, phi);
        self.prior = BTreeMap::from([
            (Counter::Sessions, sessions),
            (Counter::CrashedSessions, crashed),
            (Counter::JsErrorSessions, js),
            (Counter::ApiRequests, requests),
            (Counter::ApiErrors, api),
            (Counter::Downloads, downloads),
            (Counter::DownloadFailures, failures),
            (Counter::SignatureFailures, 0.0),
            (Counter::DeviceRollbacks, rollbacks),
        ]);
    }

    fn share(&self, step: usize, since_step: f64) -> f64 {
        let target = STEPS[step];
        let from = if step == 0 { 0.0 } else { STEPS[step - 1] };
        let ramp = self.fleet.adversary.ramp_hours;
        if ramp > 0.0 && since_step < ramp {
            from + (target - from) * since_step / ramp
        } else {
            target
        }
    }

    /// Draws bin `i` (from the rollout's start) at the candidate's share `share`.
    fn draw(&mut self, i: usize, share: f64) {
        let a = self.fleet.adversary;
        let hours = (i as f64 + 0.5) * BIN_SECONDS as f64 / 3600.0;
        let (traffic, rate_k) = if a.diurnal {
            let phase = (2.0 * std::f64::consts::PI * hours / 24.0).sin();
            (1.0 + 0.6 * phase, 1.0 + 0.3 * phase)
        } else {
            (1.0, 1.0)
        };
        let drift = 1.0 + a.drift_per_day * hours / 24.0;
        if share >= STEPS[2] && self.half_from.is_none() {
            self.half_from = Some(i);
        }
        let spike = match self.half_from {
            Some(h) if a.spike_at_half > 0.0 && i < h + (3600 / BIN_SECONDS) as usize => {
                a.spike_at_half
            }
            _ => 1.0,
        };
        let per_bin = self.fleet.candidate_per_hour / STEPS[0] * BIN_SECONDS as f64 / 3600.0;
        let phi = a.phi.max(1.0);
        let lost = (2.0..3.0).contains(&hours) && a.lost_share > 0.0;
        let mut b = BinCounts::default();
        for cohort in 0..2 {
            let s = if cohort == 0 { share } else { 1.0 - share };
            let worse = if cohort == 0 { self.fleet.worse } else { 1.0 };
            let keep = if cohort == 0 && lost {
                1.0 - a.lost_share
            } else {
                1.0
            };
            let rng = &mut self.rng;
            let sessions = rng.poisson(per_bin * traffic * s * keep);
            let k = rate_k * drift * spike;
            let mut crashed = count(rng, sessions * CRASH * worse * k, phi);
            let js = count(rng, sessions * JS_ERRORS * k, phi);
            let requests = rng.poisson(sessions * API_PER_SESSION);
            let api = count(rng, requests * API_ERRORS * k, phi);
            let downloads = rng.poisson(sessions * DOWNLOADS_PER_SESSION);
            let failures = count(rng, downloads * DOWNLOAD_FAILURES * k, phi);
            let rollbacks = count(rng, downloads * DEVICE_ROLLBACKS * k, phi);
            let mut sessions_counted = sessions;
            if cohort == 0 && a.crash_loop > 0 && i / 12 == self.loop_hour {
                // One device, crash-looping through the hour: each crash a session.
                let n = if a.capped {
                    1.0 / 12.0
                } else {
                    f64::from(a.crash_loop) / 12.0
                };
                crashed += n;
                sessions_counted += n;
            }
            match a.reports {
                Reports::Instant => {}
                Reports::Settled => {
                    // Counted an hour after the start with crashes reported by then; the
                    // delay itself is applied below by shifting the bins.
                    crashed = rng.binomial(crashed, report_gap_share(SETTLE_MINUTES as f64));
                }
                Reports::AtReport => {
                    // Each crash reported at its own next launch, its gap drawn from the
                    // log-normal of `report_gap_share`; one not reported within a day is
                    // lost. (A fraction of a crash, from a loop spread over an hour's bins,
                    // is one crash with that chance.)
                    let whole = crashed.floor() + f64::from(rng.next() < crashed.fract());
                    for _ in 0..whole as usize {
                        let z = rng.normal();
                        let minutes = REPORT_GAP_MEDIAN_MINUTES * (REPORT_GAP_SIGMA * z).exp();
                        let k = (minutes * 60.0 / BIN_SECONDS as f64) as usize;
                        if k < 24 * 12 {
                            if self.pending.len() <= i + k {
                                self.pending.resize(i + k + 1, [0.0; 2]);
                            }
                            self.pending[i + k][cohort] += 1.0;
                        }
                    }
                    crashed = 0.0;
                }
            }
            if cohort == 0 && a.born_at_first_event && !self.born[0] && crashed >= 1.0 {
                self.born[0] = true;
                crashed -= 1.0;
            }
            let c = &mut b.counts[cohort];
            c.insert(Counter::Sessions, sessions_counted);
            c.insert(Counter::CrashedSessions, crashed);
            c.insert(Counter::JsErrorSessions, js);
            c.insert(Counter::ApiRequests, requests);
            c.insert(Counter::ApiErrors, api);
            c.insert(Counter::Downloads, downloads);
            c.insert(Counter::DownloadFailures, failures);
            c.insert(Counter::SignatureFailures, 0.0);
            c.insert(Counter::DeviceRollbacks, rollbacks);
            for (l, median) in LATENCIES {
                let n = match l {
                    Latency::DownloadDuration | Latency::InstallDuration => downloads,
                    _ => sessions,
                };
                let h = histogram(&mut self.rng, n, median);
                b.hists[cohort].insert(l, h);
            }
        }
        if a.reports == Reports::AtReport {
            for cohort in 0..2 {
                let arrived = self.pending.get(i).map_or(0.0, |p| p[cohort]);
                b.counts[cohort].insert(Counter::CrashedSessions, arrived);
            }
        }
        self.bins.push(b);
    }

    /// The bins the judge sees at bin `upto` (exclusive): under the contract's settling,
    /// each bin's sessions appear an hour later.
    fn seen(&self, upto: usize) -> &[BinCounts] {
        let lag = if self.fleet.adversary.reports == Reports::Settled {
            (SETTLE_MINUTES * 60 / BIN_SECONDS) as usize
        } else {
            0
        };
        &self.bins[..upto.saturating_sub(lag)]
    }
}

const VERSIONS: [&str; 2] = ["1.1.0", "1.0.0"];
const COUNTERS: [Counter; 9] = [
    Counter::Sessions,
    Counter::CrashedSessions,
    Counter::JsErrorSessions,
    Counter::ApiRequests,
    Counter::ApiErrors,
    Counter::Downloads,
    Counter::DownloadFailures,
    Counter::SignatureFailures,
    Counter::DeviceRollbacks,
];

fn numbers(bins: &[BinCounts], upto: usize, prior: &BTreeMap<Counter, f64>) -> Numbers {
    let mut counts: BTreeMap<Counter, Counts> = BTreeMap::new();
    let mut histograms: BTreeMap<Latency, Histograms> = BTreeMap::new();
    for (cohort, version) in VERSIONS.iter().enumerate() {
        for c in COUNTERS {
            let v: Vec<f64> = (0..upto)
                .map(|i| {
                    bins.get(i)
                        .and_then(|b| b.counts[cohort].get(&c))
                        .copied()
                        .unwrap_or(0.0)
                })
                .collect();
            counts.entry(c).or_default().insert(version.to_string(), v);
        }
        for (l, _) in LATENCIES {
            let v: Vec<Buckets> = (0..upto)
                .map(|i| {
                    bins.get(i)
                        .and_then(|b| b.hists[cohort].get(&l))
                        .cloned()
                        .unwrap_or_default()
                })
                .collect();
            histograms
                .entry(l)
                .or_default()
                .insert(version.to_string(), v);
        }
    }
    let prior_counts = prior
        .iter()
        .map(|(c, x)| (*c, BTreeMap::from([(VERSIONS[1].to_string(), vec![*x])])))
        .collect();
    Numbers {
        counts,
        histograms,
        prior_counts,
        ..Numbers::default()
    }
}

/// The gate's default policy with every KPI in force, on five-minute bins.
pub fn default_policy() -> GatePolicy {
    KpiSettings::default()
        .policy("Production")
        .expect("the default policy")
}

/// The boundary of crash-free sessions at the fleet's healthy crash rate: a release exactly
/// this much worse is at the edge of the null.
pub fn crash_boundary(policy: &GatePolicy) -> f64 {
    let l = policy
        .kpis
        .iter()
        .find(|(k, _)| *k == Kpi::CrashFree)
        .map_or_else(|| Kpi::CrashFree.default_limits(), |(_, l)| *l);
    super::boundary::limit_of(CRASH, &l) / CRASH
}

/// Plays and judges one rollout.
pub fn run(fleet: &Fleet, policy: &GatePolicy, seed: u64) -> Ran {
    let start = Timestamp::parse("2026-11-02T00:00:00Z").expect("a time");
    let mut sim = Sim::new(*fleet, seed, 4.0);
    sim.draw_prior();
    let per_hour = (3600 / BIN_SECONDS) as usize;
    let horizon = (fleet.horizon_hours * per_hour as f64) as usize;
    let (mut step, mut step_start) = (0usize, 0usize);
    // Past the first step the fleet's share moves on; the comparators stop at its end.
    let mut out = Ran {
        end: End::Undecided,
        hours: fleet.horizon_hours,
        step: 0,
        stopped_by: None,
        reason: String::new(),
        waiting_on: Vec::new(),
        fixed_check: None,
        mann_whitney: None,
        wilson: None,
        fixed_horizon_stop: false,
    };
    let first_window = (WINDOWS_HOURS[0] * per_hour as f64) as usize;
    let mut done = false;
    for i in 0..horizon.max(first_window) {
        let now = i + 1;
        if done && now > first_window {
            break;
        }
        let since = (i - step_start) as f64 / per_hour as f64;
        let share = sim.share(step, since);
        sim.draw(i, share);
        let seen = sim.seen(now).len();
        // The comparators judge the first window, the gate's first step, on the same numbers.
        if now <= first_window {
            comparators(&mut out, sim.seen(now), now, per_hour);
        }
        if now == first_window {
            out.fixed_horizon_stop = fixed_horizon(sim.seen(now), policy);
        }
        // Every `look_bins` for the first four hours, half as often after (the cost of a
        // look grows with the rollout; a late decision is timed to the nearer look).
        let every = if now <= 4 * per_hour {
            fleet.look_bins
        } else {
            2 * fleet.look_bins
        };
        if done || !now.is_multiple_of(every) || seen == 0 || now > horizon {
            continue;
        }
        let Ok(window) = Window::new(
            start,
            start.plus_seconds(seen as i64 * BIN_SECONDS),
            BIN_SECONDS,
        ) else {
            continue;
        };
        let q = Question {
            app: "shop".into(),
            channel: "Production".into(),
            candidate: VERSIONS[0].into(),
            baseline: VERSIONS[1].into(),
            window,
            rollout_share: Some(STEPS[step]),
            next_share: STEPS.get(step + 1).copied(),
            alpha_share: judge::ROLLOUT_ALPHA,
            holdout: false,
        };
        let v = judge::decide(&q, policy, &numbers(sim.seen(now), seen, &sim.prior));
        let hours = now as f64 / per_hour as f64;
        out.step = step;
        let warned = v.kpis.iter().find(|k| k.verdict == KpiOutcome::Warn);
        if v.verdict == Outcome::Fail || warned.is_some() {
            out.end = End::Stopped;
            out.hours = hours;
            let by = v
                .kpis
                .iter()
                .find(|k| k.verdict == KpiOutcome::Fail)
                .or(warned);
            out.stopped_by = by.map(|k| k.kpi);
            out.reason = by.map(|k| k.reason.clone()).unwrap_or_default();
            done = true;
            continue;
        }
        out.waiting_on = v
            .kpis
            .iter()
            .filter(|k| k.verdict != KpiOutcome::Pass)
            .map(|k| k.kpi)
            .collect();
        let window_bins = (WINDOWS_HOURS[step] * per_hour as f64) as usize;
        if v.verdict == Outcome::Pass && now - step_start >= window_bins {
            if step + 1 == STEPS.len() {
                out.end = End::Passed;
                out.hours = hours;
                done = true;
                continue;
            }
            step += 1;
            step_start = now;
        }
    }
    out
}

fn crash_totals(bins: &[BinCounts], from: usize) -> [f64; 4] {
    let mut t = [0.0; 4];
    for b in &bins[from.min(bins.len())..] {
        t[0] += b.counts[0][&Counter::Sessions];
        t[1] += b.counts[0][&Counter::CrashedSessions];
        t[2] += b.counts[1][&Counter::Sessions];
        t[3] += b.counts[1][&Counter::CrashedSessions];
    }
    t
}

/// The comparators, looking every 15 minutes at what the gate sees.
fn comparators(out: &mut Ran, bins: &[BinCounts], now: usize, per_hour: usize) {
    if !now.is_multiple_of(3) || bins.is_empty() {
        return;
    }
    let hours = now as f64 / per_hour as f64;
    // The seed's fixed check: the candidate's crash rate over the last hour above 0.5 %.
    let last = crash_totals(bins, bins.len().saturating_sub(per_hour));
    if out.fixed_check.is_none() && last[0] > 0.0 && last[1] / last[0] > 0.005 {
        out.fixed_check = Some(hours);
    }
    let all = crash_totals(bins, 0);
    // Capgo-style: the Wilson 95 % lower bound of the candidate's crash rate above 0.5 %.
    if out.wilson.is_none() && all[0] > 0.0 {
        let (n, p) = (all[0], all[1] / all[0]);
        let z: f64 = 1.96;
        let centre = p + z * z / (2.0 * n);
        let spread = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
        let lower = (centre - spread) / (1.0 + z * z / n);
        if lower > 0.005 {
            out.wilson = Some(hours);
        }
    }
    // Kayenta-style: Mann–Whitney U of the per-bin crash rates, candidate above baseline,
    // one-sided 1 % (normal approximation), once there are 12 bins.
    if out.mann_whitney.is_none() && bins.len() >= 12 {
        let rate = |b: &BinCounts, c: usize| {
            let n = b.counts[c][&Counter::Sessions];
            (n > 0.0).then(|| b.counts[c][&Counter::CrashedSessions] / n)
        };
        let xs: Vec<f64> = bins.iter().filter_map(|b| rate(b, 0)).collect();
        let ys: Vec<f64> = bins.iter().filter_map(|b| rate(b, 1)).collect();
        let (n1, n2) = (xs.len() as f64, ys.len() as f64);
        if n1 >= 12.0 && n2 >= 12.0 {
            let mut u = 0.0;
            for x in &xs {
                for y in &ys {
                    u += if x > y {
                        1.0
                    } else if x == y {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
            let mean = n1 * n2 / 2.0;
            let sd = (n1 * n2 * (n1 + n2 + 1.0) / 12.0).sqrt();
            if sd > 0.0 && (u - mean) / sd > 2.326 {
                out.mann_whitney = Some(hours);
            }
        }
    }
}

/// A fixed-horizon test of harm on crash-free sessions at the end of the first window: the
/// log rate ratio's z against the boundary, one-sided at crash-free's share of the
/// rollout's alpha — what a single look at the window's end could do on the same data.
fn fixed_horizon(bins: &[BinCounts], policy: &GatePolicy) -> bool {
    let t = crash_totals(bins, 0);
    if t[1] <= 0.0 || t[3] <= 0.0 {
        return false;
    }
    let ratio = (t[1] / t[0]) / (t[3] / t[2]);
    let se = (1.0 / t[1] + 1.0 / t[3]).sqrt();
    let z = (ratio.ln() - crash_boundary(policy).ln()) / se;
    let alpha = policy.share(Kpi::CrashFree, policy.alpha * judge::ROLLOUT_ALPHA);
    z > quantile(1.0 - alpha)
}

/// The standard normal quantile (bisection on [`normal_cdf`]).
fn quantile(p: f64) -> f64 {
    let (mut lo, mut hi) = (-10.0, 10.0);
    for _ in 0..80 {
        let mid = (lo + hi) / 2.0;
        if normal_cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// The first `hours` of a rollout's 5 % step on `fleet` as OpenMetrics history for promtool
/// (sessions and crashed sessions of candidate `1.1.0` and baseline `1.0.0` in `app`'s
/// `channel`, one sample a minute from `start`, each bin's counts added at its end):
/// the adversarial fleets on a real Prometheus. With `born_at_first_event`, the candidate's
/// crashed-sessions series has no sample before its first crash, as a client library that
/// creates a series on its first increment leaves it — Prometheus's `increase()` then loses
/// that crash, the real way.
pub fn openmetrics(
    fleet: &Fleet,
    seed: u64,
    hours: f64,
    start: Timestamp,
    app: &str,
    channel: &str,
) -> String {
    use std::fmt::Write;
    // The history starts at the rollout (no day before): the judge fixes boundaries from
    // its first bins.
    let drawn = Fleet {
        adversary: Adversary {
            born_at_first_event: false,
            ..fleet.adversary
        },
        ..*fleet
    };
    let mut sim = Sim::new(drawn, seed, hours.min(4.0));
    let per_hour = (3600 / BIN_SECONDS) as usize;
    let n = (hours * per_hour as f64) as usize;
    for i in 0..n {
        let share = sim.share(0, i as f64 / per_hour as f64);
        sim.draw(i, share);
    }
    let bins = sim.seen(n).to_vec();
    let t0 = start.unix();
    let mut out = String::new();
    let minutes = BIN_SECONDS / 60;
    for (family, counter) in [
        ("ota_sessions", Counter::Sessions),
        ("ota_crashed_sessions", Counter::CrashedSessions),
    ] {
        let _ = writeln!(out, "# TYPE {family} counter");
        for (cohort, version) in VERSIONS.iter().enumerate() {
            let labels = format!("app=\"{app}\",channel=\"{channel}\",version=\"{version}\"");
            let born = fleet.adversary.born_at_first_event
                && cohort == 0
                && counter == Counter::CrashedSessions;
            if !born {
                let _ = writeln!(out, "{family}_total{{{labels}}} 0 {t0}");
            }
            let mut total = 0.0;
            for (i, b) in bins.iter().enumerate() {
                for m in 1..=minutes {
                    if m == minutes {
                        total += b.counts[cohort][&counter];
                    }
                    if born && total <= 0.0 {
                        continue;
                    }
                    let at = t0 + i as i64 * BIN_SECONDS + m * 60;
                    let _ = writeln!(out, "{family}_total{{{labels}}} {total} {at}");
                }
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

/// The one-sided 95 % upper bound (Clopper–Pearson) of a rate seen `k` times in `n`: what a
/// rate test's bound and the benchmark's table print beside the rate.
pub fn upper_95(k: usize, n: usize) -> f64 {
    if n == 0 || k >= n {
        return 1.0;
    }
    let (kf, nf) = (k as f64, n as f64);
    // P(X <= k) for X ~ Bin(n, p), falling in p.
    let tail = |p: f64| {
        (0..=k)
            .map(|j| {
                let jf = j as f64;
                let ln = stats::ln_gamma(nf + 1.0)
                    - stats::ln_gamma(jf + 1.0)
                    - stats::ln_gamma(nf - jf + 1.0)
                    + jf * p.ln()
                    + (nf - jf) * (1.0 - p).ln();
                ln.exp()
            })
            .sum::<f64>()
    };
    let (mut lo, mut hi) = (kf / nf, 1.0);
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if tail(mid) > 0.05 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upper_bound_matches_clopper_pearson() {
        // scipy.stats.beta.ppf(0.95, k + 1, n - k): 0 of 600 → 0.004980, 6 of 600 → 0.019641.
        assert!(
            (upper_95(0, 600) - 0.004_980_4).abs() < 1e-6,
            "{}",
            upper_95(0, 600)
        );
        assert!(
            (upper_95(6, 600) - 0.019_641_3).abs() < 1e-6,
            "{}",
            upper_95(6, 600)
        );
    }

    #[test]
    fn the_generator_draws_what_it_is_told() {
        let mut rng = Rng(3);
        let n = 20_000;
        let (mut sum, mut sq) = (0.0, 0.0);
        for _ in 0..n {
            let x = count(&mut rng, 4.0, 3.0);
            sum += x;
            sq += x * x;
        }
        let mean = sum / n as f64;
        let var = sq / n as f64 - mean * mean;
        assert!((mean - 4.0).abs() < 0.1, "mean {mean}");
        assert!((var / mean - 3.0).abs() < 0.25, "dispersion {}", var / mean);
        let h = histogram(&mut rng, 10_000.0, 1.0);
        assert_eq!(h.last().unwrap().1, 10_000.0);
        let at_median = h.iter().find(|(le, _)| *le == 1.0).unwrap().1;
        assert!((at_median - 5_000.0).abs() < 200.0, "{at_median}");
    }
}
