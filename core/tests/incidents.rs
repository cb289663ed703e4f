//! Incidents on synthetic cohorts in the in-memory KPI source: a rollout crashing ten times
//! as often is reverted at 5 % with a SEV-1 incident whose checklist Airlock ticks as the
//! numbers come back; a bad *current* release opens an incident recommending the rollback,
//! or (with `auto-rollback`) is rolled back and quarantined; a spike that hits both cohorts
//! stops nothing; a current release is judged against the randomized holdout, never against
//! the devices that merely have not updated; two watchers open one incident and act once; a
//! person's incident follows
//! the rules (severity, one open per release, ticks once, a reason to close early).

mod common;

use airlock_core::Workspace;
use airlock_core::kpi::policy::{ChannelKpis, KpiSettings};
use airlock_core::kpi::source::{Counter, MemorySource};
use airlock_core::kpi::synthetic::Cohorts;
use airlock_core::log::Event;
use airlock_core::log::entry::ChecklistItem;
use airlock_core::ops::incident::OpenRequest;
use airlock_core::ops::watch::{Subject, WatchAction};
use airlock_core::{Attribution, ErrorKind};
use common::*;

fn env(auto_rollback: bool) -> Env {
    Env::with_config(|c| {
        let mut kpi = KpiSettings {
            kpis: Some(vec!["crash-free".into()]),
            ..KpiSettings::default()
        };
        if auto_rollback {
            kpi.channels.insert(
                PRODUCTION.into(),
                ChannelKpis {
                    auto_rollback: Some(true),
                    ..ChannelKpis::default()
                },
            );
        }
        c.kpi = Some(kpi);
    })
}

/// `minutes` of 1.1.0 (at `share` of the sessions, crashing at `crash.0`) against 1.0.0
/// (at `crash.1`) from now into `source`; the clock moves to their end.
fn play(
    env: &Env,
    source: &MemorySource,
    (share, minutes): (f64, u32),
    crash: (f64, f64),
    spike: Option<(u32, u32, f64)>,
    seed: u64,
) {
    Cohorts {
        minutes,
        sessions_per_hour: 200_000.0,
        share,
        crash_rate: crash,
        spike,
        seed,
        ..Cohorts::new(APP, PRODUCTION, "1.1.0", "1.0.0", env.now())
    }
    .fill(source);
    env.clock.advance(i64::from(minutes) * 60);
}

/// An hour of a 5 % rollout of 1.1.0 crashing ten times as often as 1.0.0 (3 % vs 0.3 %).
fn bad_rollout_hour(env: &Env, source: &MemorySource, seed: u64) {
    play(env, source, (0.05, 60), (0.03, 0.003), None, seed);
}

/// An hour of 1.1.0 current on 95 % of the sessions, crashing ten times as often as the
/// 1.0.0 the 5 % holdout keeps (their numbers labelled as the holdout's).
fn bad_current_hour(env: &Env, source: &MemorySource, seed: u64) {
    Cohorts {
        minutes: 60,
        sessions_per_hour: 200_000.0,
        share: 0.95,
        crash_rate: (0.03, 0.003),
        seed,
        held: true,
        ..Cohorts::new(APP, PRODUCTION, "1.1.0", "1.0.0", env.now())
    }
    .fill(source);
    env.clock.advance(3600);
}

/// `minutes` with every session on 1.0.0, at its old rate.
fn all_back_on_1_0_0(env: &Env, source: &MemorySource, minutes: u32, seed: u64) {
    play(env, source, (0.0, minutes), (0.03, 0.003), None, seed);
}

fn kinds(log: &[airlock_core::log::reader::StoredEntry]) -> Vec<&'static str> {
    log.iter().map(|s| s.entry.event.kind()).collect()
}

#[tokio::test]
async fn a_crashing_rollout_is_reverted_with_a_sev1_incident_whose_checklist_airlock_ticks() {
    let env = env(false);
    let ws = env.console().await;
    rolling_out_at_5_percent(&ws).await;
    let source = MemorySource::of(APP, PRODUCTION);
    bad_rollout_hour(&env, &source, 1);
    let r = ws.watch_once("ana", &source, None, None).await.unwrap();
    assert_eq!(r[0].action, WatchAction::Reverted, "{r:?}");
    let number = r[0].incident.expect("the revert opened an incident");
    let log = ws.history(APP).await.unwrap();
    let all = kinds(&log);
    assert!(
        all.windows(3)
            .any(|w| w == ["gateFailed", "incidentOpened", "reverted"]),
        "the verdict, the incident, then the revert, each its own entry: {all:?}"
    );
    let i = ws.incident(APP, number).await.unwrap();
    assert_eq!(i.severity, 1, "3 % crashes is crash-free below 98 %: SEV-1");
    assert!(
        i.recommendation.contains("the gate reverts"),
        "{}",
        i.recommendation
    );
    assert_eq!(i.kpis[0].kpi, "crash-free");
    assert!(
        i.kpis[0].candidate_events > 0,
        "the numbers that triggered it ride along"
    );
    let action = &i.timeline[2];
    assert_eq!(
        action.stage, "reverted",
        "the fold links the revert: {:?}",
        i.timeline
    );
    assert_eq!(action.actor.as_deref(), Some("gate:ana"));
    assert!(
        !i.checklist
            .iter()
            .any(|c| c.item == ChecklistItem::Quarantined),
        "a revert quarantines nothing: {:?}",
        i.checklist
    );

    let checked = |i: &airlock_core::ops::incident::IncidentView, item: ChecklistItem| {
        i.checklist
            .iter()
            .find(|c| c.item == item)
            .and_then(|c| c.checked.clone())
    };
    assert!(
        checked(&i, ChecklistItem::Pointer).is_some(),
        "the pointer is read back in the same pass: it no longer serves 1.1.0"
    );
    assert!(
        checked(&i, ChecklistItem::ErrorRate).is_none(),
        "no numbers after the revert yet"
    );

    // Half an hour later every session is 1.0.0's again, at its old rate.
    all_back_on_1_0_0(&env, &source, 30, 2);
    let r = ws.watch_once("ana", &source, None, None).await.unwrap();
    let report = r
        .iter()
        .find(|x| x.subject == Subject::Incident)
        .expect("the incident was checked");
    assert_eq!(report.action, WatchAction::Checked);
    assert!(report.detail.contains("error-rate:"), "{}", report.detail);
    let i = ws.incident(APP, number).await.unwrap();
    let adoption = checked(&i, ChecklistItem::Adoption).expect("adoption checked");
    assert!(
        adoption.detail.contains("within the 30-minute target"),
        "{}",
        adoption.detail
    );
    assert_eq!(adoption.actor, "gate:ana");
    assert!(
        i.timeline[3].at.is_some(),
        "verified once Airlock's items hold"
    );
    assert!(
        ws.watch_once("ana", &source, None, None)
            .await
            .unwrap()
            .iter()
            .all(|x| x.subject != Subject::Incident),
        "nothing new to check: no report"
    );

    // A person ticks the rest and closes it; the postmortem has the whole story.
    for item in [
        ChecklistItem::SupportNotified,
        ChecklistItem::PostmortemScheduled,
    ] {
        ws.tick_incident(&by("ben"), APP, number, item, Some("done"))
            .await
            .unwrap();
    }
    ws.close_incident(&by("ben"), APP, number).await.unwrap();
    let md = ws.postmortem(APP, number).await.unwrap();
    for want in [
        "# Postmortem: shop 1.1.0 in Production",
        "| detected |",
        "| reverted |",
        "| closed |",
        "- [x] support notified",
        "## Root cause",
    ] {
        assert!(md.contains(want), "the postmortem has {want:?}:\n{md}");
    }
}

#[tokio::test]
async fn a_person_s_incident_follows_the_rules() {
    let env = env(false);
    let ws = env.console().await;
    rolling_out_at_5_percent(&ws).await;
    let req = |sev: u8| OpenRequest {
        app: APP.into(),
        channel: None,
        version: None,
        severity: sev,
    };
    let reason = |text: &str| Attribution::new("ben", Some(text)).unwrap();
    let (kind, _) = kind_of("SEV-4", ws.open_incident(&reason("x"), &req(4)).await);
    assert_eq!(kind, ErrorKind::InvalidInput);
    let (kind, _) = kind_of("no reason", ws.open_incident(&by("ben"), &req(2)).await);
    assert_eq!(
        kind,
        ErrorKind::InvalidInput,
        "an incident says what was seen"
    );
    let opened = ws
        .open_incident(&reason("support reports login loops on Android 9"), &req(2))
        .await
        .unwrap();
    let number = opened.entry.entry.seq;
    let Event::IncidentOpened {
        channel, version, ..
    } = &opened.entry.entry.event
    else {
        panic!("an incidentOpened entry")
    };
    assert_eq!(
        (channel.as_str(), version.as_str()),
        (PRODUCTION, "1.1.0"),
        "the one rollout in progress"
    );
    let (kind, e) = kind_of(
        "a second open incident",
        ws.open_incident(&reason("again"), &req(3)).await,
    );
    assert_eq!(kind, ErrorKind::Refused);
    assert!(e.to_string().contains("still open"), "{e}");
    ws.tick_incident(
        &by("ben"),
        APP,
        number,
        ChecklistItem::SupportNotified,
        None,
    )
    .await
    .unwrap();
    let (kind, _) = kind_of(
        "a second tick",
        ws.tick_incident(&by("cy"), APP, number, ChecklistItem::SupportNotified, None)
            .await,
    );
    assert_eq!(kind, ErrorKind::Refused);
    let (kind, e) = kind_of(
        "closing with items open and no reason",
        ws.close_incident(&by("ben"), APP, number).await,
    );
    assert_eq!(kind, ErrorKind::Refused);
    assert!(
        e.to_string().contains("pointer"),
        "it names what is open: {e}"
    );
    ws.close_incident(&reason("false alarm: a backend issue"), APP, number)
        .await
        .unwrap();
    let (kind, _) = kind_of(
        "ticking a closed incident",
        ws.tick_incident(
            &by("ben"),
            APP,
            number,
            ChecklistItem::PostmortemScheduled,
            None,
        )
        .await,
    );
    assert_eq!(kind, ErrorKind::Refused);
    assert!(ws.incidents(Some(APP), false).await.unwrap().is_empty());
    assert_eq!(ws.incidents(Some(APP), true).await.unwrap().len(), 1);
    // Every entry survives a fresh fold of the log (the rules hold on replay).
    let other = env.console().await;
    assert_eq!(
        other.incident(APP, number).await.unwrap(),
        ws.incident(APP, number).await.unwrap()
    );
}

/// 1.0.0 then 1.1.0 shipped to 100 % of Production: 1.1.0 current, 1.0.0 rollback-ready.
async fn two_shipped(ws: &Workspace) {
    ship(ws, "1.0.0").await;
    ship(ws, "1.1.0").await;
}

/// The holdout, not the laggards: devices still on 1.0.0 that simply have not updated (here
/// the rarely used, which crash far less) are left out of the comparison. Judged against
/// them an identical 1.1.0 would look 0.3 % against 0.04 %, seven times worse; judged against
/// the holdout's devices it is what it is, and no incident is opened.
#[tokio::test]
async fn a_current_release_is_judged_against_the_holdout_not_the_laggards() {
    let env = env(true);
    let ws = env.console().await;
    two_shipped(&ws).await;
    let state = ws.load(APP).await.unwrap();
    let holdout = state
        .channel(PRODUCTION)
        .holdout
        .expect("a default 5 % holdout");
    assert_eq!(
        (holdout.version.as_str(), holdout.basis_points),
        ("1.0.0", 500)
    );
    let source = MemorySource::of(APP, PRODUCTION);
    let start = env.now();
    // Laggards: 48,000 sessions an hour on 1.0.0 outside the holdout, a crash every third
    // minute (0.04 %).
    for minute in 1..=180 {
        let at = start.plus_seconds(minute * 60);
        source.add(Counter::Sessions, "1.0.0", at, 800.0);
        source.add(
            Counter::CrashedSessions,
            "1.0.0",
            at,
            f64::from(minute % 3 == 0),
        );
        source.set_active("1.0.0", at, 20_000.0);
    }
    // 1.1.0 and the holdout's 1.0.0, both at 0.3 %.
    Cohorts {
        minutes: 180,
        sessions_per_hour: 200_000.0,
        share: 0.95,
        crash_rate: (0.003, 0.003),
        seed: 11,
        held: true,
        ..Cohorts::new(APP, PRODUCTION, "1.1.0", "1.0.0", start)
    }
    .fill(&source);
    env.clock.advance(180 * 60);
    let r = ws.watch_once("ana", &source, None, None).await.unwrap();
    assert!(
        r.iter().all(|x| x.subject != Subject::Current),
        "nothing to say about an identical current release: {r:?}"
    );
    assert!(ws.incidents(Some(APP), true).await.unwrap().is_empty());
    // The verdict's baseline is the holdout's sessions alone (10,000 an hour), not theirs
    // with the laggards' (48,000 an hour more).
    let v = ws
        .analyze(
            &airlock_core::ops::analyze::AnalyzeRequest {
                app: APP.into(),
                channel: PRODUCTION.into(),
                candidate: Some("1.1.0".into()),
                baseline: Some("1.0.0".into()),
                from: Some(start),
                to: Some(env.now()),
            },
            &source,
        )
        .await
        .unwrap();
    let crash = &v.kpis[0];
    let base = crash.baseline.as_ref().expect("the holdout's numbers");
    assert!(
        (25_000.0..35_000.0).contains(&base.exposure),
        "3 h of the holdout's 10,000 sessions an hour, without the laggards': {base:?}"
    );
    assert!(
        crash.ratio.is_some_and(|r| (0.6..1.6).contains(&r)),
        "as crash-prone as the holdout: {crash:?}"
    );
}

#[tokio::test]
async fn a_bad_current_release_opens_an_incident_recommending_the_rollback() {
    let env = env(false);
    let ws = env.console().await;
    two_shipped(&ws).await;
    let source = MemorySource::of(APP, PRODUCTION);
    // 95 % of the sessions on 1.1.0, crashing ten times as often as the holdout's 1.0.0.
    bad_current_hour(&env, &source, 5);
    let r = ws.watch_once("ana", &source, None, None).await.unwrap();
    let current = r
        .iter()
        .find(|x| x.subject == Subject::Current && x.channel == PRODUCTION)
        .unwrap_or_else(|| panic!("the current release was judged: {r:?}"));
    assert_eq!(current.action, WatchAction::IncidentOpened, "{r:?}");
    let i = ws.incident(APP, current.incident.unwrap()).await.unwrap();
    assert_eq!(i.severity, 1);
    assert!(
        i.recommendation.contains("roll back to 1.0.0 now"),
        "{}",
        i.recommendation
    );
    let state = ws.load(APP).await.unwrap();
    assert_eq!(
        state.channel(PRODUCTION).current.as_deref(),
        Some("1.1.0"),
        "only recommended: a person decides"
    );
    let again = ws.watch_once("ci", &source, None, None).await.unwrap();
    assert!(
        again.iter().all(|x| x.subject != Subject::Current),
        "an open incident is not opened twice: {again:?}"
    );
    let opened = ws
        .history(APP)
        .await
        .unwrap()
        .iter()
        .filter(|s| matches!(s.entry.event, Event::IncidentOpened { .. }))
        .count();
    assert_eq!(opened, 1);
}

#[tokio::test]
async fn with_auto_rollback_a_bad_current_release_is_rolled_back_and_its_checklist_ticked() {
    let env = env(true);
    let ws = env.console().await;
    two_shipped(&ws).await;
    let source = MemorySource::of(APP, PRODUCTION);
    bad_current_hour(&env, &source, 7);
    let r = ws.watch_once("ana", &source, None, None).await.unwrap();
    let current = r
        .iter()
        .find(|x| x.subject == Subject::Current)
        .expect("judged");
    assert_eq!(current.action, WatchAction::RolledBack, "{r:?}");
    let number = current.incident.expect("an incident");
    let state = ws.load(APP).await.unwrap();
    assert_eq!(state.channel(PRODUCTION).current.as_deref(), Some("1.0.0"));
    assert!(state.release("1.1.0").unwrap().quarantined.is_some());
    all_back_on_1_0_0(&env, &source, 90, 8);
    ws.watch_once("ana", &source, None, None).await.unwrap();
    let i = ws.incident(APP, number).await.unwrap();
    assert_eq!(i.timeline[2].stage, "rolledBack");
    for row in &i.checklist {
        assert_eq!(
            row.checked.is_some(),
            row.automatic,
            "Airlock ticked every item it checks itself, and only those: {row:?}"
        );
    }
}

#[tokio::test]
async fn a_spike_that_hits_both_cohorts_stops_nothing() {
    let env = env(false);
    let ws = env.console().await;
    rolling_out_at_5_percent(&ws).await;
    let source = MemorySource::of(APP, PRODUCTION);
    // Half an hour of a backend outage: every session crashes 5 % of the time, both cohorts.
    play(
        &env,
        &source,
        (0.05, 4 * 60),
        (0.003, 0.003),
        Some((60, 90, 0.05)),
        9,
    );
    let r = ws.watch_once("ana", &source, None, None).await.unwrap();
    assert_eq!(
        r[0].action,
        WatchAction::Expanded,
        "the outage moved both cohorts alike: {r:?}"
    );
    assert!(ws.incidents(Some(APP), true).await.unwrap().is_empty());
}

#[tokio::test]
async fn two_watchers_open_one_incident_and_revert_once() {
    let env = env(false);
    let (a, b) = (env.console().await, env.console().await);
    rolling_out_at_5_percent(&a).await;
    let source = MemorySource::of(APP, PRODUCTION);
    bad_rollout_hour(&env, &source, 11);
    let (ra, rb) = tokio::join!(
        a.watch_once("ana", &source, None, None),
        b.watch_once("ci", &source, None, None)
    );
    let actions = [ra.unwrap()[0].action, rb.unwrap()[0].action];
    assert_eq!(
        actions
            .iter()
            .filter(|x| **x == WatchAction::Reverted)
            .count(),
        1,
        "one reverts: {actions:?}"
    );
    let log = a.history(APP).await.unwrap();
    let count = |kind: &str| log.iter().filter(|s| s.entry.event.kind() == kind).count();
    assert_eq!(
        (
            count("gateFailed"),
            count("incidentOpened"),
            count("reverted")
        ),
        (1, 1, 1),
        "{:?}",
        kinds(&log)
    );
}

#[tokio::test]
async fn an_incident_opened_after_the_rollback_is_linked_to_it() {
    let env = env(false);
    let ws = env.console().await;
    two_shipped(&ws).await;
    ws.rollback(&by("ana"), APP, PRODUCTION, None)
        .await
        .unwrap();
    let opened = ws
        .open_incident(
            &Attribution::new("ana", Some("crash loop on Android 9")).unwrap(),
            &OpenRequest {
                app: APP.into(),
                channel: Some(PRODUCTION.into()),
                version: Some("1.1.0".into()),
                severity: 1,
            },
        )
        .await
        .unwrap();
    let i = ws.incident(APP, opened.entry.entry.seq).await.unwrap();
    assert_eq!(
        i.timeline[2].stage, "rolledBack",
        "linked at once: {:?}",
        i.timeline
    );
    assert!(
        i.recommendation.contains("nothing to roll back"),
        "1.1.0 is no longer served: no advice to roll back the good release: {}",
        i.recommendation
    );
    assert!(
        i.checklist
            .iter()
            .any(|c| c.item == ChecklistItem::Quarantined),
        "a rollback from 1.1.0 quarantined it: the item is on the list"
    );
    let source = MemorySource::of(APP, PRODUCTION);
    let checks = ws
        .check_incident("ana", &source, APP, opened.entry.entry.seq)
        .await
        .unwrap();
    let held: Vec<ChecklistItem> = checks.iter().filter(|c| c.held).map(|c| c.item).collect();
    assert!(
        held.contains(&ChecklistItem::Pointer) && held.contains(&ChecklistItem::Quarantined),
        "{checks:?}"
    );
}

#[tokio::test]
async fn a_closed_incident_about_a_current_release_is_not_reopened_or_acted_on() {
    let env = env(true);
    let ws = env.console().await;
    two_shipped(&ws).await;
    // A person opened one first and decided to fix forward: the gate's rollback does not
    // override them.
    let mine = ws
        .open_incident(
            &Attribution::new("ben", Some("support reports crashes")).unwrap(),
            &OpenRequest {
                app: APP.into(),
                channel: Some(PRODUCTION.into()),
                version: Some("1.1.0".into()),
                severity: 3,
            },
        )
        .await
        .unwrap();
    ws.close_incident(
        &Attribution::new("ben", Some("fixing forward in 1.1.1")).unwrap(),
        APP,
        mine.entry.entry.seq,
    )
    .await
    .unwrap();
    let source = MemorySource::of(APP, PRODUCTION);
    bad_current_hour(&env, &source, 13);
    for _ in 0..2 {
        let r = ws.watch_once("ana", &source, None, None).await.unwrap();
        assert!(
            r.iter().all(|x| x.subject != Subject::Current),
            "decided for this stay by a person: nothing reported, nothing done: {r:?}"
        );
    }
    let state = ws.load(APP).await.unwrap();
    assert_eq!(state.channel(PRODUCTION).current.as_deref(), Some("1.1.0"));
    assert_eq!(state.incidents.len(), 1);
}

#[tokio::test]
async fn a_verdict_on_a_current_release_replaced_meanwhile_acts_on_nothing() {
    let env = env(true);
    let (ws, other) = (env.console().await, env.console().await);
    two_shipped(&ws).await;
    let inner = MemorySource::of(APP, PRODUCTION);
    bad_current_hour(&env, &inner, 17);
    // While the gate reads its numbers about 1.1.0, a person ships 1.2.0 to everyone.
    let source = Meanwhile::new(inner, Box::new(|| Box::pin(ship(&other, "1.2.0"))));
    ws.watch_once("ana", &source, None, None).await.unwrap();
    let state = ws.load(APP).await.unwrap();
    assert_eq!(
        state.channel(PRODUCTION).current.as_deref(),
        Some("1.2.0"),
        "1.2.0, which the gate never judged, is neither rolled back nor quarantined"
    );
    assert!(state.release("1.2.0").unwrap().quarantined.is_none());
    assert!(
        state.incidents.is_empty(),
        "no incident on a stay that ended"
    );
}
