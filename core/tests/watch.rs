//! The watch loop on synthetic cohorts in the in-memory KPI source: a healthy release goes
//! from 5 % through 20 and 50 to 100 % on its own, each step only once its observation
//! window is over; a ten-times-worse one is reverted at 5 % with a `gateFailed` entry; two
//! watchers on one store (each with its own registry, judging at once) log each decision
//! once and act once; a person's pause is left alone.

mod common;

use airlock_core::Workspace;
use airlock_core::kpi::policy::KpiSettings;
use airlock_core::kpi::source::MemorySource;
use airlock_core::kpi::synthetic::Cohorts;
use airlock_core::log::Event;
use airlock_core::ops::watch::WatchAction;
use common::*;

fn env() -> Env {
    Env::with_config(|c| {
        c.kpi = Some(KpiSettings {
            kpis: Some(vec!["crash-free".into()]),
            ..KpiSettings::default()
        });
    })
}

/// Plays `minutes` of cohorts from now at the rollout's current share into `source`, and
/// moves the clock to their end.
async fn play(
    env: &Env,
    ws: &Workspace,
    source: &MemorySource,
    minutes: u32,
    crash: (f64, f64),
    seed: u64,
) {
    let r = ws
        .load(APP)
        .await
        .unwrap()
        .channel(PRODUCTION)
        .rollout
        .expect("a rollout");
    Cohorts {
        minutes,
        sessions_per_hour: 1_000_000.0,
        share: f64::from(r.basis_points) / 10_000.0,
        crash_rate: crash,
        seed,
        ..Cohorts::new(APP, PRODUCTION, &r.version, "1.0.0", env.now())
    }
    .fill(source);
    env.clock.advance(i64::from(minutes) * 60);
}

fn gate_entries(entries: &[airlock_core::log::reader::StoredEntry]) -> Vec<(String, u32, String)> {
    entries
        .iter()
        .filter_map(|s| match s.entry.event {
            Event::GatePassed { basis_points, .. } => {
                Some(("passed".into(), basis_points, s.entry.actor.clone()))
            }
            Event::GateFailed { basis_points, .. } => {
                Some(("failed".into(), basis_points, s.entry.actor.clone()))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_healthy_release_goes_to_100_percent_on_its_own_step_by_step() {
    let env = env();
    let ws = env.console().await;
    rolling_out_at_5_percent(&ws).await;
    let source = MemorySource::default();
    // The first production step is watched for 4 hours, the later ones for 2.
    for (bp, hours, next) in [(500u32, 4u32, 2000u32), (2000, 2, 5000), (5000, 2, 10_000)] {
        play(
            &env,
            &ws,
            &source,
            hours * 60 - 30,
            (0.003, 0.003),
            u64::from(bp),
        )
        .await;
        let early = ws.watch_once("ana", &source, None, None).await.unwrap();
        assert_eq!(early.len(), 1);
        assert_eq!(
            early[0].action,
            WatchAction::Waiting,
            "half an hour of the window is left: {early:?}"
        );
        assert!(
            early[0].detail.contains("30 min left"),
            "{}",
            early[0].detail
        );
        play(&env, &ws, &source, 30, (0.003, 0.003), u64::from(bp) + 1).await;
        let done = ws.watch_once("ana", &source, None, None).await.unwrap();
        assert_eq!(done[0].action, WatchAction::Expanded, "at {bp}: {done:?}");
        let state = ws.load(APP).await.unwrap();
        match state.channel(PRODUCTION).rollout {
            Some(r) => assert_eq!(r.basis_points, next),
            None => assert_eq!(next, 10_000, "only 100 % completes the rollout"),
        }
    }
    let state = ws.load(APP).await.unwrap();
    assert_eq!(
        state.channel(PRODUCTION).current.as_deref(),
        Some("1.1.0"),
        "1.1.0 is current at 100 %"
    );
    let log = ws.history(APP).await.unwrap();
    assert_eq!(
        gate_entries(&log),
        [500, 2000, 5000].map(|bp| ("passed".to_string(), bp, "gate:ana".to_string())),
        "one gatePassed per step, by the gate"
    );
    assert!(
        ws.watch_once("ana", &source, None, None)
            .await
            .unwrap()
            .is_empty(),
        "nothing left to watch"
    );
}

#[tokio::test]
async fn ten_times_the_crashes_is_reverted_at_5_percent() {
    let env = env();
    let ws = env.console().await;
    rolling_out_at_5_percent(&ws).await;
    let source = MemorySource::default();
    play(&env, &ws, &source, 60, (0.03, 0.003), 9).await;
    let r = ws
        .watch_once("ana", &source, Some(APP), Some(PRODUCTION))
        .await
        .unwrap();
    assert_eq!(r[0].action, WatchAction::Reverted, "{r:?}");
    assert!(r[0].detail.contains("crash"), "{}", r[0].detail);
    let state = ws.load(APP).await.unwrap();
    assert!(
        state.channel(PRODUCTION).rollout.is_none(),
        "reverted: no rollout"
    );
    assert_eq!(state.channel(PRODUCTION).current.as_deref(), Some("1.0.0"));
    let log = ws.history(APP).await.unwrap();
    let failed = log
        .iter()
        .find(|s| matches!(s.entry.event, Event::GateFailed { .. }))
        .expect("a gateFailed entry");
    let Event::GateFailed {
        critical, verdict, ..
    } = &failed.entry.event
    else {
        unreachable!()
    };
    assert!(*critical);
    assert_eq!(verdict.kpis[0].kpi, "crash-free");
    assert!(
        verdict.kpis[0].candidate_events > 0 && verdict.kpis[0].baseline_exposure > 0,
        "the numbers ride along"
    );
    let reverted = log
        .iter()
        .find(|s| matches!(s.entry.event, Event::Reverted { .. }))
        .expect("a reverted entry (an incident's entries may follow it)");
    assert_eq!(reverted.entry.actor, "gate:ana");
}

#[tokio::test]
async fn two_watchers_take_each_decision_once() {
    let env = env();
    let (a, b) = (env.console().await, env.console().await);
    rolling_out_at_5_percent(&a).await;
    let source = MemorySource::default();
    play(&env, &a, &source, 4 * 60, (0.003, 0.003), 21).await;
    let (ra, rb) = tokio::join!(
        a.watch_once("ana", &source, None, None),
        b.watch_once("ci", &source, None, None)
    );
    let actions = [ra.unwrap()[0].action, rb.unwrap()[0].action];
    // One expands; the other either finds the decision taken (it judged the same step) or,
    // if it first read the log after the expansion, sees a step that has just begun.
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == WatchAction::Expanded)
            .count(),
        1,
        "exactly one watcher expands: {actions:?}"
    );
    assert!(
        actions.iter().all(|a| matches!(
            a,
            WatchAction::Expanded | WatchAction::AlreadyDone | WatchAction::Waiting
        )),
        "{actions:?}"
    );
    // Both watchers again, on the same numbers: the step they judged is gone, nothing more.
    let again = b.watch_once("ci", &source, None, None).await.unwrap();
    assert_eq!(
        again[0].action,
        WatchAction::Waiting,
        "the new step's window has just begun: {again:?}"
    );
    let log = a.history(APP).await.unwrap();
    assert_eq!(gate_entries(&log).len(), 1, "one gatePassed");
    let expansions = log
        .iter()
        .filter(|s| matches!(s.entry.event, Event::Expanded { .. }))
        .count();
    assert_eq!(expansions, 1, "one expansion");
}

#[tokio::test]
async fn a_person_s_pause_is_left_alone() {
    let env = env();
    let ws = env.console().await;
    rolling_out_at_5_percent(&ws).await;
    let source = MemorySource::default();
    play(&env, &ws, &source, 4 * 60, (0.003, 0.003), 33).await;
    ws.pause(&by("ben"), APP, PRODUCTION).await.unwrap();
    let r = ws.watch_once("ana", &source, None, None).await.unwrap();
    assert_eq!(r[0].action, WatchAction::LeftAlone);
    let state = ws.load(APP).await.unwrap();
    let rollout = state.channel(PRODUCTION).rollout.unwrap();
    assert!(
        rollout.paused && rollout.basis_points == 500,
        "still paused at 5 %"
    );
    assert!(
        gate_entries(&ws.history(APP).await.unwrap()).is_empty(),
        "no verdict logged"
    );
}

#[tokio::test]
async fn a_pause_made_while_the_gate_judges_wins_over_its_verdict() {
    let env = env();
    let (ws, other) = (env.console().await, env.console().await);
    rolling_out_at_5_percent(&ws).await;
    let inner = MemorySource::default();
    play(&env, &ws, &inner, 60, (0.03, 0.003), 41).await;
    let source = Meanwhile::new(
        inner,
        Box::new(|| {
            Box::pin(async {
                other
                    .pause(&by("ben"), APP, PRODUCTION)
                    .await
                    .expect("ben pauses");
            })
        }),
    );
    let r = ws.watch_once("ana", &source, None, None).await.unwrap();
    assert_eq!(
        r[0].action,
        WatchAction::AlreadyDone,
        "the stale verdict is not acted on: {r:?}"
    );
    let state = ws.load(APP).await.unwrap();
    let rollout = state.channel(PRODUCTION).rollout.expect("not reverted");
    assert!(rollout.paused, "ben's pause stands");
    assert!(
        gate_entries(&ws.history(APP).await.unwrap()).is_empty(),
        "no verdict logged"
    );
}

#[tokio::test]
async fn one_rollout_that_cannot_be_judged_does_not_stop_the_others() {
    let env = env();
    let ws = env.console().await;
    rolling_out_at_5_percent(&ws).await;
    // A first rollout of another app into Production: no current release to compare with.
    release(&ws, "ana", "wallet", "0.1.0").await.unwrap();
    ws.approve(&by("ben"), "wallet", "0.1.0", PRODUCTION)
        .await
        .unwrap();
    let mut first = promotion("0.1.0", None);
    first.app = "wallet".into();
    ws.promote(&by("ana"), &first).await.unwrap();
    let source = MemorySource::default();
    play(&env, &ws, &source, 60, (0.03, 0.003), 43).await;
    let r = ws.watch_once("ana", &source, None, None).await.unwrap();
    let of = |app: &str| r.iter().find(|x| x.app == app).expect("reported").action;
    assert_eq!(of("wallet"), WatchAction::Error, "{r:?}");
    assert_eq!(
        of(APP),
        WatchAction::Reverted,
        "the bad rollout is still reverted: {r:?}"
    );
}

/// Adoption and update checks are reported with warnings, and stop nothing: 1.1.0 on 10 %
/// of the active devices an hour after it reached 100 % (target 20 %), and 5 % of the day's
/// update checks failing (target under 1 %).
#[tokio::test]
async fn slow_adoption_and_failing_update_checks_are_warned_about() {
    let env = env();
    let ws = env.console().await;
    ship(&ws, "1.0.0").await;
    ship(&ws, "1.1.0").await;
    let source = MemorySource::of(APP, PRODUCTION);
    for minute in 1..=90 {
        let at = env.now().plus_seconds(60 * minute);
        source.set_active("1.1.0", at, 10.0);
        source.set_active("1.0.0", at, 90.0);
        source.add_update_checks(at, 100.0, 5.0);
    }
    env.clock.advance(90 * 60);
    let a = ws.adoption(APP, PRODUCTION, &source).await.unwrap();
    assert_eq!(a.version.as_deref(), Some("1.1.0"));
    let first = &a.milestones[0];
    assert_eq!(first.met, Some(false), "{a:?}");
    assert!((first.share.unwrap() - 0.1).abs() < 1e-9);
    assert_eq!(a.milestones[1].met, None, "not 24 h yet");
    let checks = a.update_checks.as_ref().expect("update checks");
    assert_eq!(
        (checks.checks, checks.failed, checks.met),
        (9000.0, 450.0, false)
    );
    assert_eq!(a.warnings.len(), 2, "{:?}", a.warnings);
    assert!(
        a.warnings[0].contains("below the 20.0 % target"),
        "{}",
        a.warnings[0]
    );
    assert!(
        a.warnings[1].contains("update checks failed"),
        "{}",
        a.warnings[1]
    );
    // Warnings only: the loop acts on nothing.
    let r = ws.watch_once("ana", &source, None, None).await.unwrap();
    assert!(r.iter().all(|x| x.action == WatchAction::Waiting), "{r:?}");
}

#[tokio::test]
async fn a_release_no_device_runs_is_adopted_by_nobody_not_unknown() {
    let env = env();
    let ws = env.console().await;
    ship(&ws, "1.0.0").await;
    ship(&ws, "1.1.0").await;
    let source = MemorySource::of(APP, PRODUCTION);
    for minute in 1..=90 {
        // Every active device still reports 1.0.0.
        source.set_active("1.0.0", env.now().plus_seconds(60 * minute), 90.0);
    }
    env.clock.advance(90 * 60);
    let a = ws.adoption(APP, PRODUCTION, &source).await.unwrap();
    let first = &a.milestones[0];
    assert_eq!((first.share, first.met), (Some(0.0), Some(false)), "{a:?}");
    assert!(a.warnings[0].contains("below the 20.0 % target"), "{a:?}");
}
