//! The whole release path on the default configuration (Staging, then a protected Production
//! with the plan 5 → 20 → 50 → 100 %), watched by 10,000 simulated devices after every step.
//! Each device keeps the pointer it accepted last, as a phone does, so seq monotonicity is
//! checked for real. The invariants: a rollout reaches the share of devices it claims, a
//! device in the rollout stays in as it grows, a revert brings everyone back, and a rollback
//! lands every device on the known-good release while the bad one is quarantined.

mod common;

use airlock_core::ops::rollout::ExpandTo;
use airlock_core::state::Placement;
use airlock_protocol::bucketing::FULL;
use airlock_protocol::device::Via;
use common::*;
use std::collections::BTreeSet;

const DEVICES: usize = 10_000;
/// How far the share of devices in a rollout may stray from its percentage, in points.
const TOLERANCE: f64 = 1.5;

fn share(count: usize) -> f64 {
    count as f64 * 100.0 / DEVICES as f64
}

fn in_rollout(devices: &[Device]) -> BTreeSet<String> {
    devices
        .iter()
        .filter(|d| d.via == Some(Via::Rollout))
        .map(|d| d.install_id.clone())
        .collect()
}

fn assert_share(tally: &Tally, version: &str, percent: f64, when: &str) {
    let got = share(tally.via_rollout);
    assert!(
        (got - percent).abs() <= TOLERANCE,
        "{when}: {got:.2} % of devices got {version}, but the rollout is at {percent} %; \
         bucketing must give each step its share"
    );
    assert_eq!(
        tally.running(version),
        tally.via_rollout,
        "{when}: exactly the devices in the rollout run {version}"
    );
    assert_eq!(
        tally.running("1.0.0"),
        DEVICES - tally.via_rollout,
        "{when}: every device outside the rollout stays on the channel's current 1.0.0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staged_rollout_revert_and_rollback_as_seen_by_ten_thousand_devices() {
    let env = Env::new();
    let ws = env.console().await;
    let key = ws
        .signer()
        .await
        .expect("the signing key is created")
        .public_key()
        .clone();
    let now = env.now();
    let mut production = fleet(DEVICES);
    let mut staging = fleet(DEVICES);

    // 1.0.0 into Staging. Production has served nothing yet: its devices keep the bundle
    // they were built with.
    release(&ws, "ana", APP, "1.0.0")
        .await
        .expect("1.0.0 passes the gates");
    let t = check_fleet(ws.store().clone(), STAGING, &key, now, &mut staging).await;
    t.assert_no_refusals("1.0.0 in Staging");
    assert_eq!(
        t.running("1.0.0"),
        DEVICES,
        "a release into Staging reaches every Staging device"
    );
    let t = check_fleet(ws.store().clone(), PRODUCTION, &key, now, &mut production).await;
    assert_eq!(
        t.built_in, DEVICES,
        "before anything was promoted to Production its devices must keep the built-in bundle"
    );
    assert_eq!(
        t.refusals.keys().collect::<Vec<_>>(),
        ["pointer_missing"],
        "the only reason to stay on the built-in bundle is that no pointer exists yet"
    );
    assert!(
        production.iter().all(|d| d.last_accepted.is_none()),
        "no pointer was accepted, so no seq must be remembered"
    );

    // Approved by someone else, then straight to 100 %: 1.0.0 becomes the known-good current.
    ws.approve(&by("ben"), APP, "1.0.0", PRODUCTION)
        .await
        .expect("ben approves ana's 1.0.0");
    let t = check_fleet(ws.store().clone(), PRODUCTION, &key, now, &mut production).await;
    assert_eq!(
        t.built_in, DEVICES,
        "an approval alone must not move Production"
    );
    ws.promote(&by("ana"), &promotion("1.0.0", Some(100.0)))
        .await
        .expect("1.0.0 is approved");
    let t = check_fleet(ws.store().clone(), PRODUCTION, &key, now, &mut production).await;
    t.assert_no_refusals("1.0.0 at 100 %");
    assert_eq!(
        t.running("1.0.0"),
        DEVICES,
        "a promotion to 100 % reaches every device"
    );
    assert_eq!(
        t.via_rollout, 0,
        "a completed promotion is served as current, not as a rollout"
    );

    // 1.1.0: released, approved, then staged.
    release(&ws, "ana", APP, "1.1.0")
        .await
        .expect("1.1.0 passes the gates");
    let t = check_fleet(ws.store().clone(), STAGING, &key, now, &mut staging).await;
    t.assert_no_refusals("1.1.0 in Staging");
    assert_eq!(
        t.running("1.1.0") + t.via_holdout,
        DEVICES,
        "Staging devices move to the newest release, but for its holdout"
    );
    assert!(
        (share(t.via_holdout) - 5.0).abs() <= TOLERANCE,
        "the default holdout keeps 5 % of Staging on 1.0.0, not {:.2} %",
        share(t.via_holdout)
    );
    assert_eq!(t.running("1.0.0"), t.via_holdout);
    let t = check_fleet(ws.store().clone(), PRODUCTION, &key, now, &mut production).await;
    assert_eq!(
        t.running("1.0.0"),
        DEVICES,
        "a release into Staging must not touch Production"
    );
    ws.approve(&by("ben"), APP, "1.1.0", PRODUCTION)
        .await
        .expect("ben approves 1.1.0");

    ws.promote(&by("ana"), &promotion("1.1.0", None))
        .await
        .expect("1.1.0 is approved");
    let t = check_fleet(ws.store().clone(), PRODUCTION, &key, now, &mut production).await;
    t.assert_no_refusals("1.1.0 at 5 %");
    assert_share(&t, "1.1.0", 5.0, "1.1.0 at 5 %");
    let at_5 = in_rollout(&production);

    ws.expand(&by("ana"), APP, PRODUCTION, ExpandTo::Next)
        .await
        .expect("5 % expands");
    let t = check_fleet(ws.store().clone(), PRODUCTION, &key, now, &mut production).await;
    t.assert_no_refusals("1.1.0 at 20 %");
    assert_share(&t, "1.1.0", 20.0, "1.1.0 at 20 % (the plan's next step)");
    let at_20 = in_rollout(&production);
    assert!(
        at_5.is_subset(&at_20),
        "a device in the rollout at 5 % must still be in it at 20 % ({} dropped out)",
        at_5.difference(&at_20).count()
    );

    ws.revert(&by("ana"), APP, PRODUCTION)
        .await
        .expect("a partial rollout can be reverted");
    let t = check_fleet(ws.store().clone(), PRODUCTION, &key, now, &mut production).await;
    t.assert_no_refusals("after the revert");
    assert_eq!(t.running("1.1.0"), 0, "after a revert nobody may get 1.1.0");
    assert_eq!(
        t.running("1.0.0"),
        DEVICES,
        "after a revert everyone is back on 1.0.0"
    );

    // The approval survives the revert: promoting again needs no new approval.
    ws.promote(&by("ana"), &promotion("1.1.0", None))
        .await
        .expect("1.1.0 was approved before the revert and the approval must still count");
    let t = check_fleet(ws.store().clone(), PRODUCTION, &key, now, &mut production).await;
    t.assert_no_refusals("1.1.0 at 5 % again");
    assert_share(&t, "1.1.0", 5.0, "1.1.0 promoted again at 5 %");
    let mut previous = in_rollout(&production);

    for percent in [20.0, 50.0, 100.0] {
        ws.expand(&by("ana"), APP, PRODUCTION, ExpandTo::Next)
            .await
            .expect("the rollout grows");
        let t = check_fleet(ws.store().clone(), PRODUCTION, &key, now, &mut production).await;
        let when = format!("1.1.0 expanded to {percent} %");
        t.assert_no_refusals(&when);
        let now_in: BTreeSet<String> = production
            .iter()
            .filter(|d| d.running.as_deref() == Some("1.1.0"))
            .map(|d| d.install_id.clone())
            .collect();
        assert!(
            previous.is_subset(&now_in),
            "{when}: devices already on 1.1.0 must stay on it as the rollout grows"
        );
        if percent < 100.0 {
            assert_share(&t, "1.1.0", percent, &when);
        } else {
            // The holdout: the rollout's last 5 % of buckets, never reached before 100 %,
            // stay on 1.0.0; everyone else runs 1.1.0.
            let held: BTreeSet<String> = production
                .iter()
                .filter(|d| d.via == Some(Via::Holdout))
                .map(|d| d.install_id.clone())
                .collect();
            assert!(
                (share(held.len()) - 5.0).abs() <= TOLERANCE,
                "{when}: the holdout keeps about 5 %, not {:.2} %",
                share(held.len())
            );
            assert!(
                held.is_disjoint(&previous),
                "{when}: no device that ran 1.1.0 at 50 % is sent back by the holdout"
            );
            assert_eq!(t.running("1.1.0"), DEVICES - held.len());
            assert_eq!(t.running("1.0.0"), held.len());
            assert_eq!(t.via_rollout, 0, "a completed rollout is served as current");
        }
        previous = now_in;
    }
    let state = ws.load(APP).await.expect("the state loads");
    assert_eq!(
        state.channel(PRODUCTION).current.as_deref(),
        Some("1.1.0"),
        "expanding to {FULL} basis points completes the rollout"
    );
    assert_eq!(
        state.placement("1.0.0", PRODUCTION),
        Some(Placement::RollbackReady),
        "the release 1.1.0 replaced must be kept ready for a rollback"
    );

    // Roll back: every device lands on the known-good 1.0.0; 1.1.0 is quarantined.
    let seq_before = production[0].last_accepted.as_ref().map(|a| a.seq);
    ws.rollback(&by("ana"), APP, PRODUCTION, None)
        .await
        .expect("1.0.0 is rollback-ready");
    let t = check_fleet(ws.store().clone(), PRODUCTION, &key, now, &mut production).await;
    t.assert_no_refusals("after the rollback");
    assert_eq!(
        t.running("1.0.0"),
        DEVICES,
        "after a rollback every device must run the known-good 1.0.0, including those that \
         had 1.1.0"
    );
    assert!(
        production[0].last_accepted.as_ref().map(|a| a.seq) > seq_before,
        "the rollback pointer must carry a higher seq, or devices would refuse it"
    );
    let state = ws.load(APP).await.expect("the state loads");
    assert!(
        state.releases["1.1.0"].quarantined.is_some(),
        "the rolled-back release must be quarantined so it is never served again"
    );
    assert_eq!(state.channel(PRODUCTION).current.as_deref(), Some("1.0.0"));
    let rows = ws.status(APP).await.expect("status reads").releases;
    let label = |v: &str, c: &str| {
        rows.iter()
            .find(|r| r.version == v && r.channel == c)
            .map(|r| r.status.as_str())
    };
    assert_eq!(
        label("1.1.0", PRODUCTION),
        Some("quarantined"),
        "status rows: {rows:#?}"
    );
    assert_eq!(
        label("1.0.0", PRODUCTION),
        Some("current"),
        "status rows: {rows:#?}"
    );
    let promoted = ws.promote(&by("ana"), &promotion("1.1.0", None)).await;
    let (kind, err) = kind_of("promoting the quarantined 1.1.0", promoted);
    assert!(
        kind.is_refusal(),
        "a quarantined release must never be served again: {err}"
    );
}

/// A pointer whose `current` is null (a first rollout into a channel) leaves every device
/// outside the rollout on its built-in bundle rather than on nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_outside_a_first_rollout_keep_their_built_in_bundle() {
    let env = Env::new();
    let ws = env.console().await;
    let key = ws
        .signer()
        .await
        .expect("the signing key is created")
        .public_key()
        .clone();
    release(&ws, "ana", APP, "1.0.0")
        .await
        .expect("1.0.0 passes the gates");
    ws.approve(&by("ben"), APP, "1.0.0", PRODUCTION)
        .await
        .expect("ben approves");
    ws.promote(&by("ana"), &promotion("1.0.0", None))
        .await
        .expect("a first rollout at 5 %");
    let pointer = stored_pointer(ws.store().as_ref(), APP, PRODUCTION)
        .await
        .expect("the promotion wrote a pointer");
    assert!(
        pointer.current.is_none(),
        "nothing completed in Production yet: {pointer:?}"
    );

    let mut devices = fleet(DEVICES);
    let t = check_fleet(
        ws.store().clone(),
        PRODUCTION,
        &key,
        env.now(),
        &mut devices,
    )
    .await;
    t.assert_no_refusals("a first rollout at 5 %");
    assert!(
        (share(t.via_rollout) - 5.0).abs() <= TOLERANCE,
        "{} % of devices are in a 5 % rollout",
        share(t.via_rollout)
    );
    assert_eq!(
        t.built_in,
        DEVICES - t.via_rollout,
        "with current null, every device outside the rollout must keep its built-in bundle"
    );
    assert!(
        devices.iter().all(|d| d.last_accepted.is_some()),
        "the pointer itself is valid, so every device must accept (and remember) it"
    );
}
