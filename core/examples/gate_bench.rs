//! The canary gate's error rates on simulated fleets, for `make bench` (bench/gate.sh).
//! Synthetic cohorts (core/src/kpi/synthetic.rs: a 5 % candidate, the rest on the
//! baseline) are judged by the real judge (`judge::decide`, crash-free sessions only, the
//! default policy) at every 5-minute look of a window, and — on the very same numbers — by
//! the seed's fixed check (candidate crash rate > 0.5 % over the last hour, every 15 min).
//! A window counts as stopped when any look fails or warns (the fixed check: when any
//! look trips). Scenarios: healthy (0.3 % both), bad (3 % vs 0.3 %), subtle (0.6 % vs
//! 0.3 %), a fleet-wide outage (8 % for 30 min in both, healthy otherwise), and the issue's
//! reference (2,400 sessions an hour, 0.5 % both, 24 h).
//!
//! Usage: `cargo run --release -p airlock-core --example gate_bench -- [fleets [WINDOWS]]`
//! prints one JSON object per scenario and size on standard output; `history FILE` writes
//! 4 h of OpenMetrics for promtool, and `analyze URL [RUNS]` times the judge against a
//! Prometheus serving that history (bench/gate.sh does all three).

use airlock_core::kpi::judge::{self, KpiOutcome, Numbers, Outcome, Question};
use airlock_core::kpi::policy::KpiSettings;
use airlock_core::kpi::source::{Counter, Counts, Window};
use airlock_core::kpi::synthetic::Cohorts;
use airlock_protocol::time::Timestamp;
use std::time::Instant;

const SHARE: f64 = 0.05;
const LOOK_MIN: usize = 5;

struct Scenario {
    name: &'static str,
    crash: (f64, f64),
    spike: Option<(u32, u32, f64)>,
    hours: u32,
}

#[derive(Default)]
struct Tally {
    gate_stops: usize,
    gate_stop_hours: Vec<f64>,
    gate_passes: usize,
    gate_pass_hours: Vec<f64>,
    fixed_stops: usize,
    fixed_stop_hours: Vec<f64>,
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// Five-minute bins of (candidate sessions, crashed, baseline sessions, crashed).
fn bins(c: &Cohorts) -> Vec<[f64; 4]> {
    let (cand, base) = c.minutes();
    cand.chunks(LOOK_MIN)
        .zip(base.chunks(LOOK_MIN))
        .map(|(a, b)| {
            let sum = |m: &[airlock_core::kpi::synthetic::Minute],
                       f: fn(&airlock_core::kpi::synthetic::Minute) -> f64| {
                m.iter().map(f).sum::<f64>()
            };
            [
                sum(a, |m| m.sessions),
                sum(a, |m| m.crashed),
                sum(b, |m| m.sessions),
                sum(b, |m| m.crashed),
            ]
        })
        .collect()
}

fn run(s: &Scenario, candidate_per_hour: f64, windows: usize) -> Tally {
    let policy = KpiSettings {
        kpis: Some(vec!["crash-free".into()]),
        ..KpiSettings::default()
    }
    .policy("Production")
    .expect("the default policy");
    let start = Timestamp::parse("2026-11-01T00:00:00Z").unwrap();
    let mut t = Tally::default();
    for w in 0..windows {
        let c = Cohorts {
            minutes: s.hours * 60,
            sessions_per_hour: candidate_per_hour / SHARE,
            share: SHARE,
            crash_rate: s.crash,
            spike: s.spike,
            seed: 1_000_003 * (w as u64 + 1) + candidate_per_hour as u64,
            ..Cohorts::new("shop", "Production", "1.1.0", "1.0.0", start)
        };
        let b = bins(&c);
        let (mut gate_stopped, mut fixed_stopped) = (false, false);
        let (mut first_pass, mut last) = (None, Outcome::Inconclusive);
        for k in 1..=b.len() {
            let hours = (k * LOOK_MIN) as f64 / 60.0;
            if !gate_stopped {
                let col = |i: usize| b[..k].iter().map(|x| x[i]).collect::<Vec<f64>>();
                let counts = |ci: usize, bi: usize| -> Counts {
                    Counts::from([
                        ("1.1.0".to_string(), col(ci)),
                        ("1.0.0".to_string(), col(bi)),
                    ])
                };
                let numbers = Numbers {
                    counts: [
                        (Counter::Sessions, counts(0, 2)),
                        (Counter::CrashedSessions, counts(1, 3)),
                    ]
                    .into(),
                    ..Numbers::default()
                };
                let q = Question {
                    app: "shop".into(),
                    channel: "Production".into(),
                    candidate: "1.1.0".into(),
                    baseline: "1.0.0".into(),
                    window: Window::new(start, start.plus_seconds((k * LOOK_MIN * 60) as i64), 300)
                        .unwrap(),
                    rollout_share: Some(SHARE),
                    next_share: Some(0.2),
                };
                let v = judge::decide(&q, &policy, &numbers);
                let warned = v.kpis.iter().any(|x| x.verdict == KpiOutcome::Warn);
                last = v.verdict;
                if v.verdict == Outcome::Fail || warned {
                    gate_stopped = true;
                    t.gate_stops += 1;
                    t.gate_stop_hours.push(hours);
                } else if v.verdict == Outcome::Pass && first_pass.is_none() {
                    first_pass = Some(hours);
                }
            }
            // The seed's check: every 15 minutes, the last hour's candidate crash rate.
            if !fixed_stopped && k % 3 == 0 {
                let hour = &b[k.saturating_sub(12)..k];
                let (n, x) = hour
                    .iter()
                    .fold((0.0, 0.0), |(n, x), r| (n + r[0], x + r[1]));
                if n > 0.0 && x / n > 0.005 {
                    fixed_stopped = true;
                    t.fixed_stops += 1;
                    t.fixed_stop_hours.push(hours);
                }
            }
        }
        // A pass is acted on when the window is over: count the windows that end passing
        // (never stopped), and when they first passed.
        if !gate_stopped && last == Outcome::Pass {
            t.gate_passes += 1;
            t.gate_pass_hours.extend(first_pass);
        }
    }
    t
}

/// The numbers `analyze` is timed on: 4 h of a 10,000-session-an-hour candidate.
fn history_cohorts() -> Cohorts {
    let start = Timestamp::parse("2026-11-01T00:00:00Z").unwrap();
    Cohorts {
        minutes: 4 * 60,
        sessions_per_hour: 200_000.0,
        share: SHARE,
        seed: 5,
        ..Cohorts::new("shop", "Production", "1.1.0", "1.0.0", start)
    }
}

/// Times `runs` judgements of the 4-hour window against the Prometheus at `url`, with the
/// ten default KPIs in force (those without data answer inconclusive, as in production).
fn analyze(url: &str, runs: usize) {
    use airlock_core::kpi::policy::PrometheusSettings;
    use airlock_core::kpi::prometheus::PrometheusSource;
    let settings = PrometheusSettings {
        url: url.into(),
        auth: None,
        timeout_seconds: Some(30),
        matchers: None,
    };
    let source = PrometheusSource::new(&settings, &Default::default(), None).expect("a source");
    let c = history_cohorts();
    let q = Question {
        app: c.app.clone(),
        channel: c.channel.clone(),
        candidate: c.candidate.clone(),
        baseline: c.baseline.clone(),
        window: Window::new(c.start, c.start.plus_seconds(4 * 3600), 300).unwrap(),
        rollout_share: Some(SHARE),
        next_share: Some(0.2),
    };
    let policy = KpiSettings::default().policy("Production").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut times = Vec::new();
    let mut verdict = None;
    for _ in 0..runs {
        let t0 = Instant::now();
        let v = rt
            .block_on(judge::judge(&source, &q, &policy))
            .expect("the judge answers");
        times.push(t0.elapsed().as_secs_f64());
        verdict = Some(v);
    }
    let v = verdict.expect("at least one run");
    println!(
        "{}",
        serde_json::json!({
            "runs": runs,
            "median_seconds": median(&mut times),
            "kpis": v.kpis.len(),
            "queries": 14,
            "verdict": v.verdict,
        })
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("history") => {
            let path = args.next().expect("history FILE");
            std::fs::write(&path, history_cohorts().openmetrics()).expect("the history is written");
            return;
        }
        Some("analyze") => {
            let url = args.next().expect("analyze URL [RUNS]");
            analyze(
                &url,
                args.next().map_or(20, |n| n.parse().expect("a count")),
            );
            return;
        }
        Some("fleets") | None => {}
        Some(other) => {
            panic!("unknown mode {other:?}: fleets [WINDOWS] | history FILE | analyze URL [RUNS]")
        }
    }
    let windows: usize = args.next().map_or(200, |n| n.parse().expect("a count"));
    let sizes = [500.0, 2_000.0, 10_000.0, 50_000.0];
    let four = |name, crash, spike| Scenario {
        name,
        crash,
        spike,
        hours: 4,
    };
    let scenarios = [
        four("healthy", (0.003, 0.003), None),
        four("bad 3 % vs 0.3 %", (0.03, 0.003), None),
        four("subtle 0.6 % vs 0.3 %", (0.006, 0.003), None),
        four("fleet-wide outage", (0.003, 0.003), Some((60, 90, 0.08))),
    ];
    let mut runs: Vec<(&Scenario, f64)> = Vec::new();
    for s in &scenarios {
        for n in sizes {
            runs.push((s, n));
        }
    }
    let reference = Scenario {
        name: "issue reference: 0.5 % both, 24 h",
        crash: (0.005, 0.005),
        spike: None,
        hours: 24,
    };
    runs.push((&reference, 2_400.0 * SHARE));
    for (s, n) in runs {
        let t0 = Instant::now();
        let mut t = run(s, n, windows);
        let w = windows as f64;
        println!(
            "{}",
            serde_json::json!({
                "scenario": s.name,
                "window_hours": s.hours,
                "candidate_sessions_per_hour": n,
                "windows": windows,
                "gate_stopped": t.gate_stops as f64 / w,
                "gate_median_hours_to_stop": median(&mut t.gate_stop_hours),
                "gate_passed": t.gate_passes as f64 / w,
                "gate_median_hours_to_pass": median(&mut t.gate_pass_hours),
                "fixed_stopped": t.fixed_stops as f64 / w,
                "fixed_median_hours_to_stop": median(&mut t.fixed_stop_hours),
                "seconds": t0.elapsed().as_secs_f64(),
            })
        );
    }
}
