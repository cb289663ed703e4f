//! The canary judge through `Workspace::analyze`, on synthetic cohorts with known rates in
//! the in-memory KPI source (the same numbers the real-Prometheus test backfills): a healthy
//! release passes once its safety is shown, a ten-times-worse one fails critically, a spike
//! that hits both cohorts does not stop a rollout, too little data is inconclusive (never a
//! pass) and says how much more it needs, and broken telemetry is caught by the data guards.

mod common;

use airlock_core::ErrorKind;
use airlock_core::kpi::judge::{KpiOutcome, Outcome, Verdict};
use airlock_core::kpi::policy::{Kpi, KpiSettings};
use airlock_core::kpi::source::MemorySource;
use airlock_core::kpi::synthetic::Cohorts;
use airlock_core::ops::analyze::AnalyzeRequest;
use airlock_protocol::time::Timestamp;
use common::*;

fn env() -> Env {
    Env::with_config(|c| {
        c.kpi = Some(KpiSettings {
            kpis: Some(vec!["crash-free".into(), "install-time".into()]),
            ..KpiSettings::default()
        });
    })
}

fn cohorts(start: Timestamp, minutes: u32, sessions_per_hour: f64, crash: (f64, f64)) -> Cohorts {
    Cohorts {
        minutes,
        sessions_per_hour,
        crash_rate: crash,
        seed: 7,
        ..Cohorts::new(APP, PRODUCTION, "1.1.0", "1.0.0", start)
    }
}

fn request() -> AnalyzeRequest {
    AnalyzeRequest {
        app: APP.into(),
        channel: PRODUCTION.into(),
        ..AnalyzeRequest::default()
    }
}

/// 1.1.0 rolling out at 5 % since now; `c` played from then for its minutes, the clock moved
/// to its end; the default question's verdict.
async fn judged(env: &Env, c: impl FnOnce(Timestamp) -> Cohorts) -> Verdict {
    let ws = env.console().await;
    rolling_out_at_5_percent(&ws).await;
    let start = ws
        .load(APP)
        .await
        .unwrap()
        .channel(PRODUCTION)
        .rollout
        .unwrap()
        .step_started_at;
    let c = c(start);
    let source = MemorySource::default();
    c.fill(&source);
    env.clock.advance(i64::from(c.minutes) * 60);
    ws.analyze(&request(), &source)
        .await
        .expect("the judge answers")
}

fn kpi(v: &Verdict, k: Kpi) -> &airlock_core::kpi::judge::KpiVerdict {
    v.kpis
        .iter()
        .find(|x| x.kpi == k)
        .expect("the KPI is in force")
}

#[tokio::test]
async fn a_healthy_release_passes_once_safety_is_shown() {
    let env = env();
    let v = judged(&env, |s| cohorts(s, 4 * 60, 300_000.0, (0.003, 0.003))).await;
    assert_eq!(v.verdict, Outcome::Pass, "{}\n{:#?}", v.summary, v.kpis);
    assert_eq!(
        (v.candidate.as_str(), v.baseline.as_str()),
        ("1.1.0", "1.0.0"),
        "defaults: rollout vs current"
    );
    assert!(
        (v.hours - 4.0).abs() < 1e-9,
        "the window runs from the step's start to now"
    );
    let crash = kpi(&v, Kpi::CrashFree);
    assert!(crash.pass.as_ref().unwrap().shown && !crash.harm.as_ref().unwrap().shown);
    assert!(
        crash.reason.contains("crash-free sessions 99.") && crash.reason.ends_with(": pass"),
        "{}",
        crash.reason
    );
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["verdict"], "pass");
    assert_eq!(json["kpis"][0]["verdict"], "pass");
    assert!(json["kpis"][0]["candidate"]["exposure"].as_f64().unwrap() > 30_000.0);
}

#[tokio::test]
async fn ten_times_the_crash_rate_fails_critically_within_the_first_hour() {
    let env = env();
    // 20,000 sessions an hour, 1,000 of them the candidate's: 3 % crashes against 0.3 %.
    let v = judged(&env, |s| cohorts(s, 60, 20_000.0, (0.03, 0.003))).await;
    assert_eq!(v.verdict, Outcome::Fail, "{}", v.summary);
    let crash = kpi(&v, Kpi::CrashFree);
    assert_eq!(crash.verdict, KpiOutcome::Fail);
    assert!(
        crash.critical,
        "harm on a guardrail is critical: the rollout reverts"
    );
    assert!(
        crash
            .reason
            .contains("times the baseline's, shown beyond its boundary"),
        "{}",
        crash.reason
    );
    assert!(crash.ratio.unwrap() > 5.0);
}

#[tokio::test]
async fn a_spike_in_both_cohorts_does_not_stop_the_rollout() {
    let env = env();
    let v = judged(&env, |s| Cohorts {
        // A backend outage: 8 % of every session crashes for 20 minutes.
        spike: Some((60, 80, 0.08)),
        ..cohorts(s, 3 * 60, 40_000.0, (0.003, 0.003))
    })
    .await;
    let crash = kpi(&v, Kpi::CrashFree);
    assert!(
        !matches!(crash.verdict, KpiOutcome::Fail | KpiOutcome::Warn),
        "an outage that hits both cohorts is not the release's: {}",
        crash.reason
    );
    assert_ne!(v.verdict, Outcome::Fail);
}

#[tokio::test]
async fn too_little_data_is_inconclusive_and_says_how_much_more_it_needs() {
    let env = env();
    let v = judged(&env, |s| cohorts(s, 30, 2_400.0, (0.003, 0.003))).await;
    assert_eq!(
        v.verdict,
        Outcome::Inconclusive,
        "60 candidate sessions cannot show safety"
    );
    let crash = kpi(&v, Kpi::CrashFree);
    assert_eq!(crash.verdict, KpiOutcome::Inconclusive);
    assert!(
        crash.reason.contains("at the current traffic"),
        "{}",
        crash.reason
    );
    assert!(
        crash.reason.contains("at 20.0 %"),
        "the next step's estimate: {}",
        crash.reason
    );
    assert!(v.summary.contains("inconclusive"), "{}", v.summary);
}

#[tokio::test]
async fn an_empty_candidate_cohort_is_no_evidence() {
    let env = env();
    let ws = env.console().await;
    rolling_out_at_5_percent(&ws).await;
    let source = MemorySource::default();
    let mut c = cohorts(env.now(), 60, 20_000.0, (0.003, 0.003));
    c.candidate = "9.9.9".into(); // numbers for some other version only
    c.fill(&source);
    env.clock.advance(3600);
    let v = ws.analyze(&request(), &source).await.unwrap();
    assert_eq!(v.verdict, Outcome::Inconclusive);
    assert!(
        kpi(&v, Kpi::CrashFree).reason.contains("no data for 1.1.0"),
        "{}",
        kpi(&v, Kpi::CrashFree).reason
    );
    assert!(
        v.guards
            .iter()
            .any(|g| g.contains("no sessions reported for 1.1.0")),
        "{:?}",
        v.guards
    );
}

#[tokio::test]
async fn a_session_share_far_from_the_device_share_is_broken_telemetry() {
    let env = env();
    let ws = env.console().await;
    rolling_out_at_5_percent(&ws).await;
    let source = MemorySource::default();
    // The sessions say 30 % run the candidate; the devices (and the rollout) say 5 %.
    let c = Cohorts {
        share: 0.3,
        device_share: Some(0.05),
        ..cohorts(env.now(), 4 * 60, 200_000.0, (0.003, 0.003))
    };
    c.fill(&source);
    env.clock.advance(4 * 3600);
    let v = ws.analyze(&request(), &source).await.unwrap();
    assert_eq!(v.verdict, Outcome::Inconclusive, "{}", v.summary);
    assert!(
        v.guards
            .iter()
            .any(|g| g.contains("telemetry looks broken")),
        "{:?}",
        v.guards
    );
}

#[tokio::test]
async fn an_explicit_window_is_judged_as_given_even_before_the_rollout() {
    let env = env();
    let ws = env.console().await;
    rolling_out_at_5_percent(&ws).await;
    let source = MemorySource::default();
    // A backtest: numbers from a day before the rollout began.
    let from = env.now().plus_seconds(-24 * 3600);
    cohorts(from, 60, 20_000.0, (0.03, 0.003)).fill(&source);
    let req = AnalyzeRequest {
        from: Some(from),
        to: Some(from.plus_seconds(3600)),
        ..request()
    };
    let v = ws.analyze(&req, &source).await.unwrap();
    assert_eq!((v.from, v.to), (from, from.plus_seconds(3600)));
    assert_eq!(v.verdict, Outcome::Fail, "{}", v.summary);
}

#[tokio::test]
async fn questions_that_cannot_be_asked_say_why() {
    let env = env();
    let ws = env.console().await;
    with_approved_candidate(&ws).await; // no rollout yet
    let source = MemorySource::default();
    let (kind, e) = kind_of("no rollout", ws.analyze(&request(), &source).await);
    assert_eq!(kind, ErrorKind::InvalidInput);
    assert!(e.to_string().contains("--candidate"), "{e}");
    let same = AnalyzeRequest {
        candidate: Some("1.0.0".into()),
        ..request()
    };
    let (kind, _) = kind_of("against itself", ws.analyze(&same, &source).await);
    assert_eq!(kind, ErrorKind::InvalidInput);
    let unknown = AnalyzeRequest {
        candidate: Some("7.0.0".into()),
        from: Some(env.now()),
        ..request()
    };
    let (kind, _) = kind_of("unknown release", ws.analyze(&unknown, &source).await);
    assert_eq!(kind, ErrorKind::NotFound);
    let (kind, e) = kind_of("no source", ws.kpi_source().await.map(|_| ()));
    assert_eq!(kind, ErrorKind::Config);
    assert!(e.to_string().contains("[kpi.prometheus]"), "{e}");
}

#[tokio::test]
async fn a_counter_one_cohort_never_incremented_counts_as_zero_not_as_missing() {
    use airlock_core::kpi::source::Counter;
    let env = Env::with_config(|c| {
        c.kpi = Some(KpiSettings {
            kpis: Some(vec!["signature-failures".into()]),
            ..KpiSettings::default()
        });
    });
    let ws = env.console().await;
    rolling_out_at_5_percent(&ws).await;
    let source = MemorySource::default();
    let start = env.now();
    for m in 1..=60 {
        let at = start.plus_seconds(60 * m);
        source.add(Counter::Sessions, "1.1.0", at, 50.0);
        source.add(Counter::Sessions, "1.0.0", at, 950.0);
        source.add(Counter::Downloads, "1.1.0", at, 20.0);
        source.add(Counter::Downloads, "1.0.0", at, 380.0);
    }
    // Two signature failures on the candidate; the baseline has no such series at all.
    source.add(
        Counter::SignatureFailures,
        "1.1.0",
        start.plus_seconds(600),
        2.0,
    );
    env.clock.advance(3600);
    let v = ws.analyze(&request(), &source).await.unwrap();
    let k = kpi(&v, Kpi::SignatureFailures);
    assert_eq!(
        k.verdict,
        KpiOutcome::Warn,
        "any signature failure warns: {}",
        k.reason
    );
    assert_eq!(k.baseline.as_ref().unwrap().events, 0.0);
    // Neither cohort reporting the counter is missing data, not zero.
    let none = MemorySource::default();
    source_sessions_only(&none, start);
    let v = ws.analyze(&request(), &none).await.unwrap();
    assert!(
        kpi(&v, Kpi::SignatureFailures).reason.contains("no data"),
        "{}",
        kpi(&v, Kpi::SignatureFailures).reason
    );
}

fn source_sessions_only(s: &MemorySource, start: Timestamp) {
    use airlock_core::kpi::source::Counter;
    for m in 1..=60 {
        let at = start.plus_seconds(60 * m);
        s.add(Counter::Sessions, "1.1.0", at, 50.0);
        s.add(Counter::Sessions, "1.0.0", at, 950.0);
        s.add(Counter::Downloads, "1.1.0", at, 20.0);
        s.add(Counter::Downloads, "1.0.0", at, 380.0);
    }
}

#[tokio::test]
async fn a_kpi_with_no_events_says_when_its_bounds_will_show_safety() {
    // A boundary floor of 0.1 point (the default is 1 point): zero failures in 1,200
    // downloads cannot show it yet.
    let env = Env::with_config(|c| {
        c.kpi = Some(KpiSettings {
            kpis: Some(vec!["signature-failures".into()]),
            limits: [(
                "signature-failures".to_string(),
                airlock_core::kpi::policy::LimitsEdit {
                    tolerance: Some(0.001),
                    ..Default::default()
                },
            )]
            .into(),
            ..KpiSettings::default()
        });
    });
    let ws = env.console().await;
    rolling_out_at_5_percent(&ws).await;
    let source = MemorySource::default();
    source_sessions_only(&source, env.now());
    for v in ["1.1.0", "1.0.0"] {
        source.add(
            airlock_core::kpi::source::Counter::SignatureFailures,
            v,
            env.now().plus_seconds(60),
            0.0,
        );
    }
    env.clock.advance(3600);
    let v = ws.analyze(&request(), &source).await.unwrap();
    let k = kpi(&v, Kpi::SignatureFailures);
    assert_eq!(k.verdict, KpiOutcome::Inconclusive, "{}", k.reason);
    let h = k
        .needs_hours
        .expect("zero failures in both: the bounds will show safety in time");
    assert!(h > 1.0 && h < 24.0 * 30.0, "{h} h: {}", k.reason);
}

/// The fleet-wide exemption, on `judge::decide` directly: both cohorts at 1.5 % crashes
/// (beyond the 1 % warning) for four hours at 200,000 sessions an hour, with the baseline's
/// day before either within the limit (a spike during the rollout: not this release's) or
/// already past it (a baseline that drifted there: the candidate warns on its own bound, so
/// releases cannot each be a little worse than the last without a limit catching it).
#[test]
fn the_fleet_wide_exemption_holds_for_a_spike_not_for_a_baseline_already_past_the_limit() {
    use airlock_core::kpi::judge::{self, Numbers, Question, ROLLOUT_ALPHA};
    use airlock_core::kpi::source::{Counter, Counts, Window};
    let start = Timestamp::parse("2026-11-02T00:00:00Z").unwrap();
    let policy = KpiSettings {
        kpis: Some(vec!["crash-free".into()]),
        ..KpiSettings::default()
    }
    .policy("Production")
    .unwrap();
    let q = Question {
        app: APP.into(),
        channel: PRODUCTION.into(),
        candidate: "1.1.0".into(),
        baseline: "1.0.0".into(),
        window: Window::new(start, start.plus_seconds(4 * 3600), 300).unwrap(),
        rollout_share: Some(0.05),
        next_share: Some(0.2),
        alpha_share: ROLLOUT_ALPHA,
        holdout: false,
    };
    let prior = q.prior_window().expect("the day before");
    assert_eq!(
        prior.to, start,
        "the window before ends where the rollout starts"
    );
    assert_eq!(
        prior.bins(),
        288,
        "a whole day, however long the rollout so far"
    );
    let per_bin = 200_000.0 / 12.0;
    let series = |bins: usize, share: f64, rate: f64| -> (Vec<f64>, Vec<f64>) {
        let n = per_bin * share;
        (vec![n; bins], vec![n * rate; bins])
    };
    let numbers = |baseline_before: f64| {
        let (cn, cx) = series(48, 0.05, 0.015);
        let (bn, bx) = series(48, 0.95, 0.015);
        let (pn, px) = series(48, 1.0, baseline_before);
        let two = |c: Vec<f64>, b: Vec<f64>| -> Counts {
            [("1.1.0".to_string(), c), ("1.0.0".to_string(), b)].into()
        };
        let one = |b: Vec<f64>| -> Counts { [("1.0.0".to_string(), b)].into() };
        Numbers {
            counts: [
                (Counter::Sessions, two(cn, bn)),
                (Counter::CrashedSessions, two(cx, bx)),
            ]
            .into(),
            prior_counts: [
                (Counter::Sessions, one(pn)),
                (Counter::CrashedSessions, one(px)),
            ]
            .into(),
            ..Numbers::default()
        }
    };
    let spike = judge::decide(&q, &policy, &numbers(0.003));
    let crash = &spike.kpis[0];
    // The boundary comes from the day before (0.3 % + 0.1 point: 1.33×), not from the
    // rollout's bins (1.5 %: 1.2×).
    let boundary = crash.boundary.expect("fixed from the day before");
    assert!((boundary - 4.0 / 3.0).abs() < 1e-9, "{boundary}");
    assert_ne!(crash.verdict, KpiOutcome::Warn, "{}", crash.reason);
    assert_ne!(crash.verdict, KpiOutcome::Fail, "{}", crash.reason);
    assert!(
        crash.reason.contains("fleet-wide spike"),
        "{}",
        crash.reason
    );
    let drifted = judge::decide(&q, &policy, &numbers(0.015));
    let crash = &drifted.kpis[0];
    assert_eq!(crash.verdict, KpiOutcome::Warn, "{}", crash.reason);
    assert!(crash.reason.contains("warning limit"), "{}", crash.reason);
}
