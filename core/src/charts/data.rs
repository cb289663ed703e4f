//! What the KPI panels are drawn from, fetched once for a channel and a range: the
//! source's counts and histograms at its own step for every version seen in the range, the
//! gate's policy, the rollout the range shows (from the log: its version, the release it is
//! judged against, its steps) and the log's markers. [`from_log`] is the fold over the
//! entries; `Workspace::chart_data` (ops/kpi_charts.rs) fills the numbers.

use super::frame::Mark;
use crate::kpi::policy::GatePolicy;
use crate::kpi::source::{Counter, Counts, Histograms, Latency};
use crate::log::Event;
use crate::log::entry::percent as pct;
use crate::log::reader::StoredEntry;
use airlock_protocol::bucketing::FULL;
use std::collections::BTreeMap;

/// One step of a rollout: from `at`, `basis_points` of devices; `next` is the plan's next
/// step (for the judge's "how long at the next step").
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub at: i64,
    pub basis_points: u32,
    pub next: Option<u32>,
}

/// The rollout a chart shows: the newest one in the channel that overlaps the range.
#[derive(Clone, Debug, PartialEq)]
pub struct RolloutSpan {
    pub version: String,
    /// The channel's current release when it began: what the gate judges it against.
    pub baseline: Option<String>,
    pub started: i64,
    /// When it completed, was reverted or rolled back; `None` while it runs.
    pub ended: Option<i64>,
    pub steps: Vec<Step>,
    /// The steps its `promoted` entry planned, in basis points.
    pub plan: Vec<u32>,
}

/// Everything the five panels need.
#[derive(Clone, Debug)]
pub struct ChartData {
    pub app: String,
    pub channel: String,
    /// The range's start (unix seconds): fine bin `i` covers `(from + i·step, from + (i+1)·step]`.
    pub from: i64,
    pub to: i64,
    pub step: i64,
    pub bins: usize,
    /// Every version the source answered for, per counter and histogram.
    pub counts: BTreeMap<Counter, Counts>,
    pub histograms: BTreeMap<Latency, Histograms>,
    pub policy: GatePolicy,
    pub rollout: Option<RolloutSpan>,
    pub marks: Vec<Mark>,
}

impl ChartData {
    /// The time the crash-free and verdict panels cover: the rollout's span within the range
    /// (an hour at least), else the whole range.
    pub fn rollout_range(&self) -> std::ops::Range<i64> {
        match &self.rollout {
            Some(r) => {
                r.started.max(self.from)
                    ..r.ended
                        .map_or(self.to, |e| e.min(self.to))
                        .max(r.started + 3600)
            }
            None => self.from..self.to,
        }
    }

    /// The version series of `what`, or an empty map.
    pub fn counts(&self, what: Counter) -> &Counts {
        static EMPTY: std::sync::OnceLock<Counts> = std::sync::OnceLock::new();
        self.counts
            .get(&what)
            .unwrap_or_else(|| EMPTY.get_or_init(Counts::new))
    }

    pub fn histograms(&self, what: Latency) -> &Histograms {
        static EMPTY: std::sync::OnceLock<Histograms> = std::sync::OnceLock::new();
        self.histograms
            .get(&what)
            .unwrap_or_else(|| EMPTY.get_or_init(Histograms::new))
    }
}

/// From `channel`'s history: the newest rollout overlapping `from..=to`, the versions seen
/// there, and a marker for each step, pause, revert, rollback, gate verdict and incident in
/// the range.
pub fn from_log(
    entries: &[StoredEntry],
    channel: &str,
    from: i64,
    to: i64,
) -> (Option<RolloutSpan>, Vec<String>, Vec<Mark>) {
    let mut current: Option<String> = None;
    let mut open: Option<RolloutSpan> = None;
    let mut last: Option<RolloutSpan> = None;
    let mut versions: Vec<String> = Vec::new();
    let mut marks = Vec::new();
    let seen = |v: &str, versions: &mut Vec<String>| {
        if !versions.iter().any(|x| x == v) {
            versions.push(v.to_string());
        }
    };
    for s in entries {
        let (e, at) = (&s.entry, s.entry.at.unix());
        let mut mark: Option<String> = None;
        // A rollout that starts after the range is followed (so its end is known) but
        // never replaces the one the range shows.
        let close = |open: &mut Option<RolloutSpan>, last: &mut Option<RolloutSpan>| {
            if let Some(mut r) = open.take()
                && r.started <= to
            {
                r.ended = Some(at);
                *last = Some(r);
            }
        };
        match &e.event {
            Event::Released {
                version,
                channel: c,
                ..
            } if c == channel => {
                close(&mut open, &mut last);
                current = Some(version.clone());
                seen(version, &mut versions);
                mark = Some(format!("{version} released"));
            }
            Event::Promoted {
                version,
                to: c,
                basis_points,
                plan,
                ..
            } if c == channel => {
                close(&mut open, &mut last);
                seen(version, &mut versions);
                mark = Some(format!("{version} at {}", pct(*basis_points)));
                if *basis_points >= FULL {
                    current = Some(version.clone());
                } else {
                    open = Some(RolloutSpan {
                        version: version.clone(),
                        baseline: current.clone(),
                        started: at,
                        ended: None,
                        steps: vec![Step {
                            at,
                            basis_points: *basis_points,
                            next: None,
                        }],
                        plan: plan.clone(),
                    });
                }
            }
            Event::Expanded {
                channel: c,
                version,
                basis_points,
                ..
            } if c == channel => {
                mark = Some(pct(*basis_points));
                if *basis_points >= FULL {
                    close(&mut open, &mut last);
                    current = Some(version.clone());
                } else if let Some(r) = open.as_mut() {
                    r.steps.push(Step {
                        at,
                        basis_points: *basis_points,
                        next: None,
                    });
                }
            }
            Event::Paused { channel: c, .. } if c == channel => mark = Some("paused".into()),
            Event::Resumed { channel: c, .. } if c == channel => mark = Some("resumed".into()),
            Event::Reverted { channel: c, .. } if c == channel => {
                close(&mut open, &mut last);
                mark = Some("reverted".into());
            }
            Event::RolledBack {
                channel: c, to: v, ..
            } if c == channel => {
                close(&mut open, &mut last);
                current = Some(v.clone());
                seen(v, &mut versions);
                mark = Some(format!("rolled back to {v}"));
            }
            Event::GatePassed { channel: c, .. } | Event::CurrentPassed { channel: c, .. }
                if c == channel =>
            {
                mark = Some("gate: pass".into())
            }
            Event::GateFailed {
                channel: c,
                critical,
                ..
            } if c == channel => {
                mark = Some(
                    if *critical {
                        "gate: critical"
                    } else {
                        "gate: fail"
                    }
                    .into(),
                )
            }
            Event::IncidentOpened {
                channel: c,
                severity,
                ..
            } if c == channel => mark = Some(format!("SEV-{severity}")),
            _ => {}
        }
        if let Some(label) = mark
            && at >= from
            && at <= to
        {
            marks.push(Mark { x: at, label });
        }
    }
    let mut pick = open
        .filter(|r| r.started <= to)
        .or(last)
        .filter(|r| r.ended.is_none_or(|e| e >= from));
    if let Some(r) = pick.as_mut() {
        // Each step's next: the plan's next step above it (100 % when none is left).
        for step in &mut r.steps {
            step.next = Some(
                r.plan
                    .iter()
                    .copied()
                    .find(|p| *p > step.basis_points)
                    .unwrap_or(FULL),
            );
        }
        if let Some(b) = &r.baseline {
            seen(b, &mut versions);
        }
    }
    (pick, versions, marks)
}

/// A month of per-minute numbers for `shop`'s Production with a known shape, for the chart
/// tests and `make bench`: 1.1.0 current all month, 1.2.0 rolling out over the last two
/// days (5 % then 20 %), 200 sessions and 20 downloads a minute; crash rates 0.4 % and
/// 0.5 %, 1 % of downloads failing, installs mostly under 2.5 s. Deterministic.
pub fn sample_month(policy: GatePolicy) -> ChartData {
    const DAY: i64 = 86_400;
    let from = 1_794_009_600; // 2026-11-07 00:00 UTC
    let step = 60;
    let bins = (30 * DAY / step) as usize;
    let started = from + 28 * DAY;
    let expanded = from + 29 * DAY;
    let mut seed: u64 = 42;
    let mut noise = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((seed >> 33) as f64) / f64::from(u32::MAX) // 0..1
    };
    let mut counts: BTreeMap<Counter, Counts> = BTreeMap::new();
    let mut hists: Histograms = BTreeMap::new();
    let bounds = [0.5, 1.0, 2.5, 5.0, 10.0, f64::INFINITY];
    let (mut crashes, mut failures) = ([0.0; 2], [0.0; 2]);
    for v in ["1.1.0", "1.2.0"] {
        for c in [
            Counter::Sessions,
            Counter::CrashedSessions,
            Counter::Downloads,
            Counter::DownloadFailures,
        ] {
            counts
                .entry(c)
                .or_default()
                .insert(v.into(), vec![0.0; bins]);
        }
        hists.insert(v.into(), vec![Vec::new(); bins]);
    }
    for i in 0..bins {
        let end = from + (i as i64 + 1) * step;
        let share = if end > expanded {
            0.2
        } else if end > started {
            0.05
        } else {
            0.0
        };
        let sessions = 180.0 + (noise() * 40.0).round();
        let downloads = 15.0 + (noise() * 10.0).round();
        for (v, s, crash) in [("1.1.0", 1.0 - share, 0.004), ("1.2.0", share, 0.005)] {
            let n = (sessions * s).round();
            let dl = (downloads * s).round();
            let put = |c: &mut BTreeMap<Counter, Counts>, what: Counter, x: f64| {
                if let Some(series) = c.get_mut(&what).and_then(|m| m.get_mut(v)) {
                    series[i] = x;
                }
            };
            put(&mut counts, Counter::Sessions, n);
            // Events at their rate, carried over from minute to minute (so a cohort of ten
            // sessions a minute still crashes at 0.5 %).
            let slot = usize::from(v == "1.2.0");
            let mut events = |acc: &mut [f64; 2], x: f64| {
                let before = acc[slot].floor();
                acc[slot] += x * (0.5 + noise());
                acc[slot].floor() - before
            };
            put(
                &mut counts,
                Counter::CrashedSessions,
                events(&mut crashes, n * crash),
            );
            put(&mut counts, Counter::Downloads, dl);
            put(
                &mut counts,
                Counter::DownloadFailures,
                events(&mut failures, dl * 0.01),
            );
            // Cumulative bucket counts: 60 % ≤ 1 s, 97 % ≤ 2.5 s, the rest ≤ 5 s.
            let shares = [0.2, 0.6, 0.97, 1.0, 1.0, 1.0];
            if let Some(h) = hists.get_mut(v) {
                h[i] = bounds
                    .iter()
                    .zip(shares)
                    .map(|(le, s)| (*le, (dl * s).round()))
                    .collect();
            }
        }
    }
    ChartData {
        app: "shop".into(),
        channel: "Production".into(),
        from,
        to: from + bins as i64 * step,
        step,
        bins,
        counts,
        histograms: BTreeMap::from([(Latency::InstallDuration, hists)]),
        policy,
        rollout: Some(RolloutSpan {
            version: "1.2.0".into(),
            baseline: Some("1.1.0".into()),
            started,
            ended: None,
            steps: vec![
                Step {
                    at: started,
                    basis_points: 500,
                    next: Some(2000),
                },
                Step {
                    at: expanded,
                    basis_points: 2000,
                    next: Some(5000),
                },
            ],
            plan: vec![500, 2000, 5000, FULL],
        }),
        marks: vec![
            Mark {
                x: started,
                label: "1.2.0 at 5 %".into(),
            },
            Mark {
                x: expanded - 600,
                label: "gate: pass".into(),
            },
            Mark {
                x: expanded,
                label: "20 %".into(),
            },
        ],
    }
}
