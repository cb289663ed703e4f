//! The gate end to end on a real Prometheus and a simulated fleet (kpi/fleet.rs) that
//! follows the real pointer through the reference device check: chunk by chunk the fleet
//! plays, its OpenMetrics history is backfilled into Prometheus, and the watcher judges
//! what Prometheus answers. A good release goes from Staging (its own fleet, judged against
//! the testers its holdout keeps on the release before) to Production's 5 % and through 20 and 50 to 100 % on its
//! own; a bad one (3 % crashes against 0.3 %) is reverted at 5 % with a SEV-1 incident whose
//! checklist Airlock ticks as the devices come back; a fleet-wide spike, looked at every
//! quarter of an hour, stops nothing; a
//! bad current release is rolled back and its checklist ticked; two watchers on one store
//! take each decision once.

mod common;
#[path = "support/prometheus.rs"]
mod prometheus_server;

use airlock_core::Workspace;
use airlock_core::kpi::fleet::{Fleet, Rates, Scenario};
use airlock_core::kpi::policy::{ChannelKpis, KpiSettings, LimitsEdit, PrometheusSettings};
use airlock_core::log::entry::ChecklistItem;
use airlock_core::ops::watch::{Subject, WatchAction, WatchReport};
use common::*;
use prometheus_server::Prometheus;

/// A world: a store, a Prometheus, a console and a fleet on Production (and one on
/// Staging, if started).
struct World {
    env: Env,
    prom: Prometheus,
    ws: Workspace,
    fleet: Option<Fleet>,
    staging: Option<Fleet>,
}

fn scenario(candidate_crash: f64) -> Scenario {
    // 125,000 sessions an hour: a mid-sized app, where 5 % is about 6,000 sessions an hour.
    let mut s = Scenario {
        devices: 50_000,
        sessions_per_hour: 2.5,
        seed: 42,
        ..Scenario::default()
    };
    s.versions.insert(
        "1.1.0".into(),
        Rates {
            crash: Some(candidate_crash),
            ..Rates::default()
        },
    );
    s
}

fn half_point() -> std::collections::BTreeMap<String, LimitsEdit> {
    ["crash-free", "js-errors"]
        .into_iter()
        .map(|k| {
            (
                k.to_string(),
                LimitsEdit {
                    tolerance: Some(0.005),
                    ..LimitsEdit::default()
                },
            )
        })
        .collect()
}

impl World {
    async fn new(auto_rollback: bool) -> Self {
        Self::build(auto_rollback, false).await
    }

    /// With `promote`, Staging's gate promotes a release shown safe there to Production.
    async fn build(auto_rollback: bool, promote: bool) -> Self {
        // Prometheus needs a history to start on: one sample of nothing Airlock reads.
        let t = START;
        let prom = Prometheus::start(&format!(
            "# TYPE airlock_test_start gauge\nairlock_test_start 1 {t}\n# EOF\n"
        ));
        let url = prom.url.clone();
        let env = Env::with_config(move |c| {
            let mut kpi = KpiSettings {
                kpis: Some(vec!["crash-free".into(), "js-errors".into()]),
                prometheus: Some(PrometheusSettings {
                    url,
                    auth: None,
                    timeout_seconds: Some(20),
                    matchers: None,
                }),
                // A mid-sized app that accepts a boundary half a point above the
                // baseline's rate (the default, 0.1 point, needs about 40,000 candidate
                // sessions to pass a 0.3 % crash rate: hours more at 6,000 an hour).
                limits: half_point(),
                ..KpiSettings::default()
            };
            kpi.channels.insert(
                PRODUCTION.into(),
                ChannelKpis {
                    auto_rollback: Some(auto_rollback),
                    ..ChannelKpis::default()
                },
            );
            if promote {
                staging_promotes_to_production(&mut kpi);
                // Staging's 20,000 testers: a fifth of them held back on the release
                // before, so the holdout has the sessions to show safety within the window.
                c.channels.get_mut(STAGING).unwrap().holdout = 20.0;
            }
            c.kpi = Some(kpi);
        });
        let ws = env.console().await;
        Self {
            env,
            prom,
            ws,
            fleet: None,
            staging: None,
        }
    }

    /// A fleet on what `channel` serves now.
    async fn start(&self, channel: &str, s: Scenario) -> Fleet {
        self.ws
            .new_fleet(APP, channel, s, self.env.now())
            .await
            .unwrap_or_else(|e| panic!("a fleet on {channel}: {e}"))
    }

    /// Starts the fleet on what Production serves now.
    async fn fleet(&mut self, s: Scenario) {
        self.fleet = Some(self.start(PRODUCTION, s).await);
    }

    /// Starts a fleet on what Staging serves now: the testers' devices.
    async fn staging_fleet(&mut self, s: Scenario) {
        self.staging = Some(self.start(STAGING, s).await);
    }

    /// Plays `minutes` of every fleet on the pointers as they are, backfills them, and moves
    /// the clock on.
    async fn play(&mut self, minutes: i64) {
        let until = self.env.now().plus_seconds(minutes * 60);
        let mut histories = Vec::new();
        for fleet in [self.fleet.as_mut(), self.staging.as_mut()]
            .into_iter()
            .flatten()
        {
            let (played, _) = self.ws.play_fleet(fleet, until, None).await.unwrap();
            histories.push(played.openmetrics);
        }
        let histories: Vec<&str> = histories.iter().map(String::as_str).collect();
        self.prom.add_all(&histories);
        self.env.clock.advance(minutes * 60);
    }

    async fn watch(&self) -> Vec<WatchReport> {
        let source = self.ws.kpi_source().await.unwrap();
        self.ws
            .watch_once("ana", source.as_ref(), None, None)
            .await
            .unwrap()
    }

    /// The verdict on the rollout now, KPI by KPI, for a failure message.
    async fn explain(&self) -> String {
        let source = self.ws.kpi_source().await.unwrap();
        let req = airlock_core::ops::analyze::AnalyzeRequest {
            app: APP.into(),
            channel: PRODUCTION.into(),
            ..Default::default()
        };
        match self.ws.analyze(&req, source.as_ref()).await {
            Ok(v) => v
                .kpis
                .iter()
                .map(|k| k.reason.clone())
                .chain(v.guards.clone())
                .collect::<Vec<_>>()
                .join("\n"),
            Err(e) => e.to_string(),
        }
    }

    async fn rollout_bp(&self) -> Option<u32> {
        let state = self.ws.load(APP).await.unwrap();
        state.channel(PRODUCTION).rollout.map(|r| r.basis_points)
    }
}

fn rollout_report(r: &[WatchReport]) -> &WatchReport {
    r.iter()
        .find(|x| x.subject == Subject::Rollout)
        .unwrap_or_else(|| panic!("a rollout was judged: {r:?}"))
}

#[tokio::test]
async fn a_good_release_goes_from_staging_to_100_percent_on_its_own() {
    let mut w = World::build(false, true).await;
    ship(&w.ws, "1.0.0").await;
    w.fleet(scenario(0.003)).await;
    // 20,000 testers' devices, an app session an hour each.
    w.staging_fleet(Scenario {
        devices: 20_000,
        sessions_per_hour: 1.0,
        seed: 7,
        ..scenario(0.003)
    })
    .await;
    w.play(60).await;
    // ana releases 1.1.0 into Staging and ben approves it for Production; from here on the
    // gate decides: Staging's window (2 h), then Production's steps.
    release(&w.ws, "ana", APP, "1.1.0").await.unwrap();
    w.ws.approve(&by("ben"), APP, "1.1.0", PRODUCTION)
        .await
        .unwrap();
    w.play(110).await;
    let r = w.watch().await;
    let staged = r.iter().find(|x| x.subject == Subject::Promotion);
    assert_eq!(
        staged.map(|x| x.action),
        Some(WatchAction::Waiting),
        "10 minutes of Staging's window left: {r:?}"
    );
    w.play(10).await;
    let r = w.watch().await;
    let staged = r
        .iter()
        .find(|x| x.subject == Subject::Promotion)
        .unwrap_or_else(|| panic!("Staging's release was judged: {r:?}"));
    assert_eq!(staged.action, WatchAction::Promoted, "{staged:?}");
    assert_eq!(w.rollout_bp().await, Some(500));
    w.play(230).await;
    let r = w.watch().await;
    assert_eq!(
        rollout_report(&r).action,
        WatchAction::Waiting,
        "10 minutes of the first window left: {r:?}"
    );
    w.play(10).await;
    for (hours, next) in [(0, Some(2000)), (2, Some(5000)), (2, None)] {
        if hours > 0 {
            w.play(hours * 60).await;
        }
        let r = w.watch().await;
        assert_eq!(
            rollout_report(&r).action,
            WatchAction::Expanded,
            "{r:?}\n{}",
            w.explain().await
        );
        assert_eq!(w.rollout_bp().await, next);
    }
    let state = w.ws.load(APP).await.unwrap();
    assert_eq!(state.channel(PRODUCTION).current.as_deref(), Some("1.1.0"));
    assert!(
        w.ws.incidents(Some(APP), true).await.unwrap().is_empty(),
        "no incident for a healthy release"
    );
    // An hour at 100 %: adoption and update checks, from Prometheus.
    w.play(60).await;
    let source = w.ws.kpi_source().await.unwrap();
    let a =
        w.ws.adoption(APP, PRODUCTION, source.as_ref())
            .await
            .unwrap();
    let first = &a.milestones[0];
    assert_eq!((first.hours, first.met), (1, Some(true)), "{a:?}");
    assert!(
        first.share.unwrap() > 0.5,
        "devices were already half on 1.1.0: {a:?}"
    );
    assert_eq!(a.milestones[1].share, None, "24 h have not passed");
    let checks = a
        .update_checks
        .expect("update checks from ota_update_checks_total");
    assert!(checks.checks > 100_000.0 && checks.met, "{checks:?}");
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
}

#[tokio::test]
async fn a_spike_that_hits_every_release_stops_nothing() {
    let mut w = World::new(false).await;
    with_approved_candidate(&w.ws).await;
    w.fleet(scenario(0.003)).await;
    w.play(60).await;
    w.ws.promote(&by("ana"), &promotion("1.1.0", None))
        .await
        .unwrap();
    // Half an hour of a backend outage an hour into the step: every session crashes 5 % of
    // the time, on both releases — far past the 2 % critical line. The gate looks every
    // quarter of an hour throughout.
    let mut actions = Vec::new();
    for quarter in 0..16 {
        let fleet = w.fleet.as_mut().unwrap();
        let crash = if (4..6).contains(&quarter) {
            0.05
        } else {
            0.003
        };
        fleet.scenario.default.crash = Some(crash);
        fleet.scenario.versions.get_mut("1.1.0").unwrap().crash = Some(crash);
        w.play(15).await;
        actions.push(rollout_report(&w.watch().await).action);
    }
    assert!(
        actions
            .iter()
            .all(|a| matches!(a, WatchAction::Waiting | WatchAction::Expanded)),
        "the outage moved both cohorts alike: never paused or reverted: {actions:?}"
    );
    assert!(w.ws.incidents(Some(APP), true).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_bad_release_is_reverted_at_5_percent_with_a_sev1_incident_airlock_then_checks() {
    let mut w = World::new(false).await;
    with_approved_candidate(&w.ws).await;
    w.fleet(scenario(0.03)).await;
    w.play(60).await;
    w.ws.promote(&by("ana"), &promotion("1.1.0", None))
        .await
        .unwrap();
    // Looks every 15 minutes, as a watcher would: it stops the release within the first
    // quarter of its 4-hour window.
    let mut reverted = None;
    for look in 1..=4 {
        w.play(15).await;
        let r = w.watch().await;
        if rollout_report(&r).action == WatchAction::Reverted {
            reverted = Some((look * 15, rollout_report(&r).clone()));
            break;
        }
    }
    let (minutes, report) = reverted.expect("reverted within the first hour");
    let number = report.incident.expect("with an incident");
    let i = w.ws.incident(APP, number).await.unwrap();
    assert_eq!(i.severity, 1, "{i:?}");
    assert!(minutes <= 60);
    assert_eq!(w.rollout_bp().await, None, "no rollout left");
    // The devices go back at their next launch; an hour later the checklist is ticked.
    w.play(60).await;
    let r = w.watch().await;
    let i = w.ws.incident(APP, number).await.unwrap();
    for item in [
        ChecklistItem::Pointer,
        ChecklistItem::ErrorRate,
        ChecklistItem::Adoption,
    ] {
        let row = i.checklist.iter().find(|c| c.item == item).unwrap();
        assert!(row.checked.is_some(), "{item:?} checked: {i:?}\n{r:?}");
    }
}

#[tokio::test]
async fn a_bad_current_release_is_rolled_back_and_airlock_ticks_its_checklist() {
    let mut w = World::new(true).await;
    ship(&w.ws, "1.0.0").await;
    w.fleet(scenario(0.03)).await;
    w.play(60).await;
    // 1.1.0 goes straight to 100 % (approved, promoted whole): its crashes show against the
    // 5 % holdout the pointer keeps on 1.0.0 (cohort="holdout").
    release(&w.ws, "ana", APP, "1.1.0").await.unwrap();
    w.ws.approve(&by("ben"), APP, "1.1.0", PRODUCTION)
        .await
        .unwrap();
    w.ws.promote(&by("ana"), &promotion("1.1.0", Some(100.0)))
        .await
        .unwrap();
    let mut rolled = None;
    for _ in 0..8 {
        w.play(15).await;
        let r = w.watch().await;
        if let Some(x) = r
            .iter()
            .find(|x| x.subject == Subject::Current && x.action == WatchAction::RolledBack)
        {
            rolled = Some(x.clone());
            break;
        }
    }
    let rolled = rolled.expect("rolled back within two hours");
    let number = rolled.incident.expect("with an incident");
    let state = w.ws.load(APP).await.unwrap();
    assert_eq!(state.channel(PRODUCTION).current.as_deref(), Some("1.0.0"));
    assert!(state.release("1.1.0").unwrap().quarantined.is_some());
    // Devices go back at their next launch; the hour's active devices lag behind them.
    for _ in 0..6 {
        w.play(30).await;
        w.watch().await;
    }
    let i = w.ws.incident(APP, number).await.unwrap();
    for row in &i.checklist {
        assert_eq!(
            row.checked.is_some(),
            row.automatic,
            "Airlock ticked what it checks itself: {row:?}"
        );
    }
}

#[tokio::test]
async fn two_watchers_on_one_store_take_each_decision_once() {
    let mut w = World::new(false).await;
    with_approved_candidate(&w.ws).await;
    w.fleet(scenario(0.003)).await;
    w.play(60).await;
    w.ws.promote(&by("ana"), &promotion("1.1.0", None))
        .await
        .unwrap();
    w.play(4 * 60).await;
    let other = w.env.console().await;
    let (sa, sb) = (
        w.ws.kpi_source().await.unwrap(),
        other.kpi_source().await.unwrap(),
    );
    let (ra, rb) = tokio::join!(
        w.ws.watch_once("ana", sa.as_ref(), None, None),
        other.watch_once("ci", sb.as_ref(), None, None)
    );
    let actions = [
        rollout_report(&ra.unwrap()).action,
        rollout_report(&rb.unwrap()).action,
    ];
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == WatchAction::Expanded)
            .count(),
        1,
        "{actions:?}"
    );
    let log = w.ws.history(APP).await.unwrap();
    let count = |k: &str| log.iter().filter(|s| s.entry.event.kind() == k).count();
    assert_eq!((count("gatePassed"), count("expanded")), (1, 1));
}
