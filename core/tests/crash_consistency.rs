//! Crash consistency: a publish and a promotion are cut off after each single store write in
//! turn (N = 0, 1, 2, … writes allowed, then every write fails as if the process died). After
//! every interrupted attempt the real store must be closed under reference — no pointer, log
//! entry, statement or manifest names anything missing — so every device still runs a
//! complete release; and running the operation again from a healthy console must leave a
//! consistent store: the log chain reads, each pointer carries its log's seq, and devices
//! get the expected release.

mod common;

use airlock_core::ops::pointer::read_unverified;
use airlock_core::registry::Registry;
use airlock_core::store::Store;
use airlock_core::store::faulty::FaultyStore;
use airlock_core::{Error, ErrorKind, Workspace};
use airlock_protocol::bucketing::{FULL, in_rollout};
use airlock_protocol::digest::sha256_hex;
use airlock_protocol::dsse::Envelope;
use airlock_protocol::layout;
use airlock_protocol::manifest::Manifest;
use airlock_protocol::statement::ReleaseStatement;
use common::*;
use std::sync::Arc;

const DEVICES: usize = 1_000;
/// No operation here needs more writes than this; reaching it means the loop never ends.
const MAX_WRITES: u64 = 40;

/// Every object in the store names only objects that exist and match their pins.
async fn assert_closed_under_reference(store: &dyn Store, when: &str) {
    let keys = store.list("", None).await.expect("the store lists");
    let get = |key: String| async move {
        store
            .get(&key, airlock_protocol::limits::Cap::new("object", u64::MAX))
            .await
            .expect("the store reads")
    };
    for key in &keys {
        let bytes = get(key.clone())
            .await
            .expect("a listed object exists")
            .bytes;
        if key.ends_with("/manifest.json") {
            let manifest = Manifest::from_bytes(&bytes).expect("a stored manifest parses");
            for file in &manifest.files {
                let blob = get(layout::blob_key(&file.sha256)).await;
                assert!(
                    blob.is_some_and(|b| sha256_hex(&b.bytes) == file.sha256),
                    "{when}: {key} names blob {} ({}) that is missing; blobs must land before \
                     the manifest",
                    file.sha256,
                    file.path
                );
            }
        } else if key.ends_with("/release.dsse.json") {
            let env = Envelope::from_bytes(&bytes).expect("a stored statement is an envelope");
            let payload = env.payload_bytes().expect("its payload decodes");
            let statement = ReleaseStatement::from_payload(&payload).expect("it parses");
            let manifest = get(layout::manifest_key(&statement.app, &statement.version)).await;
            assert!(
                manifest.is_some_and(|m| statement.manifest.matches(&m.bytes)),
                "{when}: {key} pins a manifest that is missing or different; the manifest \
                 must land before the statement"
            );
        } else if key.ends_with("/pointer.dsse.json") {
            let pointer = read_unverified(&bytes).expect("a stored pointer parses");
            let state = state_in_store(store, &pointer.app).await;
            let head = state.head.as_ref().map_or(0, |h| h.seq);
            assert!(
                pointer.seq <= head,
                "{when}: {key} is ahead of its log (seq {})",
                pointer.seq
            );
            let pins = pointer.current.iter().map(|c| (&c.version, &c.release));
            let pins = pins.chain(pointer.rollout.iter().map(|r| (&r.version, &r.release)));
            for (version, pin) in pins {
                let logged = state.releases.get(version).map(|r| &r.release);
                assert_eq!(
                    logged,
                    Some(pin),
                    "{when}: {key} names {version}, which the log must have released first"
                );
            }
        }
    }
    let state = state_in_store(store, APP).await;
    for r in state.releases.values() {
        let statement = get(layout::statement_key(APP, &r.version)).await;
        assert!(
            statement.is_some_and(|s| r.release.matches(&s.bytes)),
            "{when}: the log released {} but its statement is missing or different; the \
             statement must land before the log entry",
            r.version
        );
    }
}

/// How a healthy console re-ran the operation.
enum Rerun {
    Completed,
    /// Refused because the log already records the operation (the interrupted attempt
    /// committed it before dying).
    AlreadyDone,
}

/// Re-runs `op`; an error is acceptable only when the log already holds the operation.
fn judge_rerun<T>(result: airlock_core::Result<T>, already_logged: bool, what: &str) -> Rerun {
    match result {
        Ok(_) => Rerun::Completed,
        Err(e) if already_logged && e.kind().is_refusal() => Rerun::AlreadyDone,
        Err(e) => panic!("{what} must complete when run again on a healthy store: {e}"),
    }
}

fn assert_injected(result: Result<(), Error>, faulty: &FaultyStore, n: u64, what: &str) {
    let err = result.expect_err("checked by the caller");
    // Before the log append the store's error comes through as it is; after it, the command
    // has happened and says so ("committed as seq N; … pending", with the store's error).
    assert!(
        err.kind() == ErrorKind::Store
            || (err.kind() == ErrorKind::Committed && err.to_string().contains("injected failure")),
        "{what} with {n} writes allowed must fail with the store's error, not another: {err}"
    );
    assert_eq!(
        faulty.writes_done(),
        n,
        "{what} must have used every write it was allowed"
    );
}

/// A console on `env`'s store that fails after `n` writes, sharing `registry` if given.
async fn interrupted_console(
    env: &Env,
    n: u64,
    registry: Option<Registry>,
) -> (Workspace, Arc<FaultyStore>) {
    let faulty = Arc::new(FaultyStore::new(env.store(), n));
    let ws = env.console_with(Some(faulty.clone()), registry).await;
    (ws, faulty)
}

async fn publish_interrupted_at_every_write(share_registry: bool, keys: &Env) -> u64 {
    let label = if share_registry {
        "same registry"
    } else {
        "fresh registries"
    };
    for n in 0..MAX_WRITES {
        let env = Env::sharing_key(keys);
        let registry = Registry::in_memory().await.expect("a registry");
        let baseline = env.console_with(None, Some(registry.clone())).await;
        release(&baseline, "ana", APP, "1.0.0")
            .await
            .expect("the baseline release");
        let key = baseline
            .signer()
            .await
            .expect("the key loads")
            .public_key()
            .clone();
        let mut devices = fleet(DEVICES);

        let shared = share_registry.then(|| registry.clone());
        let (ws, faulty) = interrupted_console(&env, n, shared).await;
        let result = release(&ws, "ana", APP, "1.1.0").await.map(|_| ());
        let when = format!("publish ({label}) cut off after {n} writes");
        let real = env.store();
        assert_closed_under_reference(real.as_ref(), &when).await;
        let t = check_fleet(real.clone(), STAGING, &key, env.now(), &mut devices).await;
        t.assert_no_refusals(&when);
        assert_eq!(
            t.running("1.0.0") + t.running("1.1.0"),
            DEVICES,
            "{when}: every device runs a complete release, old or new: {t:?}"
        );
        if result.is_ok() {
            assert_eq!(
                t.running("1.1.0") + t.via_holdout,
                DEVICES,
                "{when}: a finished publish reaches everyone but the holdout"
            );
            assert_pointer_current(real.as_ref(), APP, STAGING, &when).await;
            return n;
        }
        assert_injected(result, &faulty, n, &when);

        let rerun_ws = if share_registry {
            baseline
        } else {
            env.console().await
        };
        let logged = state_in_store(real.as_ref(), APP)
            .await
            .releases
            .contains_key("1.1.0");
        let rerun = release(&rerun_ws, "ana", APP, "1.1.0").await;
        if let Err(e) = &rerun {
            assert!(
                matches!(e, Error::Gates { violations, .. } if violations.len() == 1),
                "{when}: the only acceptable refusal on a rerun is `already released`: {e}"
            );
        }
        if let Rerun::Completed = judge_rerun(rerun, logged, &when) {
            assert_pointer_current(real.as_ref(), APP, STAGING, &format!("{when}, rerun")).await;
        }
        rerun_ws
            .sync()
            .await
            .expect("the log chain reads after the rerun");
        let when = format!("{when}, rerun and synced");
        assert_pointer_current(real.as_ref(), APP, STAGING, &when).await;
        assert_closed_under_reference(real.as_ref(), &when).await;
        let t = check_fleet(real.clone(), STAGING, &key, env.now(), &mut devices).await;
        t.assert_no_refusals(&when);
        assert_eq!(
            t.running("1.1.0") + t.via_holdout,
            DEVICES,
            "{when}: the publish is complete (but for the holdout kept on 1.0.0)"
        );
    }
    panic!("the publish never succeeded within {MAX_WRITES} writes ({label})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_cut_off_after_any_write_never_exposes_a_missing_object() {
    let keys = Env::new();
    // Blobs (3, or 2 when the registry already knows the shared asset), manifest, statement,
    // log entry, pointer: the operation cannot be complete with fewer writes.
    let same = publish_interrupted_at_every_write(true, &keys).await;
    assert!(
        same >= 6,
        "a publish with 2 new blobs finished after only {same} writes"
    );
    let fresh = publish_interrupted_at_every_write(false, &keys).await;
    assert!(
        fresh >= 7,
        "a publish with 3 blobs to check finished after only {fresh} writes"
    );
}

/// Production runs 1.0.0; 1.1.0 is released into Staging and approved for Production.
async fn promotion_baseline(env: &Env) -> Workspace {
    let ws = env.console().await;
    ship(&ws, "1.0.0").await;
    release(&ws, "ana", APP, "1.1.0")
        .await
        .expect("1.1.0 passes the gates");
    ws.approve(&by("ben"), APP, "1.1.0", PRODUCTION)
        .await
        .expect("ben approves");
    ws
}

/// What a Production device must run once the promotion of 1.1.0 at `percent` is complete.
async fn expected_after_promotion(store: &dyn Store, install_id: &str, percent: f64) -> String {
    let pointer = stored_pointer(store, APP, PRODUCTION)
        .await
        .expect("a pointer");
    if percent >= 100.0 {
        // The holdout (5 % by default) keeps the last buckets on the release before.
        let h = pointer
            .holdout
            .expect("a completed promotion keeps a holdout");
        let held = !in_rollout(&h.holdout_id, install_id, FULL - h.basis_points);
        return if held { "1.0.0" } else { "1.1.0" }.into();
    }
    let rollout = pointer.rollout.expect("the pointer carries the rollout");
    let inside = in_rollout(&rollout.rollout_id, install_id, rollout.basis_points);
    if inside { "1.1.0" } else { "1.0.0" }.into()
}

async fn promotion_interrupted_at_every_write(percent: f64, keys: &Env) -> u64 {
    for n in 0..MAX_WRITES {
        let env = Env::sharing_key(keys);
        let baseline = promotion_baseline(&env).await;
        let key = baseline
            .signer()
            .await
            .expect("the key loads")
            .public_key()
            .clone();
        let mut devices = fleet(DEVICES);
        let real = env.store();
        let t = check_fleet(real.clone(), PRODUCTION, &key, env.now(), &mut devices).await;
        assert_eq!(
            t.running("1.0.0"),
            DEVICES,
            "the baseline serves 1.0.0 in Production"
        );

        let (ws, faulty) = interrupted_console(&env, n, None).await;
        let request = promotion("1.1.0", Some(percent));
        let result = ws.promote(&by("ana"), &request).await.map(|_| ());
        let when = format!("promotion to {percent} % cut off after {n} writes");
        assert_closed_under_reference(real.as_ref(), &when).await;
        let t = check_fleet(real.clone(), PRODUCTION, &key, env.now(), &mut devices).await;
        t.assert_no_refusals(&when);
        assert_eq!(
            t.running("1.0.0") + t.running("1.1.0"),
            DEVICES,
            "{when}: every device runs 1.0.0 or 1.1.0: {t:?}"
        );
        let finished = result.is_ok();
        if !finished {
            assert_injected(result, &faulty, n, &when);
            let state = state_in_store(real.as_ref(), APP).await;
            let logged = state.channel(PRODUCTION).rollout.is_some()
                || state.channel(PRODUCTION).current.as_deref() == Some("1.1.0");
            // Alternate between the baseline's registry and a brand-new console.
            let rerun_ws = if n % 2 == 0 {
                baseline
            } else {
                env.console().await
            };
            let rerun = rerun_ws.promote(&by("ana"), &request).await;
            if let Rerun::Completed = judge_rerun(rerun, logged, &when) {
                let when = format!("{when}, rerun");
                assert_pointer_current(real.as_ref(), APP, PRODUCTION, &when).await;
            }
            rerun_ws
                .sync()
                .await
                .expect("the log chain reads after the rerun");
        }
        let when = if finished {
            when
        } else {
            format!("{when}, rerun and synced")
        };
        assert_pointer_current(real.as_ref(), APP, PRODUCTION, &when).await;
        assert_closed_under_reference(real.as_ref(), &when).await;
        let t = check_fleet(real.clone(), PRODUCTION, &key, env.now(), &mut devices).await;
        t.assert_no_refusals(&when);
        for d in &devices {
            let expected = expected_after_promotion(real.as_ref(), &d.install_id, percent).await;
            assert_eq!(
                d.running.as_deref(),
                Some(expected.as_str()),
                "{when}: {} must run what the completed promotion gives it",
                d.install_id
            );
        }
        let state = state_in_store(real.as_ref(), APP).await;
        let promotions = state.head.as_ref().map(|h| h.seq);
        let fresh = env.console().await;
        let synced = fresh
            .sync()
            .await
            .expect("a third console reads the whole log");
        assert_eq!(
            synced.iter().find(|s| s.app == APP).map(|s| s.entries),
            promotions,
            "{when}: a console with a fresh registry sees the same log"
        );
        let entries = fresh.history(APP).await.expect("the history reads");
        let kinds = entries
            .iter()
            .filter(|e| e.entry.event.kind() == "promoted")
            .count();
        assert_eq!(
            kinds, 2,
            "{when}: 1.0.0 and 1.1.0 were each promoted exactly once"
        );
        if finished {
            return n;
        }
    }
    panic!("the promotion to {percent} % never succeeded within {MAX_WRITES} writes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_cut_off_after_any_write_leaves_devices_on_a_complete_release() {
    let keys = Env::new();
    for percent in [5.0, 100.0] {
        let n = promotion_interrupted_at_every_write(percent, &keys).await;
        assert!(
            n >= 2,
            "a promotion writes a log entry and a pointer, not {n} writes"
        );
    }
}

/// release.rs promises "a publish interrupted at any point completes when run again". Cut
/// off after its log entry but before its pointer, running it again must finish it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_cut_off_before_its_pointer_completes_when_run_again() {
    let keys = Env::new();
    for n in 0..MAX_WRITES {
        let env = Env::sharing_key(&keys);
        let ws = env.console().await;
        release(&ws, "ana", APP, "1.0.0")
            .await
            .expect("the baseline release");
        let (faulty_ws, _) = interrupted_console(&env, n, None).await;
        if release(&faulty_ws, "ana", APP, "1.1.0").await.is_ok() {
            panic!("never found a cut between the log entry and the pointer");
        }
        let real = env.store();
        if !state_in_store(real.as_ref(), APP)
            .await
            .releases
            .contains_key("1.1.0")
        {
            continue;
        }
        // The log holds 1.1.0; its pointer was never written. Run the publish again.
        let rerun = release(&ws, "ana", APP, "1.1.0").await;
        let pointer = stored_pointer(real.as_ref(), APP, STAGING)
            .await
            .expect("a pointer");
        assert_eq!(
            pointer.current.map(|c| c.version).as_deref(),
            Some("1.1.0"),
            "running the interrupted publish again must bring Staging to 1.1.0, but it \
             answered {rerun:?} and left the pointer on the old release"
        );
        return;
    }
}

/// An interrupted publish whose blobs a teammate's `gc` then removed must not be completed
/// by trusting the local registry's list of known blobs: devices would get `file_missing`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_retried_after_a_gc_elsewhere_uploads_the_deleted_blobs_again() {
    let env = Env::new();
    let registry = Registry::in_memory().await.expect("a registry");
    let ana = env.console_with(None, Some(registry.clone())).await;
    release(&ana, "ana", APP, "1.0.0")
        .await
        .expect("the baseline release");
    let key = ana
        .signer()
        .await
        .expect("the key loads")
        .public_key()
        .clone();

    // 1.1.0 has two new files; both are uploaded, then the manifest write fails.
    let (faulty_ws, faulty) = interrupted_console(&env, 2, Some(registry.clone())).await;
    let cut = release(&faulty_ws, "ana", APP, "1.1.0").await;
    assert!(
        cut.is_err() && faulty.writes_done() == 2,
        "the publish stops before its manifest"
    );

    let teammate = env.console().await;
    let report = teammate.gc(false).await.expect("gc runs");
    assert_eq!(
        report.unreferenced.len(),
        2,
        "the two orphaned blobs are collected: {report:?}"
    );

    release(&ana, "ana", APP, "1.1.0")
        .await
        .expect("the publish completes when run again");
    let mut devices = fleet(100);
    let t = check_fleet(env.store(), STAGING, &key, env.now(), &mut devices).await;
    t.assert_no_refusals("1.1.0 published after a gc removed its orphaned blobs");
    assert_eq!(
        t.running("1.1.0") + t.via_holdout,
        100,
        "every Staging device runs the new release, but for its holdout"
    );
}
