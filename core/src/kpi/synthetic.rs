//! Synthetic KPI numbers with known rates, for the judge's tests and the gate benchmark:
//! two cohorts of one channel (the candidate at its share of the sessions, the baseline
//! at the rest), minute by minute, drawn from a seeded generator so every run sees the same
//! numbers. They go into a [`MemorySource`], or out as OpenMetrics text for
//! `promtool tsdb create-blocks-from openmetrics` (the real-Prometheus tests read the very
//! same numbers). This is not a device fleet: it plays no pointer and no protocol.

use super::histogram::Buckets;
use super::source::{Counter, Latency, MemorySource};
use airlock_protocol::time::Timestamp;
use std::fmt::Write;

/// The install-time histogram's bucket bounds, in seconds.
pub const INSTALL_BUCKETS: [f64; 9] = [0.5, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0, f64::INFINITY];

#[derive(Clone, Debug)]
pub struct Cohorts {
    pub app: String,
    pub channel: String,
    pub candidate: String,
    pub baseline: String,
    pub start: Timestamp,
    pub minutes: u32,
    /// Sessions per hour, both cohorts together.
    pub sessions_per_hour: f64,
    /// The candidate's share of the sessions.
    pub share: f64,
    /// Its share of the active devices, when the telemetry disagrees with the sessions
    /// (default: `share`).
    pub device_share: Option<f64>,
    /// Crashed sessions per session: (candidate, baseline).
    pub crash_rate: (f64, f64),
    /// From minute `.0` to minute `.1`, both cohorts crash at `.2` instead (an outage).
    pub spike: Option<(u32, u32, f64)>,
    /// From minute `.0` on, the candidate crashes at `.1` instead (it turns bad).
    pub worse_from: Option<(u32, f64)>,
    /// Mean install time in seconds (exponential): (candidate, baseline). One install per
    /// ten sessions.
    pub install_mean: (f64, f64),
    pub seed: u64,
    /// The baseline's devices are the channel's holdout: their numbers are added as the
    /// holdout's ([`MemorySource::held`]; `cohort="holdout"` in OpenMetrics).
    pub held: bool,
}

/// One minute of one cohort.
#[derive(Clone, Debug, PartialEq)]
pub struct Minute {
    /// When the minute ends.
    pub at: Timestamp,
    pub sessions: f64,
    pub crashed: f64,
    /// Cumulative install-time buckets of the minute's installs.
    pub installs: Buckets,
}

/// splitmix64: small, fast and good enough for drawing counts.
#[derive(Clone, Debug)]
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // 53 random bits in [0, 1), never exactly 0.
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    pub(crate) fn normal(&mut self) -> f64 {
        let (u, v) = (self.next(), self.next());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// A Poisson count with mean `mean` (exact below 30, normal beyond).
    pub fn poisson(&mut self, mean: f64) -> f64 {
        if mean <= 0.0 {
            return 0.0;
        }
        if mean < 30.0 {
            let limit = (-mean).exp();
            let (mut k, mut p) = (0.0, self.next());
            while p > limit {
                k += 1.0;
                p *= self.next();
            }
            return k;
        }
        (mean + mean.sqrt() * self.normal()).round().max(0.0)
    }

    /// A binomial count of `n` trials at `p`: exact for few trials, Poisson for rare
    /// events, normal otherwise.
    pub fn binomial(&mut self, n: f64, p: f64) -> f64 {
        if n < 64.0 {
            return (0..n as u32).filter(|_| self.next() < p).count() as f64;
        }
        let mean = n * p;
        if p < 0.05 && mean < 30.0 {
            return self.poisson(mean).min(n);
        }
        (mean + (mean * (1.0 - p)).sqrt() * self.normal())
            .round()
            .clamp(0.0, n)
    }
}

impl Cohorts {
    /// `candidate` against `baseline` in `app`'s `channel` from `start`: an hour of 20,000
    /// sessions an hour, 5 % of them the candidate's, both crashing 0.3 %, installs of 1 s
    /// on average. Tests change what they need with `..Cohorts::new(…)`.
    pub fn new(
        app: &str,
        channel: &str,
        candidate: &str,
        baseline: &str,
        start: Timestamp,
    ) -> Self {
        Self {
            app: app.into(),
            channel: channel.into(),
            candidate: candidate.into(),
            baseline: baseline.into(),
            start,
            minutes: 60,
            sessions_per_hour: 20_000.0,
            share: 0.05,
            device_share: None,
            crash_rate: (0.003, 0.003),
            spike: None,
            worse_from: None,
            install_mean: (1.0, 1.0),
            seed: 1,
            held: false,
        }
    }

    /// The candidate's minutes and the baseline's.
    pub fn minutes(&self) -> (Vec<Minute>, Vec<Minute>) {
        let mut rng = Rng(self.seed);
        let per_minute = self.sessions_per_hour / 60.0;
        let (mut c, mut b) = (Vec::new(), Vec::new());
        for m in 0..self.minutes {
            let at = self.start.plus_seconds(60 * (i64::from(m) + 1));
            let spike = self
                .spike
                .filter(|(a, z, _)| (*a..*z).contains(&m))
                .map(|s| s.2);
            let candidate_rate = match self.worse_from {
                Some((from, rate)) if m >= from => rate,
                _ => self.crash_rate.0,
            };
            for (out, share, rate, mean) in [
                (&mut c, self.share, candidate_rate, self.install_mean.0),
                (
                    &mut b,
                    1.0 - self.share,
                    self.crash_rate.1,
                    self.install_mean.1,
                ),
            ] {
                let sessions = rng.poisson(per_minute * share);
                let crashed = rng.binomial(sessions, spike.unwrap_or(rate));
                let installs = rng.poisson(sessions / 10.0);
                let mut left = installs;
                let mut below = 0.0;
                let mut buckets = Buckets::new();
                let mut prev_cdf = 0.0;
                for le in INSTALL_BUCKETS {
                    let cdf = if le.is_finite() {
                        1.0 - (-le / mean).exp()
                    } else {
                        1.0
                    };
                    // Draw this bucket's share of what is left, so the counts add up.
                    let p = ((cdf - prev_cdf) / (1.0 - prev_cdf)).clamp(0.0, 1.0);
                    let here = if le.is_finite() {
                        rng.binomial(left, p)
                    } else {
                        left
                    };
                    left -= here;
                    below += here;
                    prev_cdf = cdf;
                    buckets.push((le, below));
                }
                out.push(Minute {
                    at,
                    sessions,
                    crashed,
                    installs: buckets,
                });
            }
        }
        (c, b)
    }

    /// Active devices per version: one per session an hour.
    fn devices(&self) -> (f64, f64) {
        let share = self.device_share.unwrap_or(self.share);
        (
            (self.sessions_per_hour * share).round(),
            (self.sessions_per_hour * (1.0 - share)).round(),
        )
    }

    /// Puts the numbers into `source`.
    pub fn fill(&self, source: &MemorySource) {
        let (c, b) = self.minutes();
        let (dc, db) = self.devices();
        let baseline = if self.held {
            MemorySource::held(&self.baseline)
        } else {
            self.baseline.clone()
        };
        for (version, minutes, devices) in [(&self.candidate, &c, dc), (&baseline, &b, db)] {
            for m in minutes {
                source.add(Counter::Sessions, version, m.at, m.sessions);
                source.add(Counter::CrashedSessions, version, m.at, m.crashed);
                source.observe(Latency::InstallDuration, version, m.at, m.installs.clone());
                source.set_active(version, m.at, devices);
            }
        }
    }

    /// The numbers as cumulative OpenMetrics series (ending `# EOF`), each starting at 0 at
    /// `start`.
    pub fn openmetrics(&self) -> String {
        history(std::slice::from_ref(self))
    }
}

/// Phases of the same two cohorts one after another (a rollout's steps, each at its own
/// share) as one OpenMetrics history: every series starts at 0 at the first phase's start
/// and runs on across the phases.
pub fn history(phases: &[Cohorts]) -> String {
    let Some(first) = phases.first() else {
        return "# EOF\n".into();
    };
    // Each cohort's minutes with the devices active in that minute's phase.
    let mut cand: Vec<(Minute, f64)> = Vec::new();
    let mut base: Vec<(Minute, f64)> = Vec::new();
    for p in phases {
        let (c, b) = p.minutes();
        let (dc, db) = p.devices();
        cand.extend(c.into_iter().map(|m| (m, dc)));
        base.extend(b.into_iter().map(|m| (m, db)));
    }
    let cohorts = [(&first.candidate, &cand), (&first.baseline, &base)];
    let labels = |v: &str| {
        let held = if first.held && *v == first.baseline {
            ",cohort=\"holdout\""
        } else {
            ""
        };
        format!(
            "app=\"{}\",channel=\"{}\",version=\"{v}\"{held}",
            first.app, first.channel
        )
    };
    let mut out = String::new();
    let t0 = first.start.unix();
    let counter = |out: &mut String, family: &str, pick: &dyn Fn(&Minute) -> f64| {
        let _ = writeln!(out, "# TYPE {family} counter");
        for (v, minutes) in &cohorts {
            let l = labels(v);
            let _ = writeln!(out, "{family}_total{{{l}}} 0 {t0}");
            let mut total = 0.0;
            for (m, _) in minutes.iter() {
                total += pick(m);
                let _ = writeln!(out, "{family}_total{{{l}}} {total} {}", m.at.unix());
            }
        }
    };
    counter(&mut out, "ota_sessions", &|m| m.sessions);
    counter(&mut out, "ota_crashed_sessions", &|m| m.crashed);
    let family = "ota_install_duration_seconds";
    let _ = writeln!(out, "# TYPE {family} histogram");
    for (v, minutes) in &cohorts {
        let l = labels(v);
        let mut totals = vec![0.0; INSTALL_BUCKETS.len()];
        let emit = |out: &mut String, at: i64, totals: &[f64]| {
            for (le, n) in INSTALL_BUCKETS.iter().zip(totals) {
                let le = if le.is_finite() {
                    format!("{le}")
                } else {
                    "+Inf".into()
                };
                let _ = writeln!(out, "{family}_bucket{{{l},le=\"{le}\"}} {n} {at}");
            }
            let _ = writeln!(
                out,
                "{family}_count{{{l}}} {} {at}",
                totals.last().copied().unwrap_or(0.0)
            );
        };
        emit(&mut out, t0, &totals);
        for (m, _) in minutes.iter() {
            for (t, (_, n)) in totals.iter_mut().zip(&m.installs) {
                *t += n;
            }
            emit(&mut out, m.at.unix(), &totals);
        }
    }
    let _ = writeln!(out, "# TYPE ota_active_devices gauge");
    for (v, minutes) in &cohorts {
        let l = labels(v);
        for (m, devices) in minutes.iter() {
            let _ = writeln!(out, "ota_active_devices{{{l}}} {devices} {}", m.at.unix());
        }
    }
    out.push_str("# EOF\n");
    out
}
