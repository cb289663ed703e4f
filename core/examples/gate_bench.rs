//! The canary gate's error rates on whole rollouts, for `make bench` (bench/gate.sh).
//! Rollouts on simulated fleets (core/src/kpi/rollouts.rs: 5 → 20 → 50 → 100 %, windows of
//! 4, 2 and 2 hours, the default ten KPIs in force, a look every 15 minutes from the
//! rollout's start (every 30 after four hours), followed past the window as `watch` does,
//! up to 24 hours) are judged
//! by the real judge (`judge::decide`); beside it, on the same numbers, the seed's fixed
//! check, a Kayenta-style Mann–Whitney judge, a Capgo-style Wilson bound and a
//! fixed-horizon test at the end of the first window.
//!
//! Usage: `cargo run --release -p airlock-core --example gate_bench -- [rollouts [N]]`
//! prints one JSON object per row on standard output (two threads); `history FILE` writes
//! 4 h of OpenMetrics for promtool, and `analyze URL [RUNS]` times the judge against a
//! Prometheus serving that history (bench/gate.sh does all three).

use airlock_core::kpi::judge::{self, Question};
use airlock_core::kpi::policy::{GatePolicy, KpiSettings, Measure};
use airlock_core::kpi::rollouts::{self, Adversary, End, Fleet, Reports};
use airlock_core::kpi::source::Window;
use airlock_core::kpi::synthetic::Cohorts;
use airlock_protocol::time::Timestamp;
use std::time::Instant;

const SHARE: f64 = 0.05;

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

struct Row {
    scenario: String,
    worse: f64,
    per_hour: f64,
    adversary: Adversary,
    rollouts: usize,
}

fn row(r: &Row) -> serde_json::Value {
    let t0 = Instant::now();
    let policy = rollouts::default_policy();
    let fleet = Fleet {
        candidate_per_hour: r.per_hour,
        worse: r.worse,
        adversary: r.adversary,
        horizon_hours: 24.0,
        look_bins: 3,
    };
    let seeds: Vec<u64> = (0..r.rollouts as u64).collect();
    let ran: Vec<rollouts::Ran> = std::thread::scope(|s| {
        let halves: Vec<_> = seeds
            .chunks(seeds.len().div_ceil(2).max(1))
            .map(|chunk| {
                let policy = &policy;
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|seed| rollouts::run(&fleet, policy, *seed * 7919 + r.per_hour as u64))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        halves
            .into_iter()
            .flat_map(|h| h.join().expect("a thread"))
            .collect()
    });
    let n = ran.len();
    let count = |f: &dyn Fn(&rollouts::Ran) -> bool| ran.iter().filter(|x| f(x)).count();
    let stopped = count(&|x| x.end == End::Stopped);
    let passed = count(&|x| x.end == End::Passed);
    let first_quarter = count(&|x| x.end == End::Stopped && x.step == 0 && x.hours <= 1.0);
    let first_window = count(&|x| x.end == End::Stopped && x.step == 0 && x.hours <= 4.0);
    let mut stop_hours: Vec<f64> = ran
        .iter()
        .filter(|x| x.end == End::Stopped)
        .map(|x| x.hours)
        .collect();
    let mut pass_hours: Vec<f64> = ran
        .iter()
        .filter(|x| x.end == End::Passed)
        .map(|x| x.hours)
        .collect();
    let mut by: std::collections::BTreeMap<String, usize> = Default::default();
    let mut waiting: std::collections::BTreeMap<String, usize> = Default::default();
    for x in &ran {
        if let Some(k) = x.stopped_by {
            *by.entry(k.key().to_string()).or_default() += 1;
        }
        if x.end == End::Undecided {
            for k in &x.waiting_on {
                *waiting.entry(k.key().to_string()).or_default() += 1;
            }
        }
    }
    serde_json::json!({
        "scenario": r.scenario,
        "worse": r.worse,
        "candidate_sessions_per_hour": r.per_hour,
        "rollouts": n,
        "stopped": stopped as f64 / n as f64,
        "stopped_upper_95": rollouts::upper_95(stopped, n),
        "stopped_in_first_hour": first_quarter as f64 / n as f64,
        "stopped_in_first_window": first_window as f64 / n as f64,
        "median_hours_to_stop": median(&mut stop_hours),
        "passed": passed as f64 / n as f64,
        "passed_upper_95": rollouts::upper_95(passed, n),
        "median_hours_to_pass": median(&mut pass_hours),
        "undecided": (n - stopped - passed) as f64 / n as f64,
        "stopped_by": by,
        "undecided_waiting_on": waiting,
        "fixed_horizon_stopped": count(&|x| x.fixed_horizon_stop) as f64 / n as f64,
        "seed_check_stopped": count(&|x| x.fixed_check.is_some()) as f64 / n as f64,
        "mann_whitney_stopped": count(&|x| x.mann_whitney.is_some()) as f64 / n as f64,
        "wilson_stopped": count(&|x| x.wilson.is_some()) as f64 / n as f64,
        "seconds": t0.elapsed().as_secs_f64(),
    })
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
        alpha_share: judge::ROLLOUT_ALPHA,
        holdout: false,
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
            "queries": queries(&policy),
            "verdict": v.verdict,
        })
    );
}

/// The PromQL queries one `judge` makes under `policy`: each counter and histogram over the
/// window, each rate's counters and each histogram over the day before, active devices.
fn queries(policy: &GatePolicy) -> usize {
    let (counters, latencies) = judge::reads(policy, &[]);
    let judged = counters
        .iter()
        .filter(|c| {
            policy.kpis.iter().any(|(k, _)| {
                matches!(k.measure(), Measure::Rate { events, exposure, .. } if events == **c || exposure == **c)
            })
        })
        .count();
    counters.len() + judged + 2 * latencies.len() + 1
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
        Some("rollouts") | None => {}
        Some(other) => {
            panic!("unknown mode {other:?}: rollouts [N] | history FILE | analyze URL [RUNS]")
        }
    }
    let healthy_n: usize = args.next().map_or(600, |n| n.parse().expect("a count"));
    // GATE_ROWS: only the rows whose scenario contains it; GATE_PER_HOUR: only that traffic.
    let only = std::env::var("GATE_ROWS").unwrap_or_default();
    let per_hour_only: Option<f64> = std::env::var("GATE_PER_HOUR")
        .ok()
        .map(|v| v.parse().expect("GATE_PER_HOUR is a number"));
    let edge = rollouts::crash_boundary(&rollouts::default_policy());
    let sizes = [500.0, 2_000.0, 10_000.0, 50_000.0];
    let plain = Adversary::default();
    let mut rows = Vec::new();
    for per_hour in sizes {
        rows.push(Row {
            scenario: "healthy (1.0×)".into(),
            worse: 1.0,
            per_hour,
            adversary: plain,
            rollouts: healthy_n,
        });
        rows.push(Row {
            scenario: format!("edge of the null ({edge:.2}×)"),
            worse: edge,
            per_hour,
            adversary: plain,
            rollouts: healthy_n,
        });
        for worse in [1.3, 1.4, 1.5, 2.0, 10.0] {
            rows.push(Row {
                scenario: format!("{worse}× worse"),
                worse,
                per_hour,
                adversary: plain,
                rollouts: healthy_n / 3,
            });
        }
    }
    let adversaries: [(&str, f64, Adversary); 12] = [
        ("overdispersed φ = 2", 1.0, Adversary { phi: 2.0, ..plain }),
        ("overdispersed φ = 3", 1.0, Adversary { phi: 3.0, ..plain }),
        (
            "a device crash-looping 10× in an hour",
            1.0,
            Adversary {
                crash_loop: 10,
                ..plain
            },
        ),
        (
            "a device crash-looping 20× in an hour",
            1.0,
            Adversary {
                crash_loop: 20,
                ..plain
            },
        ),
        (
            "diurnal cycle",
            1.0,
            Adversary {
                diurnal: true,
                ..plain
            },
        ),
        (
            "adoption ramp from 0 over 2 h",
            1.0,
            Adversary {
                ramp_hours: 2.0,
                ..plain
            },
        ),
        (
            "next-launch reports, settled (contract)",
            1.0,
            Adversary {
                reports: Reports::Settled,
                ..plain
            },
        ),
        (
            "next-launch reports at report time, 2× worse",
            2.0,
            Adversary {
                reports: Reports::AtReport,
                ..plain
            },
        ),
        (
            "next-launch reports settled, 2× worse",
            2.0,
            Adversary {
                reports: Reports::Settled,
                ..plain
            },
        ),
        (
            "baseline drifting +50 %/day",
            1.0,
            Adversary {
                drift_per_day: 0.5,
                ..plain
            },
        ),
        (
            "counter born at its first event",
            1.0,
            Adversary {
                born_at_first_event: true,
                ..plain
            },
        ),
        (
            "candidate loses 60 % of reports for an hour",
            1.0,
            Adversary {
                lost_share: 0.6,
                ..plain
            },
        ),
    ];
    for per_hour in [2_000.0, 10_000.0] {
        for (name, worse, adversary) in adversaries {
            rows.push(Row {
                scenario: name.into(),
                worse,
                per_hour,
                adversary,
                rollouts: healthy_n / 2,
            });
        }
    }
    // A fleet-wide outage (both cohorts ten times as many crashes and errors) for the first
    // hour of the 50 % step: only where healthy rollouts reach that step within the horizon.
    for per_hour in [10_000.0, 50_000.0] {
        rows.push(Row {
            scenario: "fleet-wide outage 10× for an hour at 50 %".into(),
            worse: 1.0,
            per_hour,
            adversary: Adversary {
                spike_at_half: 10.0,
                ..plain
            },
            rollouts: healthy_n / 2,
        });
    }
    // The crash loop at 500 sessions an hour: raw, and counted as the contract says.
    for (name, capped) in [
        ("a device crash-looping 10× in an hour", false),
        (
            "a device crash-looping 10× in an hour, capped per the contract",
            true,
        ),
    ] {
        rows.push(Row {
            scenario: name.into(),
            worse: 1.0,
            per_hour: 500.0,
            adversary: Adversary {
                crash_loop: 10,
                capped,
                ..plain
            },
            rollouts: healthy_n / 2,
        });
    }
    for r in rows
        .iter()
        .filter(|r| only.is_empty() || r.scenario.contains(&only))
        .filter(|r| per_hour_only.is_none_or(|p| r.per_hour == p))
    {
        println!("{}", row(r));
    }
}
