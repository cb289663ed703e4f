//! The release rules, one scenario each: protected channels take releases only by approved
//! promotion (approved by someone other than the author), a paused rollout does not grow,
//! rollback goes only to a release known to be good, quarantine is final, retention keeps
//! the current release plus two rollback-ready ones, `resign` refreshes a pointer, a pointer
//! lagging its log is repaired, a second console rebuilds the same registry from the store,
//! and `gc` removes only blobs no manifest references. A refused command writes nothing.

mod common;

use airlock_core::ops::rollout::ExpandTo;
use airlock_core::state::Placement;
use airlock_core::store::faulty::FaultyStore;
use airlock_core::{ErrorKind, Workspace};
use airlock_protocol::layout;
use common::*;
use std::sync::Arc;

/// The log's head seq, to show that a refused command appended nothing.
async fn head(ws: &Workspace) -> u64 {
    ws.load(APP)
        .await
        .expect("the state loads")
        .head
        .map_or(0, |h| h.seq)
}

async fn assert_refused<T: std::fmt::Debug>(
    ws: &Workspace,
    what: &str,
    expected: ErrorKind,
    result: impl std::future::Future<Output = airlock_core::Result<T>>,
) -> String {
    let before = head(ws).await;
    let (kind, err) = kind_of(what, result.await);
    assert_eq!(kind, expected, "{what}: {err}");
    assert_eq!(
        head(ws).await,
        before,
        "{what} was refused, so it must not append to the log"
    );
    err.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releasing_straight_into_a_protected_channel_is_refused() {
    let env = Env::new();
    let ws = env.console().await;
    let dir = app_bundle("1.0.0");
    let mut request = release_request(APP, "1.0.0", dir.path());
    request.channel = Some(PRODUCTION.into());
    let result = ws
        .release(&by("ana"), &request, &airlock_core::progress::Silent)
        .await;
    let (kind, err) = kind_of("releasing into Production", result);
    assert_eq!(kind, ErrorKind::Refused, "{err}");
    assert!(
        err.to_string().contains("promote"),
        "the message says how to get there: {err}"
    );
    assert!(
        env.store_files().is_empty(),
        "a refused release must write nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotion_to_production_needs_an_approval_from_someone_other_than_the_author() {
    let env = Env::new();
    let ws = env.console().await;
    release(&ws, "ana", APP, "1.0.0")
        .await
        .expect("1.0.0 passes the gates");
    let request = promotion("1.0.0", None);

    let message = assert_refused(
        &ws,
        "promoting without approval",
        ErrorKind::ApprovalMissing,
        ws.promote(&by("ana"), &request),
    )
    .await;
    assert!(
        ErrorKind::ApprovalMissing.is_refusal(),
        "a missing approval exits as a refusal"
    );
    assert!(
        message.contains("airlock approve"),
        "the message says what to do: {message}"
    );
    let message = assert_refused(
        &ws,
        "the author approving",
        ErrorKind::Refused,
        ws.approve(&by("ana"), APP, "1.0.0", PRODUCTION),
    )
    .await;
    assert!(message.contains("someone else"), "{message}");

    // An approval for another channel does not count for Production.
    ws.approve(&by("ben"), APP, "1.0.0", STAGING)
        .await
        .expect("ben may approve for Staging");
    assert_refused(
        &ws,
        "promoting with a Staging approval",
        ErrorKind::ApprovalMissing,
        ws.promote(&by("ana"), &request),
    )
    .await;

    ws.approve(&by("ben"), APP, "1.0.0", PRODUCTION)
        .await
        .expect("ben approves for Production");
    assert_refused(
        &ws,
        "approving twice",
        ErrorKind::Refused,
        ws.approve(&by("ben"), APP, "1.0.0", PRODUCTION),
    )
    .await;
    ws.promote(&by("ana"), &request)
        .await
        .expect("approved by ben, the author may promote");
    let status = status_label(&ws, "1.0.0", PRODUCTION).await;
    assert_eq!(
        status.as_deref(),
        Some("rolling-out"),
        "1.0.0 starts at the plan's 5 %"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_rollout_does_not_expand_until_resumed() {
    let env = Env::new();
    let ws = env.console().await;
    rolling_out_at_5_percent(&ws).await;
    ws.pause(&by("ana"), APP, PRODUCTION)
        .await
        .expect("a running rollout can be paused");
    let message = assert_refused(
        &ws,
        "expanding while paused",
        ErrorKind::Refused,
        ws.expand(&by("ana"), APP, PRODUCTION, ExpandTo::Next),
    )
    .await;
    assert!(
        message.contains("paused") && message.contains("resume"),
        "{message}"
    );
    assert_refused(
        &ws,
        "expanding to 50 % while paused",
        ErrorKind::Refused,
        ws.expand(&by("ana"), APP, PRODUCTION, ExpandTo::Percent(50.0)),
    )
    .await;
    assert_refused(
        &ws,
        "pausing twice",
        ErrorKind::Refused,
        ws.pause(&by("ana"), APP, PRODUCTION),
    )
    .await;
    let status = ws.status(APP).await.expect("status reads");
    let row = status
        .releases
        .iter()
        .find(|r| r.version == "1.1.0" && r.channel == PRODUCTION);
    assert!(
        row.is_some_and(|r| r.paused),
        "the status must show the pause: {row:?}"
    );

    ws.resume(&by("ana"), APP, PRODUCTION)
        .await
        .expect("a paused rollout can be resumed");
    let expanded = ws.expand(&by("ana"), APP, PRODUCTION, ExpandTo::Next).await;
    let state = expanded.expect("a resumed rollout expands").state;
    let bp = state.channel(PRODUCTION).rollout.map(|r| r.basis_points);
    assert_eq!(bp, Some(2000), "from 5 % the plan's next step is 20 %");
    assert_refused(
        &ws,
        "shrinking a rollout",
        ErrorKind::Refused,
        ws.expand(&by("ana"), APP, PRODUCTION, ExpandTo::Percent(10.0)),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_goes_only_to_a_release_that_was_current_there() {
    let env = Env::new();
    let ws = env.console().await;
    with_approved_candidate(&ws).await;
    let message = assert_refused(
        &ws,
        "rolling back the first release",
        ErrorKind::Refused,
        ws.rollback(&by("ana"), APP, PRODUCTION, None),
    )
    .await;
    assert!(message.contains("no rollback-ready"), "{message}");

    ws.promote(&by("ana"), &promotion("1.1.0", None))
        .await
        .expect("a rollout at 5 %");
    ws.revert(&by("ana"), APP, PRODUCTION)
        .await
        .expect("the rollout is reverted");
    let message = assert_refused(
        &ws,
        "rolling back to a reverted release",
        ErrorKind::Refused,
        ws.rollback(&by("ana"), APP, PRODUCTION, Some("1.1.0")),
    )
    .await;
    assert!(message.contains("never current"), "{message}");
    assert_refused(
        &ws,
        "rolling back to the current release",
        ErrorKind::Refused,
        ws.rollback(&by("ana"), APP, PRODUCTION, Some("1.0.0")),
    )
    .await;
    assert_refused(
        &ws,
        "rolling back to an unknown release",
        ErrorKind::NotFound,
        ws.rollback(&by("ana"), APP, PRODUCTION, Some("9.9.9")),
    )
    .await;
    assert_eq!(
        ws.load(APP)
            .await
            .expect("state")
            .channel(PRODUCTION)
            .current
            .as_deref(),
        Some("1.0.0"),
        "after all these refusals Production still runs 1.0.0"
    );
}

/// A release that was only ever rolled out partly and reverted is not known to be good,
/// and archiving it must not change that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archiving_a_reverted_release_does_not_make_it_a_rollback_target() {
    let env = Env::new();
    let ws = env.console().await;
    rolling_out_at_5_percent(&ws).await;
    ws.revert(&by("ana"), APP, PRODUCTION)
        .await
        .expect("the rollout is reverted");
    ws.archive(&by("ana"), APP, "1.1.0", PRODUCTION)
        .await
        .expect("a reverted release archives");
    let message = assert_refused(
        &ws,
        "rolling back to a release that was only reverted, then archived",
        ErrorKind::Refused,
        ws.rollback(&by("ana"), APP, PRODUCTION, Some("1.1.0")),
    )
    .await;
    assert!(message.contains("never current"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarantined_release_is_never_served_again() {
    let env = Env::new();
    let ws = env.console().await;
    with_approved_candidate(&ws).await;
    release(&ws, "ana", APP, "1.2.0")
        .await
        .expect("1.2.0 passes the gates");
    let message = assert_refused(
        &ws,
        "quarantining what Staging serves",
        ErrorKind::Refused,
        ws.quarantine(&by("ana"), APP, "1.2.0"),
    )
    .await;
    assert!(
        message.contains(STAGING),
        "the message names where it is served: {message}"
    );

    ws.quarantine(&by("ana"), APP, "1.1.0")
        .await
        .expect("1.1.0 is no longer served anywhere");
    let message = assert_refused(
        &ws,
        "promoting a quarantined release",
        ErrorKind::Refused,
        ws.promote(&by("ana"), &promotion("1.1.0", None)),
    )
    .await;
    assert!(message.contains("quarantined"), "{message}");
    assert_refused(
        &ws,
        "approving a quarantined release",
        ErrorKind::Refused,
        ws.approve(&by("carl"), APP, "1.1.0", PRODUCTION),
    )
    .await;
    assert_refused(
        &ws,
        "rolling back to a quarantined release",
        ErrorKind::Refused,
        ws.rollback(&by("ana"), APP, STAGING, Some("1.1.0")),
    )
    .await;
    assert_refused(
        &ws,
        "quarantining twice",
        ErrorKind::Refused,
        ws.quarantine(&by("ana"), APP, "1.1.0"),
    )
    .await;

    let rolled = ws
        .rollback(&by("ana"), APP, STAGING, None)
        .await
        .expect("1.0.0 is ready");
    assert_eq!(
        rolled.state.channel(STAGING).current.as_deref(),
        Some("1.0.0"),
        "a plain rollback must skip the quarantined 1.1.0 and land on 1.0.0"
    );
    assert_eq!(
        status_label(&ws, "1.1.0", STAGING).await.as_deref(),
        Some("quarantined")
    );
}

/// A rollback in Production quarantines the release it replaces; Staging, which still has it
/// as current, must not keep serving a release that is quarantined (the `quarantine` command
/// itself refuses while a release is served anywhere).
/// A holdout keeps the previous release for its share of devices, is named in the pointer,
/// cannot have its release archived while it lasts, ends when that release is quarantined
/// (the pointer drops it at once), and is gone from the pointer once over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holdout_keeps_the_previous_release_until_it_ends_or_is_quarantined() {
    let env = Env::new();
    let ws = env.console().await;
    ship(&ws, "1.0.0").await;
    ship(&ws, "1.1.0").await;
    let pointer = stored_pointer(env.store().as_ref(), APP, PRODUCTION)
        .await
        .expect("Production has a pointer");
    let h = pointer
        .holdout
        .expect("the default 5 % holdout is in the pointer");
    assert_eq!((h.version.as_str(), h.basis_points), ("1.0.0", 500));
    assert_eq!(h.until, env.now().plus_seconds(72 * 3600));
    let message = assert_refused(
        &ws,
        "archiving the release a holdout keeps",
        ErrorKind::Refused,
        ws.archive(&by("ana"), APP, "1.0.0", PRODUCTION),
    )
    .await;
    assert!(message.contains("holdout"), "{message}");

    // Quarantining 1.0.0 (from Staging's side, where nothing serves it) ends the holdout.
    ws.quarantine(&by("ana"), APP, "1.0.0")
        .await
        .expect("quarantine ends the holdout that kept it");
    let state = ws.load(APP).await.unwrap();
    assert!(state.channel(PRODUCTION).holdout.is_none());
    let pointer = stored_pointer(env.store().as_ref(), APP, PRODUCTION)
        .await
        .unwrap();
    assert!(
        pointer.holdout.is_none(),
        "devices are told at once: {pointer:?}"
    );

    // Another stay: its holdout is over after 72 h, and the next pointer drops it.
    ship(&ws, "1.2.0").await;
    let state = ws.load(APP).await.unwrap();
    assert_eq!(
        state.channel(PRODUCTION).holdout.map(|h| h.version),
        Some("1.1.0".to_string())
    );
    env.clock.advance(73 * 3600);
    ws.resign(&by("ana"), APP, PRODUCTION)
        .await
        .expect("a re-sign after the holdout ended");
    let pointer = stored_pointer(env.store().as_ref(), APP, PRODUCTION)
        .await
        .unwrap();
    assert!(
        pointer.holdout.is_none(),
        "an ended holdout is not re-signed"
    );
    ws.archive(&by("ana"), APP, "1.1.0", PRODUCTION)
        .await
        .expect("archived once its holdout is over");
}

/// A holdout never reaches devices the rollout already gave the new release: after a 90 %
/// step, a configured 20 % holdout keeps only the 10 % left out. The entry that sets a
/// holdout is written in the format that marks it (3), the others stay at 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holdout_is_capped_by_the_rollout_s_last_step_and_marks_its_entry() {
    let env = Env::with_config(|c| {
        let p = c.channels.get_mut(PRODUCTION).unwrap();
        p.plan = vec![5.0, 90.0, 100.0];
        p.holdout = 20.0;
    });
    let ws = env.console().await;
    with_approved_candidate(&ws).await;
    ws.promote(&by("ana"), &promotion("1.1.0", None))
        .await
        .unwrap();
    ws.expand(&by("ana"), APP, PRODUCTION, ExpandTo::Next)
        .await
        .unwrap();
    let done = ws
        .expand(&by("ana"), APP, PRODUCTION, ExpandTo::Next)
        .await
        .unwrap();
    let state = ws.load(APP).await.unwrap();
    let h = state.channel(PRODUCTION).holdout.expect("a holdout");
    assert_eq!(
        h.basis_points, 1000,
        "20 % configured, but only the 10 % the rollout left out are held"
    );
    assert_eq!(done.entry.entry.format_version, 3, "it sets a holdout");
    let log = ws.history(APP).await.unwrap();
    assert!(
        log.iter()
            .filter(|e| !matches!(
                e.entry.event,
                airlock_core::log::Event::Expanded { .. }
                    | airlock_core::log::Event::Promoted { .. }
                    | airlock_core::log::Event::Released { .. }
            ))
            .all(|e| e.entry.format_version == 2),
        "entries without holdout fields stay at format 2"
    );
    // The whole log, read afresh, passes the rules (the capped holdout among them).
    env.console().await.load(APP).await.expect("the log folds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_leaves_no_channel_serving_the_quarantined_release() {
    let env = Env::new();
    let ws = env.console().await;
    ship(&ws, "1.0.0").await;
    ship(&ws, "1.1.0").await;
    ws.rollback(&by("ana"), APP, PRODUCTION, None)
        .await
        .expect("1.0.0 is rollback-ready");
    let state = ws.load(APP).await.expect("the state loads");
    assert!(
        state.releases["1.1.0"].quarantined.is_some(),
        "the rollback quarantined 1.1.0"
    );
    let key = ws
        .signer()
        .await
        .expect("the key loads")
        .public_key()
        .clone();
    let mut devices = fleet(100);
    let t = check_fleet(env.store(), STAGING, &key, env.now(), &mut devices).await;
    assert_eq!(
        t.running("1.1.0"),
        0,
        "Staging devices must not run 1.1.0 once it is quarantined (its status there is {:?})",
        status_label(&ws, "1.1.0", STAGING).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_the_current_release_and_two_rollback_ready_ones() {
    let env = Env::new();
    let ws = env.console().await;
    for v in ["1.0.0", "1.1.0", "1.2.0", "1.3.0"] {
        ship(&ws, v).await;
    }
    let expected = [
        ("1.3.0", "current"),
        ("1.2.0", "rollback-ready"),
        ("1.1.0", "rollback-ready"),
        ("1.0.0", "archived"),
    ];
    for (v, label) in expected {
        assert_eq!(
            status_label(&ws, v, PRODUCTION).await.as_deref(),
            Some(label),
            "after four full releases, {v} must be {label} in Production"
        );
    }
    let state = ws.load(APP).await.expect("the state loads");
    assert_eq!(
        state.rollback_candidates(PRODUCTION),
        ["1.2.0", "1.1.0"],
        "newest first"
    );
    assert_eq!(
        state.placement("1.0.0", STAGING),
        Some(Placement::Archived),
        "Staging too"
    );

    ship(&ws, "1.4.0").await;
    assert_eq!(
        status_label(&ws, "1.1.0", PRODUCTION).await.as_deref(),
        Some("archived")
    );
    assert_eq!(
        status_label(&ws, "1.2.0", PRODUCTION).await.as_deref(),
        Some("rollback-ready")
    );
    assert_refused(
        &ws,
        "promoting an archived release",
        ErrorKind::Refused,
        ws.promote(&by("ana"), &promotion("1.0.0", Some(100.0))),
    )
    .await;
    // Archiving changes only the status: the blobs stay for a rollback to an archived release.
    let old = state_in_store(ws.store().as_ref(), APP).await.releases["1.0.0"].clone();
    let statement = ws
        .store()
        .get(
            &layout::statement_key(APP, "1.0.0"),
            airlock_protocol::limits::Cap::STATEMENT,
        )
        .await
        .expect("reads");
    assert!(
        statement.is_some_and(|s| old.release.matches(&s.bytes)),
        "archived stays intact"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resign_refreshes_an_expiring_pointer_with_a_new_seq() {
    let env = Env::new();
    let ws = env.console().await;
    ship(&ws, "1.0.0").await;
    let key = ws
        .signer()
        .await
        .expect("the key loads")
        .public_key()
        .clone();
    let mut devices = fleet(200);
    let t = check_fleet(env.store(), PRODUCTION, &key, env.now(), &mut devices).await;
    assert_eq!(t.running("1.0.0"), 200, "every device runs 1.0.0");
    let before = stored_pointer(ws.store().as_ref(), APP, PRODUCTION)
        .await
        .expect("a pointer");

    env.clock.advance(8 * 24 * 3600);
    let t = check_fleet(env.store(), PRODUCTION, &key, env.now(), &mut devices).await;
    assert_eq!(
        t.refusals.get("pointer_expired").map(|r| r.0),
        Some(200),
        "a week-old pointer must be refused as expired (freeze protection): {t:?}"
    );
    let status = ws.status(APP).await.expect("status reads");
    assert!(
        status
            .warnings
            .iter()
            .any(|w| w.contains("EXPIRED") && w.contains("resign")),
        "status must warn about the expired pointer: {:?}",
        status.warnings
    );

    let resigned = ws
        .resign(&by("ana"), APP, PRODUCTION)
        .await
        .expect("Production served 1.0.0");
    let after = stored_pointer(ws.store().as_ref(), APP, PRODUCTION)
        .await
        .expect("a pointer");
    assert!(
        after.seq > before.seq,
        "a re-signed pointer needs a new seq ({after:?})"
    );
    assert!(
        after.expires_at > before.expires_at,
        "and a later expiry ({after:?})"
    );
    assert!(after.expires_at > env.now(), "the new pointer is valid now");
    assert_eq!(
        after.current, before.current,
        "re-signing must not change what is served"
    );
    assert_eq!(
        resigned.pointers.len(),
        1,
        "only Production's pointer was re-signed"
    );
    let t = check_fleet(env.store(), PRODUCTION, &key, env.now(), &mut devices).await;
    t.assert_no_refusals("after resign");
    assert_eq!(
        t.running("1.0.0"),
        200,
        "devices accept the re-signed pointer"
    );

    let fresh = Env::sharing_key(&env);
    let other = fresh.console().await;
    release(&other, "ana", APP, "1.0.0")
        .await
        .expect("a release into Staging");
    assert_refused(
        &other,
        "re-signing a channel that never served",
        ErrorKind::Refused,
        other.resign(&by("ana"), APP, PRODUCTION),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pointer_lagging_its_log_is_repaired_by_the_next_command_and_by_sync() {
    let env = Env::new();
    let ws = env.console().await;
    with_approved_candidate(&ws).await;
    let store = env.store();

    // The promotion's log entry lands; its pointer write fails.
    let faulty = env
        .console_with(Some(Arc::new(FaultyStore::new(env.store(), 1))), None)
        .await;
    let (kind, err) = kind_of("a promotion whose pointer write fails", {
        faulty.promote(&by("ana"), &promotion("1.1.0", None)).await
    });
    assert_eq!(
        kind,
        ErrorKind::Committed,
        "after the append the command has happened, and says so: {err}"
    );
    let state = state_in_store(store.as_ref(), APP).await;
    assert!(
        state.channel(PRODUCTION).rollout.is_some(),
        "the log append is the commit"
    );
    let lagging = stored_pointer(store.as_ref(), APP, PRODUCTION)
        .await
        .expect("old pointer");
    assert!(
        lagging.rollout.is_none(),
        "the stored pointer is still the old one"
    );
    let status = ws.status(APP).await.expect("status reads");
    let production = status
        .channels
        .iter()
        .find(|c| c.channel == PRODUCTION)
        .expect("listed");
    assert!(
        production.pointer.as_ref().is_some_and(|p| p.lagging),
        "status flags the lag"
    );
    assert!(
        status.warnings.iter().any(|w| w.contains("lags")),
        "{:?}",
        status.warnings
    );

    // The next command (here a pause, which does not itself move the pointer) repairs it.
    ws.pause(&by("ana"), APP, PRODUCTION)
        .await
        .expect("the rollout can be paused");
    assert_pointer_current(store.as_ref(), APP, PRODUCTION, "after the next command").await;
    let pointer = stored_pointer(store.as_ref(), APP, PRODUCTION)
        .await
        .expect("a pointer");
    assert_eq!(
        pointer.rollout.map(|r| r.basis_points),
        Some(500),
        "devices now see 5 %"
    );
    ws.resume(&by("ana"), APP, PRODUCTION)
        .await
        .expect("resumed");

    // Again, and this time `sync` repairs it.
    let faulty = env
        .console_with(Some(Arc::new(FaultyStore::new(env.store(), 1))), None)
        .await;
    let expand = faulty
        .expand(&by("ana"), APP, PRODUCTION, ExpandTo::Next)
        .await;
    assert_eq!(
        kind_of("an expansion whose pointer fails", expand).0,
        ErrorKind::Committed
    );
    let lagging = stored_pointer(store.as_ref(), APP, PRODUCTION)
        .await
        .expect("a pointer");
    assert_eq!(
        lagging.rollout.map(|r| r.basis_points),
        Some(500),
        "the pointer lags at 5 %"
    );
    let synced = ws.sync().await.expect("sync reads the log");
    let repaired: Vec<&str> = synced
        .iter()
        .flat_map(|s| &s.pointers)
        .map(|p| &*p.channel)
        .collect();
    assert_eq!(
        repaired,
        [PRODUCTION],
        "sync reports the one pointer it repaired"
    );
    assert_pointer_current(store.as_ref(), APP, PRODUCTION, "after sync").await;
    let pointer = stored_pointer(store.as_ref(), APP, PRODUCTION)
        .await
        .expect("a pointer");
    assert_eq!(
        pointer.rollout.map(|r| r.basis_points),
        Some(2000),
        "devices now see 20 %"
    );
    let again = ws.sync().await.expect("sync reads the log");
    assert!(
        again.iter().all(|s| s.pointers.is_empty()),
        "nothing is left to repair"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_console_with_a_fresh_registry_sees_the_same_statuses_after_sync() {
    let env = Env::new();
    let ws = env.console().await;
    rolling_out_at_5_percent(&ws).await;
    ws.pause(&by("ana"), APP, PRODUCTION).await.expect("paused");
    release(&ws, "ana", APP, "1.2.0")
        .await
        .expect("1.2.0 passes the gates");

    let second = env.console().await;
    assert!(
        second
            .registry()
            .statuses(APP)
            .await
            .expect("reads")
            .is_empty(),
        "nothing yet"
    );
    let synced = second
        .sync()
        .await
        .expect("the second console reads the store's log");
    let app = synced
        .iter()
        .find(|s| s.app == APP)
        .expect("the app is found in the store");
    assert_eq!(
        app.new_entries, app.entries,
        "a fresh registry takes every entry"
    );
    assert!(
        app.pointers.is_empty(),
        "nothing lagged, so nothing was re-written"
    );
    let mine = sorted_rows(ws.registry().statuses(APP).await.expect("reads"));
    let theirs = sorted_rows(second.registry().statuses(APP).await.expect("reads"));
    assert_eq!(
        theirs, mine,
        "the registry is a projection of the log, so both must agree"
    );
    assert!(
        theirs.iter().any(|r| r.paused),
        "the pause is part of what was rebuilt"
    );

    // The second console acts; the first sees it on its next read.
    second
        .resume(&by("carl"), APP, PRODUCTION)
        .await
        .expect("carl resumes on console 2");
    let rows = sorted_rows(ws.status(APP).await.expect("status on console 1").releases);
    let theirs = sorted_rows(second.registry().statuses(APP).await.expect("reads"));
    assert_eq!(
        rows, theirs,
        "console 1 must pick up console 2's entry from the store"
    );
    let again = second.sync().await.expect("sync");
    assert!(
        again.iter().all(|s| s.new_entries == 0 && !s.rebuilt),
        "already in step"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_lists_then_deletes_only_blobs_no_manifest_references() {
    let env = Env::new();
    let ws = env.console().await;
    release(&ws, "ana", APP, "1.0.0")
        .await
        .expect("1.0.0 passes the gates");
    // An interrupted publish leaves one uploaded blob and no manifest.
    let faulty = env
        .console_with(Some(Arc::new(FaultyStore::new(env.store(), 1))), None)
        .await;
    let orphan_dir = bundle(&[("only-in-1.1.0.js", b"never published")]);
    let cut = release_path(&faulty, "1.1.0", orphan_dir.path()).await;
    assert_eq!(kind_of("the interrupted publish", cut).0, ErrorKind::Store);
    let orphan = layout::blob_key(&airlock_protocol::digest::sha256_hex(
        b"never published".as_slice(),
    ));
    let before = env.store_files();
    assert!(
        before.contains(&orphan),
        "the orphan blob is in the store: {before:?}"
    );

    let dry = ws.gc(true).await.expect("a dry run");
    assert_eq!(
        dry.unreferenced,
        std::slice::from_ref(&orphan),
        "only the orphan is unreferenced: {dry:?}"
    );
    assert_eq!(
        (dry.manifests, dry.referenced_blobs, dry.deleted),
        (1, 3, false),
        "{dry:?}"
    );
    assert_eq!(env.store_files(), before, "a dry run must delete nothing");

    let real = ws.gc(false).await.expect("a real run");
    assert_eq!(real.unreferenced, std::slice::from_ref(&orphan), "{real:?}");
    assert!(real.deleted);
    let after = env.store_files();
    assert!(!after.contains(&orphan), "the orphan is gone");
    assert_eq!(
        before.len() - after.len(),
        1,
        "and nothing else was deleted: {after:?}"
    );
    assert!(
        ws.gc(true).await.expect("gc").unreferenced.is_empty(),
        "nothing left to collect"
    );

    let key = ws
        .signer()
        .await
        .expect("the key loads")
        .public_key()
        .clone();
    let mut devices = fleet(50);
    let t = check_fleet(env.store(), STAGING, &key, env.now(), &mut devices).await;
    t.assert_no_refusals("after gc");
    assert_eq!(t.running("1.0.0"), 50, "every referenced blob survived gc");
    let state = ws.load(APP).await.expect("the state loads");
    ws.verify_intact(&state, "1.0.0", STAGING)
        .await
        .expect("1.0.0 is intact after gc");
}
