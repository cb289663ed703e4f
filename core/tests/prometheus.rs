//! The KPI source against a real Prometheus (Debian's, started on 127.0.0.1 over a history
//! promtool backfilled from the same synthetic cohorts the in-memory tests use): its numbers
//! equal the in-memory source's bin by bin, its p95 equals `histogram_quantile()`'s, the
//! judge reaches the same verdict on both, a template of the wrong shape, invalid PromQL or
//! an unreachable server is an error that says which, and the watch loop on Prometheus's
//! numbers takes a good release to 100 % on its own and reverts a bad one at 5 %; a person
//! who expands or promotes before the gate has passed is told so, in the entry too.

mod common;
#[path = "support/prometheus.rs"]
mod prometheus_server;

use airlock_core::ErrorKind;
use airlock_core::kpi::histogram;
use airlock_core::kpi::judge::{self, Outcome, Question};
use airlock_core::kpi::policy::{KpiSettings, PrometheusSettings};
use airlock_core::kpi::prometheus::PrometheusSource;
use airlock_core::kpi::source::{Counter, KpiSource, Latency, MemorySource, Scope, Window};
use airlock_core::kpi::synthetic::Cohorts;
use airlock_protocol::time::Timestamp;
use prometheus_server::Prometheus;
use std::collections::BTreeMap;

fn t0() -> Timestamp {
    Timestamp::parse("2026-11-01T00:00:00Z").unwrap()
}

/// Three hours: healthy for two, then the candidate crashes ten times as often.
fn cohorts() -> Cohorts {
    Cohorts {
        minutes: 180,
        sessions_per_hour: 1_000_000.0,
        worse_from: Some((120, 0.03)),
        install_mean: (1.0, 1.2),
        seed: 11,
        ..Cohorts::new("shop", "Production", "1.1.0", "1.0.0", t0())
    }
}

fn settings(url: &str) -> PrometheusSettings {
    PrometheusSettings {
        url: url.into(),
        auth: None,
        timeout_seconds: Some(10),
        matchers: None,
    }
}

fn scope() -> Scope {
    Scope {
        app: "shop".into(),
        channel: "Production".into(),
        versions: vec!["1.1.0".into(), "1.0.0".into()],
        holdout: false,
    }
}

fn window(from_min: i64, to_min: i64) -> Window {
    Window::new(
        t0().plus_seconds(60 * from_min),
        t0().plus_seconds(60 * to_min),
        300,
    )
    .unwrap()
}

fn question(w: Window) -> Question {
    Question {
        app: "shop".into(),
        channel: "Production".into(),
        candidate: "1.1.0".into(),
        baseline: "1.0.0".into(),
        window: w,
        rollout_share: Some(0.05),
        next_share: Some(0.2),
        alpha_share: airlock_core::kpi::judge::ROLLOUT_ALPHA,
        holdout: false,
    }
}

#[tokio::test]
async fn prometheus_answers_what_the_memory_source_holds() {
    let c = cohorts();
    let prom = Prometheus::start(&c.openmetrics());
    let real = PrometheusSource::new(&settings(&prom.url), &BTreeMap::new(), None).unwrap();
    let memory = MemorySource::default();
    c.fill(&memory);
    let w = window(0, 180);
    for what in [Counter::Sessions, Counter::CrashedSessions] {
        let (a, b) = (
            real.counts(what, &scope(), &w).await.unwrap(),
            memory.counts(what, &scope(), &w).await.unwrap(),
        );
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        for (v, bins) in &a {
            assert_eq!(bins.len(), 36, "three hours in five-minute bins");
            for (i, (x, y)) in bins.iter().zip(&b[v]).enumerate() {
                assert!(
                    (x - y).abs() < 1e-9,
                    "{what:?} of {v}, bin {i}: Prometheus {x}, memory {y}"
                );
            }
        }
    }
    let (a, b) = (
        real.histograms(Latency::InstallDuration, &scope(), &w)
            .await
            .unwrap(),
        memory
            .histograms(Latency::InstallDuration, &scope(), &w)
            .await
            .unwrap(),
    );
    assert_eq!(a, b, "install-time buckets, bin by bin");
    // The p95 the verdict shows is the one Grafana would: histogram_quantile over the window.
    let ours = histogram::quantile(&histogram::sum(&a["1.0.0"]), 0.95).unwrap();
    let theirs = instant(
        &prom.url,
        "histogram_quantile(0.95, sum by (le) (increase(ota_install_duration_seconds_bucket{version=\"1.0.0\"}[3h])))",
        t0().plus_seconds(3 * 3600),
    )
    .await;
    assert!(
        (ours - theirs).abs() < 1e-9,
        "p95: ours {ours}, Prometheus {theirs}"
    );
    let devices = real
        .active_devices(&scope(), t0().plus_seconds(3 * 3600))
        .await
        .unwrap();
    assert_eq!(devices["1.1.0"], 50_000.0);
    assert_eq!(devices["1.0.0"], 950_000.0);
}

async fn instant(url: &str, query: &str, at: Timestamp) -> f64 {
    let bytes = reqwest::Client::new()
        .get(format!("{url}/api/v1/query"))
        .query(&[
            ("query", query.to_string()),
            ("time", at.unix().to_string()),
        ])
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    body["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no value for {query}: {body}"))
}

#[tokio::test]
async fn the_judge_reaches_the_same_verdict_on_prometheus_and_in_memory() {
    let c = cohorts();
    let prom = Prometheus::start(&c.openmetrics());
    let real = PrometheusSource::new(&settings(&prom.url), &BTreeMap::new(), None).unwrap();
    let memory = MemorySource::default();
    c.fill(&memory);
    let policy = KpiSettings {
        kpis: Some(vec!["crash-free".into(), "install-time".into()]),
        ..KpiSettings::default()
    }
    .policy("Production")
    .unwrap();
    for (w, want) in [
        (window(0, 120), Outcome::Pass),
        (window(120, 180), Outcome::Fail),
    ] {
        let a = judge::judge(&real, &question(w), &policy).await.unwrap();
        let b = judge::judge(&memory, &question(w), &policy).await.unwrap();
        assert_eq!(a.verdict, want, "{}", a.summary);
        assert_eq!(
            a, b,
            "the verdict is a function of the numbers, whichever source holds them"
        );
    }
}

#[tokio::test]
async fn wrong_templates_and_unreachable_servers_say_which() {
    let prom = Prometheus::start(&cohorts().openmetrics());
    let w = window(0, 60);
    let with = |name: &str, q: &str| {
        let queries = BTreeMap::from([(name.to_string(), q.to_string())]);
        PrometheusSource::new(&settings(&prom.url), &queries, None).unwrap()
    };
    let no_version = with(
        "sessions",
        "sum(increase(ota_sessions_total{$selector}[$step]))",
    );
    let e = no_version
        .counts(Counter::Sessions, &scope(), &w)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(
        e.to_string().contains("kpi.queries.sessions") && e.to_string().contains("`version`"),
        "{e}"
    );
    let broken = with("crashed-sessions", "sum by (version) (increase(");
    let e = broken
        .counts(Counter::CrashedSessions, &scope(), &w)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(
        e.to_string()
            .contains("kpi.queries.crashed-sessions is not valid PromQL"),
        "{e}"
    );
    let instant_vector = with(
        "sessions",
        "sum by (version) (ota_sessions_total{$selector})",
    );
    // An instant-vector template is a range query's matrix too: it is accepted as "the value
    // at each step", which is the team's choice; a scalar is not.
    let scalar = with("sessions", "scalar(sum(ota_sessions_total{$selector}))");
    assert!(
        instant_vector
            .counts(Counter::Sessions, &scope(), &w)
            .await
            .is_ok()
    );
    let e = scalar
        .counts(Counter::Sessions, &scope(), &w)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("kpi.queries.sessions answered"),
        "{e}"
    );
    drop(prom);
    let gone = PrometheusSource::new(
        &settings(&format!("http://127.0.0.1:{}", closed_port())),
        &BTreeMap::new(),
        None,
    )
    .unwrap();
    let e = gone
        .counts(Counter::Sessions, &scope(), &w)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Metrics);
    assert!(e.to_string().contains("cannot reach"), "{e}");
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The rollout's steps as the watcher will see them: `(share, hours)` phases from the
/// rollout's start (`common::START`, when `rolling_out_at_5_percent` promotes).
fn steps(phases: &[(f64, u32)], crash: (f64, f64)) -> String {
    let mut at = Timestamp::from_unix(common::START).unwrap();
    let mut all = Vec::new();
    for (i, (share, hours)) in phases.iter().enumerate() {
        let c = Cohorts {
            app: common::APP.into(),
            channel: common::PRODUCTION.into(),
            start: at,
            minutes: hours * 60,
            sessions_per_hour: 1_000_000.0,
            share: *share,
            crash_rate: crash,
            worse_from: None,
            seed: 100 + i as u64,
            ..cohorts()
        };
        at = at.plus_seconds(i64::from(*hours) * 3600);
        all.push(c);
    }
    airlock_core::kpi::synthetic::history(&all)
}

fn env_on(prom: &Prometheus) -> common::Env {
    let url = prom.url.clone();
    common::Env::with_config(move |c| {
        c.kpi = Some(KpiSettings {
            kpis: Some(vec!["crash-free".into()]),
            prometheus: Some(settings(&url)),
            ..KpiSettings::default()
        });
    })
}

#[tokio::test]
async fn the_loop_on_prometheus_takes_a_good_release_to_100_and_reverts_a_bad_one() {
    use airlock_core::ops::watch::WatchAction;
    // Good: 4 h at 5 %, then 2 h at 20 % and 2 h at 50 % (the protected channel's windows).
    let prom = Prometheus::start(&steps(&[(0.05, 4), (0.2, 2), (0.5, 2)], (0.003, 0.003)));
    let env = env_on(&prom);
    let ws = env.console().await;
    common::rolling_out_at_5_percent(&ws).await;
    let source = ws.kpi_source().await.unwrap();
    for (hours, after) in [(4, Some(2000)), (2, Some(5000)), (2, None)] {
        env.clock.advance(hours * 3600);
        let r = ws
            .watch_once("ana", source.as_ref(), None, None)
            .await
            .unwrap();
        assert_eq!(r[0].action, WatchAction::Expanded, "{r:?}\n{}", prom.log());
        let state = ws.load(common::APP).await.unwrap();
        assert_eq!(
            state
                .channel(common::PRODUCTION)
                .rollout
                .map(|r| r.basis_points),
            after
        );
    }
    let state = ws.load(common::APP).await.unwrap();
    assert_eq!(
        state.channel(common::PRODUCTION).current.as_deref(),
        Some("1.1.0")
    );

    // Bad: 3 % crashes against 0.3 %, reverted within the first hour at 5 %.
    let prom = Prometheus::start(&steps(&[(0.05, 1)], (0.03, 0.003)));
    let env = env_on(&prom);
    let ws = env.console().await;
    common::rolling_out_at_5_percent(&ws).await;
    env.clock.advance(3600);
    let r = ws
        .watch_once("ana", ws.kpi_source().await.unwrap().as_ref(), None, None)
        .await
        .unwrap();
    assert_eq!(r[0].action, WatchAction::Reverted, "{r:?}");
    let state = ws.load(common::APP).await.unwrap();
    assert!(state.channel(common::PRODUCTION).rollout.is_none());
    assert_eq!(
        state.channel(common::PRODUCTION).current.as_deref(),
        Some("1.0.0")
    );
}

#[tokio::test]
async fn a_person_may_expand_before_the_window_is_over_and_the_entry_says_so() {
    use airlock_core::log::Event;
    use airlock_core::ops::action::Action;
    let prom = Prometheus::start(&steps(&[(0.05, 1)], (0.003, 0.003)));
    let env = env_on(&prom);
    let ws = env.console().await;
    common::rolling_out_at_5_percent(&ws).await;
    env.clock.advance(3600);
    let expand = Action::Expand {
        app: common::APP.into(),
        channel: common::PRODUCTION.into(),
        percent: None,
    };
    let done = ws
        .perform(&common::by("ana"), &expand)
        .await
        .expect("allowed without --force");
    assert!(matches!(
        done.entry.entry.event,
        Event::Expanded {
            basis_points: 2000,
            ..
        }
    ));
    let reason = done.entry.entry.reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with("gate not passed yet: window 3 h left; verdict so far: "),
        "the entry records that the gate had not passed: {reason:?}"
    );
}

#[tokio::test]
async fn a_person_may_promote_before_staging_s_window_is_over_and_the_entry_says_so() {
    use airlock_core::log::Event;
    use airlock_core::ops::action::Action;
    let prom = Prometheus::start(&steps(&[(0.05, 1)], (0.003, 0.003)));
    let url = prom.url.clone();
    let env = common::Env::with_config(move |c| {
        let mut kpi = KpiSettings {
            kpis: Some(vec!["crash-free".into()]),
            prometheus: Some(settings(&url)),
            ..KpiSettings::default()
        };
        common::staging_promotes_to_production(&mut kpi);
        c.kpi = Some(kpi);
    });
    let ws = env.console().await;
    // 1.1.0 has been current in Staging for an hour of its 2-hour window.
    common::with_approved_candidate(&ws).await;
    env.clock.advance(3600);
    let promote = Action::Promote {
        app: common::APP.into(),
        from: common::STAGING.into(),
        to: common::PRODUCTION.into(),
        version: None,
        percent: None,
    };
    let done = ws
        .perform(&common::by("ana"), &promote)
        .await
        .expect("allowed without --force");
    assert!(matches!(
        done.entry.entry.event,
        Event::Promoted {
            basis_points: 500,
            ..
        }
    ));
    let reason = done.entry.entry.reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with("gate not passed yet: Staging's window 1 h left; verdict so far: "),
        "the entry records that the gate had not passed: {reason:?}"
    );
}

/// The benchmark's adversarial fleets (kpi/rollouts.rs) on a real Prometheus, through
/// `Workspace::analyze` and `watch_once` as `airlock analyze` and `airlock watch` run them:
/// each behaves as docs/KPIS.md says — a crash-looping device or counts three times as
/// variable as Poisson do not stop a healthy release; a counter series born at its first
/// crash (which `increase()` then misses) does not hide a tenfold regression; a tenfold
/// regression is reverted within the first hour; a candidate that loses most of its reports
/// for an hour is caught by a data guard, not passed.
#[tokio::test]
async fn adversarial_fleets_behave_on_a_real_prometheus_as_in_the_benchmark() {
    use airlock_core::kpi::rollouts::{self, Adversary, Fleet};
    use airlock_core::ops::analyze::AnalyzeRequest;
    use airlock_core::ops::watch::WatchAction;
    struct Case {
        name: &'static str,
        worse: f64,
        adversary: Adversary,
        hours: f64,
        stopped: bool,
    }
    let plain = Adversary::default();
    let cases = [
        Case {
            name: "a device crash-looping 20 times in an hour",
            worse: 1.0,
            adversary: Adversary {
                crash_loop: 20,
                ..plain
            },
            hours: 3.0,
            stopped: false,
        },
        Case {
            name: "counts three times as variable as Poisson",
            worse: 1.0,
            adversary: Adversary { phi: 3.0, ..plain },
            hours: 3.0,
            stopped: false,
        },
        Case {
            name: "a tenfold regression whose crash series is born at its first crash",
            worse: 10.0,
            adversary: Adversary {
                born_at_first_event: true,
                ..plain
            },
            hours: 1.0,
            stopped: true,
        },
        Case {
            name: "a tenfold regression",
            worse: 10.0,
            adversary: plain,
            hours: 1.0,
            stopped: true,
        },
    ];
    for (i, c) in cases.iter().enumerate() {
        let fleet = Fleet {
            candidate_per_hour: 10_000.0,
            worse: c.worse,
            adversary: c.adversary,
            horizon_hours: c.hours,
            look_bins: 3,
        };
        let start = Timestamp::from_unix(common::START).unwrap();
        let history = rollouts::openmetrics(
            &fleet,
            40 + i as u64,
            c.hours,
            start,
            common::APP,
            common::PRODUCTION,
        );
        let prom = Prometheus::start(&history);
        let env = env_on(&prom);
        let ws = env.console().await;
        common::rolling_out_at_5_percent(&ws).await;
        let source = ws.kpi_source().await.unwrap();
        env.clock.advance((c.hours * 3600.0) as i64);
        let req = AnalyzeRequest {
            app: common::APP.into(),
            channel: common::PRODUCTION.into(),
            ..AnalyzeRequest::default()
        };
        let v = ws.analyze(&req, source.as_ref()).await.unwrap();
        assert_eq!(
            v.verdict == Outcome::Fail,
            c.stopped,
            "{}: {}\n{}",
            c.name,
            v.summary,
            prom.log()
        );
        let r = ws
            .watch_once("ana", source.as_ref(), None, None)
            .await
            .unwrap();
        let want = if c.stopped {
            WatchAction::Reverted
        } else {
            WatchAction::Waiting
        };
        assert_eq!(r[0].action, want, "{}: {r:?}", c.name);
    }
}

/// A candidate that loses 60 % of its reports for an hour: the data guard keeps the verdict
/// from passing while its share of the last hour's sessions is far from its rollout share.
#[tokio::test]
async fn lost_telemetry_for_one_cohort_is_caught_by_a_data_guard() {
    use airlock_core::kpi::rollouts::{self, Adversary, Fleet};
    use airlock_core::ops::analyze::AnalyzeRequest;
    let fleet = Fleet {
        candidate_per_hour: 10_000.0,
        worse: 1.0,
        adversary: Adversary {
            lost_share: 0.6,
            ..Adversary::default()
        },
        horizon_hours: 3.0,
        look_bins: 3,
    };
    let start = Timestamp::from_unix(common::START).unwrap();
    let prom = Prometheus::start(&rollouts::openmetrics(
        &fleet,
        7,
        3.0,
        start,
        common::APP,
        common::PRODUCTION,
    ));
    let env = env_on(&prom);
    let ws = env.console().await;
    common::rolling_out_at_5_percent(&ws).await;
    let source = ws.kpi_source().await.unwrap();
    env.clock.advance(3 * 3600);
    let req = AnalyzeRequest {
        app: common::APP.into(),
        channel: common::PRODUCTION.into(),
        ..AnalyzeRequest::default()
    };
    let v = ws.analyze(&req, source.as_ref()).await.unwrap();
    assert_ne!(v.verdict, Outcome::Pass, "{}", v.summary);
    assert!(
        v.guards
            .iter()
            .any(|g| g.contains("of the last hour's sessions")),
        "{:?}",
        v.guards
    );
}
