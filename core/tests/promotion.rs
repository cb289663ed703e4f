//! The gate's promotion out of a channel that feeds another (`promote-to`), on synthetic
//! cohorts in the in-memory KPI source: a release shown safe in Staging over Staging's
//! window is promoted to Production's first step by the gate (a `currentPassed`, then
//! `promoted`), once its approval is there; before the window is over, or
//! without evidence of safety, it waits; a bad one is not promoted; two watchers promote
//! once; a person who promoted it meanwhile wins over a stale verdict.

mod common;

use airlock_core::kpi::policy::KpiSettings;
use airlock_core::kpi::source::MemorySource;
use airlock_core::kpi::synthetic::Cohorts;
use airlock_core::log::Event;
use airlock_core::ops::action::Action;
use airlock_core::ops::watch::{Subject, WatchAction, WatchReport};
use airlock_core::{ErrorKind, Expectation};
use common::*;

fn env() -> Env {
    Env::with_config(|c| {
        let mut kpi = KpiSettings {
            kpis: Some(vec!["crash-free".into()]),
            ..KpiSettings::default()
        };
        staging_promotes_to_production(&mut kpi);
        c.kpi = Some(kpi);
        // Its testers split 60/40 by the holdout, so the numbers below are its two groups.
        c.channels.get_mut(STAGING).unwrap().holdout = 40.0;
    })
}

/// `minutes` of Staging from now: 1.1.0 on 60 % of its 300,000 sessions an hour (the rest
/// the holdout's, on 1.0.0), crashing at `crash.0` against `crash.1`; the clock moves to
/// their end.
fn play(env: &Env, source: &MemorySource, minutes: u32, crash: (f64, f64), seed: u64) {
    Cohorts {
        minutes,
        sessions_per_hour: 300_000.0,
        share: 0.6,
        crash_rate: crash,
        seed,
        held: true,
        ..Cohorts::new(APP, STAGING, "1.1.0", "1.0.0", env.now())
    }
    .fill(source);
    env.clock.advance(i64::from(minutes) * 60);
}

/// 1.0.0 everywhere; 1.1.0 released into Staging now (current there), not approved yet.
async fn in_staging(ws: &airlock_core::Workspace) {
    ship(ws, "1.0.0").await;
    release(ws, "ana", APP, "1.1.0")
        .await
        .expect("1.1.0 is released");
}

/// As [`in_staging`], and ben has approved 1.1.0 for Production.
async fn approved_in_staging(ws: &airlock_core::Workspace) {
    in_staging(ws).await;
    ws.approve(&by("ben"), APP, "1.1.0", PRODUCTION)
        .await
        .expect("ben approves ana's release");
}

/// A console on a fresh store with 1.1.0 in Staging (approved for Production when
/// `approved`), and an empty in-memory KPI source.
async fn staged(approved: bool) -> (Env, airlock_core::Workspace, MemorySource) {
    let env = env();
    let ws = env.console().await;
    if approved {
        approved_in_staging(&ws).await;
    } else {
        in_staging(&ws).await;
    }
    (env, ws, MemorySource::default())
}

fn promotion(r: &[WatchReport]) -> &WatchReport {
    r.iter()
        .find(|x| x.subject == Subject::Promotion)
        .unwrap_or_else(|| panic!("Staging's current release was judged for promotion: {r:?}"))
}

#[tokio::test]
async fn a_release_shown_safe_in_staging_is_promoted_to_production_once_approved() {
    let (env, ws, source) = staged(false).await;
    play(&env, &source, 90, (0.003, 0.003), 1);
    let r = ws.watch_once("ana", &source, None, None).await.unwrap();
    let p = promotion(&r);
    assert_eq!((p.channel.as_str(), p.version.as_str()), (STAGING, "1.1.0"));
    assert_eq!(p.action, WatchAction::Waiting, "{r:?}");
    assert!(
        p.detail.contains("30 min"),
        "Staging's 2 h window: {}",
        p.detail
    );

    play(&env, &source, 30, (0.003, 0.003), 2);
    let r = ws.watch_once("ana", &source, None, None).await.unwrap();
    let p = promotion(&r);
    assert_eq!(p.action, WatchAction::PassedWaiting, "{r:?}");
    assert!(
        p.detail.contains(
            "Production is protected: it waits for an approval by someone other than ana"
        ),
        "{}",
        p.detail
    );
    assert!(
        ws.history(APP)
            .await
            .unwrap()
            .iter()
            .all(|s| !matches!(s.entry.event, Event::CurrentPassed { .. })),
        "no action, no gate entry"
    );

    ws.approve(&by("ben"), APP, "1.1.0", PRODUCTION)
        .await
        .unwrap();
    let r = ws.watch_once("ana", &source, None, None).await.unwrap();
    let p = promotion(&r);
    assert_eq!(p.action, WatchAction::Promoted, "{r:?}");
    assert_eq!(p.to_basis_points, Some(500));
    assert!(
        p.detail
            .contains("shown safe in Staging over 2 h; promoted to Production"),
        "{}",
        p.detail
    );
    let state = ws.load(APP).await.unwrap();
    let rollout = state.channel(PRODUCTION).rollout.expect("a rollout");
    assert_eq!(
        (rollout.version.as_str(), rollout.basis_points),
        ("1.1.0", 500)
    );

    let log = ws.history(APP).await.unwrap();
    let tail: Vec<_> = log[log.len() - 2..].iter().map(|s| &s.entry).collect();
    match &tail[0].event {
        Event::CurrentPassed {
            channel,
            version,
            since_seq,
            to,
            verdict,
        } => {
            assert_eq!(
                (channel.as_str(), version.as_str(), to.as_str()),
                (STAGING, "1.1.0", PRODUCTION)
            );
            let state = ws.load(APP).await.unwrap();
            let stay = &state.channel(STAGING).placements["1.1.0"];
            assert_eq!(*since_seq, stay.since_seq, "the stay it judged");
            assert_eq!(
                tail[0].event.describe(),
                "1.1.0, current in Staging, passed the gate: to be promoted to Production"
            );
            assert_eq!(verdict.baseline, "1.0.0");
            assert!(verdict.kpis[0].candidate_exposure > 10_000, "{verdict:?}");
        }
        other => panic!("a currentPassed on Staging's current release first: {other:?}"),
    }
    assert!(matches!(tail[1].event, Event::Promoted { .. }));
    assert!(tail.iter().all(|e| e.actor == "gate:ana"), "{tail:?}");

    // Promoted: Staging's release is no longer a candidate; Production's rollout is judged.
    let again = ws.watch_once("ci", &source, None, None).await.unwrap();
    assert!(
        again.iter().all(|x| x.subject != Subject::Promotion),
        "{again:?}"
    );
}

#[tokio::test]
async fn too_little_evidence_or_a_bad_release_is_not_promoted() {
    // Too few sessions to show safety: inconclusive, so it waits past the window.
    let (env, ws, source) = staged(true).await;
    Cohorts {
        minutes: 150,
        sessions_per_hour: 200.0,
        share: 0.6,
        crash_rate: (0.003, 0.003),
        seed: 3,
        ..Cohorts::new(APP, STAGING, "1.1.0", "1.0.0", env.now())
    }
    .fill(&source);
    env.clock.advance(150 * 60);
    let r = ws.watch_once("ana", &source, None, None).await.unwrap();
    let p = promotion(&r);
    assert_eq!(p.action, WatchAction::Waiting, "{r:?}");
    assert!(p.detail.contains("not shown safe yet"), "{}", p.detail);
    let state = ws.load(APP).await.unwrap();
    assert!(state.channel(PRODUCTION).rollout.is_none());

    // Ten times the crashes: an incident about the current release, and no promotion.
    let (env, ws, source) = staged(true).await;
    play(&env, &source, 120, (0.03, 0.003), 4);
    let r = ws.watch_once("ana", &source, None, None).await.unwrap();
    assert!(
        r.iter()
            .any(|x| x.subject == Subject::Current && x.action == WatchAction::IncidentOpened),
        "{r:?}"
    );
    let p = promotion(&r);
    assert_eq!(p.action, WatchAction::LeftAlone, "{r:?}");
    assert!(
        p.detail.starts_with("not promoted to Production: "),
        "{}",
        p.detail
    );
    let r = ws.watch_once("ana", &source, None, None).await.unwrap();
    let p = promotion(&r);
    assert!(
        p.detail.contains("is about this release in Staging"),
        "the incident keeps it from the gate: {}",
        p.detail
    );
    let state = ws.load(APP).await.unwrap();
    assert!(state.channel(PRODUCTION).rollout.is_none());
}

#[tokio::test]
async fn two_watchers_promote_once() {
    let env = env();
    let (a, b) = (env.console().await, env.console().await);
    approved_in_staging(&a).await;
    let source = MemorySource::default();
    play(&env, &source, 120, (0.003, 0.003), 5);
    let (ra, rb) = tokio::join!(
        a.watch_once("ana", &source, None, None),
        b.watch_once("ci", &source, None, None)
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let actions: Vec<WatchAction> = ra
        .iter()
        .chain(&rb)
        .filter(|x| x.subject == Subject::Promotion)
        .map(|x| x.action)
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == WatchAction::Promoted)
            .count(),
        1,
        "exactly one watcher promotes: {actions:?} {ra:?}"
    );
    let log = a.history(APP).await.unwrap();
    let count = |f: fn(&Event) -> bool| log.iter().filter(|s| f(&s.entry.event)).count();
    assert_eq!(count(|e| matches!(e, Event::CurrentPassed { .. })), 1);
    assert_eq!(
        count(|e| matches!(e, Event::Promoted { to, .. } if to == "Production")),
        2,
        "1.0.0 by ana when it shipped, 1.1.0 by the gate"
    );
}

#[tokio::test]
async fn a_person_s_promotion_in_between_wins_over_a_stale_verdict() {
    let env = env();
    let ws = env.console().await;
    approved_in_staging(&ws).await;
    // Ana promotes 1.1.0 by hand and reverts it: it has been in Production.
    ws.promote(&by("ana"), &common::promotion("1.1.0", None))
        .await
        .unwrap();
    let revert = Action::Revert {
        app: APP.into(),
        channel: PRODUCTION.into(),
    };
    ws.perform(&by("ana"), &revert).await.unwrap();
    // What a watcher that read the log before both would now try: refused as a conflict.
    let gate = by("gate:ana").expecting(Expectation {
        current: Some("1.1.0".into()),
        never_in: Some(PRODUCTION.into()),
        ..Expectation::default()
    });
    let (kind, e) = kind_of(
        "the gate's promotion of a release a person promoted meanwhile",
        ws.promote(&gate, &common::promotion("1.1.0", None)).await,
    );
    assert_eq!(kind, ErrorKind::Conflict, "{e}");
    assert!(
        e.to_string().contains("reached Production meanwhile"),
        "{e}"
    );
    // And the loop does not consider it again.
    let source = MemorySource::default();
    play(&env, &source, 120, (0.003, 0.003), 6);
    let r = ws.watch_once("ana", &source, None, None).await.unwrap();
    assert!(r.iter().all(|x| x.subject != Subject::Promotion), "{r:?}");
}

#[tokio::test]
async fn a_verdict_on_one_stay_does_not_promote_after_an_incident_or_a_new_stay() {
    use airlock_core::Attribution;
    use airlock_core::ops::incident::OpenRequest;
    let env = env();
    let ws = env.console().await;
    approved_in_staging(&ws).await;
    let state = ws.load(APP).await.unwrap();
    let since = state.channel(STAGING).placements["1.1.0"].since_seq;
    let gate = |stay: u64| {
        by("gate:ana").expecting(Expectation {
            current: Some("1.1.0".into()),
            never_in: Some(PRODUCTION.into()),
            stay_since: Some(stay),
            ..Expectation::default()
        })
    };
    // A verdict read on another stay of the same release (its seq differs): refused.
    let (kind, e) = kind_of(
        "a promotion on a verdict about another stay",
        ws.promote(&gate(since - 1), &common::promotion("1.1.0", None))
            .await,
    );
    assert_eq!(kind, ErrorKind::Conflict, "{e}");
    // A person opens an incident about 1.1.0 in Staging while the gate judges: it wins.
    let opened = ws
        .open_incident(
            &Attribution::new("ben", Some("testers report a blank screen")).unwrap(),
            &OpenRequest {
                app: APP.into(),
                channel: Some(STAGING.into()),
                version: Some("1.1.0".into()),
                severity: 3,
            },
        )
        .await
        .unwrap();
    let (kind, e) = kind_of(
        "the gate's promotion after a person's incident",
        ws.promote(&gate(since), &common::promotion("1.1.0", None))
            .await,
    );
    assert_eq!(kind, ErrorKind::Conflict, "{e}");
    assert!(
        e.to_string()
            .contains(&format!("incident #{} is about", opened.entry.entry.seq)),
        "{e}"
    );
}

#[tokio::test]
async fn a_release_shown_safe_that_waits_days_for_its_approval_is_promoted_once_approved() {
    let (env, ws, source) = staged(false).await;
    play(&env, &source, 120, (0.003, 0.003), 8);
    // Four days without an approval: the verdict on the stay's first three days stands.
    env.clock.advance(4 * 24 * 3600);
    let r = ws.watch_once("ana", &source, None, None).await.unwrap();
    let p = promotion(&r);
    assert_eq!(p.action, WatchAction::PassedWaiting, "{r:?}");
    ws.approve(&by("ben"), APP, "1.1.0", PRODUCTION)
        .await
        .unwrap();
    let r = ws.watch_once("ana", &source, None, None).await.unwrap();
    let p = promotion(&r);
    assert_eq!(p.action, WatchAction::Promoted, "{r:?}");
    assert!(
        p.detail.starts_with("shown safe in Staging over 3 d"),
        "judged over the first three days of the stay: {}",
        p.detail
    );
}
