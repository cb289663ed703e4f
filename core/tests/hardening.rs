//! The engine's hardening, one scenario each: only a trusted key changes what devices get
//! (a forged or rule-breaking log entry is refused as tampered, naming its seq, and nothing
//! is signed for the app), keys are pinned (a desktop without the key refuses to sign and
//! never makes one), a retried command never does twice what it did once, an automatic
//! action refuses a rollout that moved on, a rollback is not held up by another channel's
//! store, and objects in the log folder that are not entries are passed over.

mod common;

use airlock_core::config::ChannelConfig;
use airlock_core::keychain::{Keychain, MemoryKeychain};
use airlock_core::log::{Event, LogEntry};
use airlock_core::ops::rollout::{ExpandTo, PromoteRequest};
use airlock_core::registry::Registry;
use airlock_core::store::Store;
use airlock_core::store::faulty::FaultyStore;
use airlock_core::store::local::LocalStore;
use airlock_core::{ErrorKind, Expectation, Services, Workspace};
use airlock_protocol::digest::sha256_hex;
use airlock_protocol::dsse::{Envelope, LOG_PAYLOAD_TYPE};
use airlock_protocol::layout;
use common::*;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The rollout in progress in Production.
async fn production_rollout(ws: &Workspace) -> airlock_core::state::Rollout {
    ws.load(APP)
        .await
        .expect("the state loads")
        .channel(PRODUCTION)
        .rollout
        .expect("a rollout is in progress in Production")
}

/// The stored pointer's exact bytes.
async fn pointer_bytes(store: &dyn Store, channel: &str) -> Vec<u8> {
    store
        .get(
            &layout::pointer_key(APP, channel),
            airlock_protocol::limits::Cap::POINTER,
        )
        .await
        .expect("the store reads")
        .expect("the channel has a pointer")
        .bytes
}

/// Appends `event` by `actor` to the store's log by hand, chain-valid (the next seq, `prev`
/// naming the last entry's file), signed by `sign` — or, with `None`, by a key nobody
/// trusts, as a bucket writer without the release key would have to.
async fn forge(env: &Env, actor: &str, event: Event, sign: Option<&Workspace>) -> u64 {
    let signer = match sign {
        Some(ws) => ws.signer().await.expect("the trusted key signs"),
        None => {
            let keychain = MemoryKeychain::default();
            Arc::new(
                airlock_core::signer::LocalSigner::load_or_create(&keychain, "attacker")
                    .expect("an attacker's own key"),
            )
        }
    };
    forge_signed(env, actor, event, signer).await
}

/// [`forge`] with any signer (a leaked retired key, say).
async fn forge_signed(
    env: &Env,
    actor: &str,
    event: Event,
    signer: Arc<dyn airlock_core::signer::Signer>,
) -> u64 {
    let store = env.store();
    let state = state_in_store(store.as_ref(), APP).await;
    let head = state.head.clone().expect("the app has a log");
    let entry = LogEntry {
        format_version: event.format_version(),
        app: APP.into(),
        seq: head.seq + 1,
        prev: Some(head.hash),
        at: env.now(),
        actor: actor.into(),
        event,
        reason: None,
        command: Some("f0".repeat(16)),
    };
    let env_bytes =
        airlock_core::signer::sign_envelope(signer.as_ref(), LOG_PAYLOAD_TYPE, &entry.to_payload())
            .await
            .expect("the forger signs")
            .to_bytes();
    let key = layout::log_key(APP, entry.seq);
    store
        .put_new(&key, &env_bytes, airlock_core::store::ObjectClass::Log)
        .await
        .expect("anyone with s3:PutObject can write the log folder");
    entry.seq
}

fn expanded_to_full(rollout_id: String) -> Event {
    Event::Expanded {
        channel: PRODUCTION.into(),
        version: "1.1.0".into(),
        basis_points: 10_000,
        rollout_id,
        archived: vec![],
        holdout: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_entry_changes_nothing() {
    let env = Env::new();
    let ws = env.console().await;
    rolling_out_at_5_percent(&ws).await;
    let store = env.store();
    let before = pointer_bytes(store.as_ref(), PRODUCTION).await;
    let rollout = production_rollout(&ws).await;
    let event = expanded_to_full(rollout.rollout_id.clone());
    // Chain-valid and rule-valid (the author expanding her own rollout), but not signed by
    // a trusted key.
    let seq = forge(&env, "ana", event, None).await;

    // Passed over: it steers nothing, and it blocks nothing — a pause still happens, at the
    // next position the forged object does not hold.
    let fresh = env.console().await;
    let paused = fresh
        .pause(&by("ana"), APP, PRODUCTION)
        .await
        .expect("an unsigned object never blocks a pause");
    assert_eq!(paused.entry.entry.seq, seq + 1);
    let synced = fresh
        .sync_with(airlock_core::ops::sync::SyncDepth::Full)
        .await
        .unwrap();
    assert!(
        synced[0].foreign_objects[0].contains(&layout::log_key(APP, seq)),
        "the forged object is reported: {:?}",
        synced[0].foreign_objects
    );
    ws.load(APP)
        .await
        .expect("the first desktop reads around it too");
    assert_eq!(
        production_rollout(&ws).await.basis_points,
        500,
        "the forged expansion did not count"
    );
    assert_eq!(
        pointer_bytes(store.as_ref(), PRODUCTION).await,
        before,
        "nothing is signed for a tampered app: the pointer keeps its bytes"
    );
    let mut devices = fleet(2_000);
    let key = ws.signer().await.unwrap().public_key().clone();
    let tally = check_fleet(store, PRODUCTION, &key, env.now(), &mut devices).await;
    assert!(
        tally.running("1.1.0") < 200,
        "devices still see the 5 % rollout, not 100 %: {tally:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entry_signed_by_the_key_but_breaking_a_rule_is_refused() {
    let env = Env::new();
    let ws = env.console().await;
    ship(&ws, "1.0.0").await;
    release(&ws, "ana", APP, "1.1.0").await.unwrap();
    // Someone holding the key but not the rules: ana approves her own release.
    let event = Event::Approved {
        version: "1.1.0".into(),
        channel: PRODUCTION.into(),
    };
    let seq = forge(&env, "ana", event, Some(&ws)).await;
    let fresh = env.console().await;
    let (kind, err) = kind_of("loading a log with a self-approval", fresh.load(APP).await);
    assert_eq!(kind, ErrorKind::Integrity, "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("tampered at seq {seq}")) && text.contains("someone else"),
        "the refusal names the seq and the rule: {text}"
    );
}

/// A key holder completing a rollout with a holdout the rules do not allow — keeping a
/// release that was never current there, for 60 % of the devices — is refused as tampered:
/// the holdout is part of the rule-checked entry, not something a pointer may invent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holdout_the_rules_do_not_allow_is_refused_as_tampering() {
    for (held, basis_points, why) in [
        ("1.1.0", 500, "not Production's current release"),
        ("1.0.0", 6000, "not 0.01 % to 50 %"),
    ] {
        let env = Env::new();
        let ws = env.console().await;
        rolling_out_at_5_percent(&ws).await;
        let rollout = production_rollout(&ws).await;
        let Event::Expanded {
            channel,
            version,
            basis_points: bp,
            archived,
            ..
        } = expanded_to_full(rollout.rollout_id.clone())
        else {
            unreachable!("expanded_to_full makes an expansion")
        };
        let event = Event::Expanded {
            channel,
            version,
            basis_points: bp,
            rollout_id: rollout.rollout_id.clone(),
            archived,
            holdout: Some(airlock_core::log::entry::Holdout {
                version: held.into(),
                basis_points,
                holdout_id: rollout.rollout_id.clone(),
                until: env.now().plus_seconds(3600),
            }),
        };
        let seq = forge(&env, "ana", event, Some(&ws)).await;
        let fresh = env.console().await;
        let (kind, err) = kind_of("loading a log with a bad holdout", fresh.load(APP).await);
        assert_eq!(kind, ErrorKind::Integrity, "{err}");
        let text = err.to_string();
        assert!(
            text.contains(&format!("tampered at seq {seq}")) && text.contains(why),
            "the refusal names the seq and the rule ({why}): {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_desktop_without_key_refuses_to_sign() {
    let env = Env::new();
    let ws = env.console().await;
    rolling_out_at_5_percent(&ws).await;
    let files_before = env.store_files();

    // A teammate's desktop on the same bucket, whose keychain has no key.
    let empty = Arc::new(MemoryKeychain::default());
    let mut other = Workspace::with_config(
        env.work.path(),
        env.config.clone(),
        Services {
            keychain: Some(empty.clone()),
            clock: Some(env.clock.clone()),
            registry: Some(Registry::in_memory().await.unwrap()),
            ..Services::default()
        },
    )
    .await
    .unwrap();
    let joined = other
        .adopt_key_set("cleo", true)
        .await
        .expect("a desktop joins the store's key set without a key of its own");
    assert!(!joined.created && !joined.signer_trusted, "{joined:?}");
    let (kind, err) = kind_of(
        "expanding without the key",
        other
            .expand(&by("cleo"), APP, PRODUCTION, ExpandTo::Next)
            .await,
    );
    assert_eq!(kind, ErrorKind::Signer, "{err}");
    assert!(
        err.to_string().contains("keys export") && err.to_string().contains("KMS"),
        "the refusal says what to do: {err}"
    );
    assert_eq!(
        empty
            .get("airlock", "local-signing-key:default")
            .unwrap()
            .map(|_| ()),
        None,
        "no key is made behind the user's back"
    );
    assert_eq!(env.store_files(), files_before, "nothing was written");
    // Reading still works: status checks the pointers against the trusted set.
    let status = other
        .status(APP)
        .await
        .expect("status needs no signing key");
    assert!(status.warnings.is_empty(), "{:?}", status.warnings);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_set_version_planted_in_the_store_is_passed_over_and_replaced() {
    let env = Env::new();
    let ws = env.console().await;
    ship(&ws, "1.0.0").await;
    // A bucket writer replaces the key set with one of their own (version 2, signed by
    // their key, naming the real version 1).
    let attacker = Env::new();
    let theirs = attacker.console().await;
    let store = env.store();
    let v1 = store
        .get(&layout::keys_key(1), airlock_protocol::limits::Cap::KEY_SET)
        .await
        .unwrap()
        .unwrap();
    let mut set = airlock_protocol::keyset::SignedKeySet::parse(&v1.bytes)
        .unwrap()
        .set;
    set.version = 2;
    set.previous = Some(sha256_hex(&v1.bytes));
    let key = theirs.signer().await.unwrap();
    set.keys = vec![airlock_protocol::keyset::TrustedKey::new(
        key.public_key(),
        "local:attacker",
        env.now(),
        "mallory",
    )];
    let bytes = airlock_core::signer::sign_envelope(
        key.as_ref(),
        airlock_protocol::keyset::KEYS_PAYLOAD_TYPE,
        &set.to_payload(),
    )
    .await
    .unwrap()
    .to_bytes();
    store
        .put_new(
            &layout::keys_key(2),
            &bytes,
            airlock_core::store::ObjectClass::Immutable,
        )
        .await
        .unwrap();
    // Not signed by a trusted key, so not a version of the set: passed over, trusted for
    // nothing — and it blocks nothing.
    let fresh = console_pinned_as(&env, &ws).await;
    fresh
        .load(APP)
        .await
        .expect("a version nobody trusted signed is passed over");
    let trusted = fresh.key_set().await.unwrap();
    assert_eq!(
        trusted.set.version, 1,
        "the squatter's version is not trusted"
    );
    assert!(
        trusted.set.get(key.public_key().keyid()).is_none(),
        "the attacker's key is trusted for nothing"
    );
    let mut ws = ws;
    ws.create_local_key("next").await.unwrap();
    let report = ws
        .rotate_key("ana", "local:next")
        .await
        .expect("the team's next version takes the squatted name back");
    assert_eq!(report.version, 2);
    let fresh = console_pinned_as(&env, &ws).await;
    assert_eq!(fresh.key_set().await.unwrap().set.version, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_expand_with_same_command_id_is_one_step() {
    let env = Env::new();
    let ws = env.console().await;
    rolling_out_at_5_percent(&ws).await;
    let retry = by("watcher").with_command("kpi-watch-42").unwrap();
    let first = ws
        .expand(&retry, APP, PRODUCTION, ExpandTo::Next)
        .await
        .expect("the first try expands");
    assert!(!first.replayed);
    let second = ws
        .expand(&retry, APP, PRODUCTION, ExpandTo::Next)
        .await
        .expect("the retry reports the entry it finds");
    assert!(second.replayed, "the retry appended nothing new");
    assert_eq!(second.entry.hash, first.entry.hash);
    let state = ws.load(APP).await.unwrap();
    assert_eq!(
        state.channel(PRODUCTION).rollout.unwrap().basis_points,
        2000,
        "one step: 5 % → 20 %, not on to 50 %"
    );
    assert_eq!(state.head.unwrap().seq, first.entry.entry.seq);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_after_the_append_reports_committed_with_its_seq() {
    let env = Env::new();
    let ws = env.console().await;
    rolling_out_at_5_percent(&ws).await;
    // The log entry lands; the pointer write after it fails.
    let faulty = Arc::new(FaultyStore::new(env.store(), 1));
    let cut = env.console_with(Some(faulty), None).await;
    let (kind, err) = kind_of(
        "an expand whose pointer write fails",
        cut.expand(&by("ana"), APP, PRODUCTION, ExpandTo::Next)
            .await,
    );
    assert_eq!(kind, ErrorKind::Committed, "{err}");
    let CommittedAt { seq, command } = committed_fields(&err);
    assert!(
        err.to_string().contains(&format!("committed as seq {seq}"))
            && err.to_string().contains("Production pointer"),
        "{err}"
    );
    // A retry with the reported command id completes the pointer instead of stepping again.
    let retry = by("ana").with_command(&command).unwrap();
    let done = ws
        .expand(&retry, APP, PRODUCTION, ExpandTo::Next)
        .await
        .expect("the retry completes what was committed");
    assert!(done.replayed);
    assert_eq!(done.entry.entry.seq, seq);
    assert_pointer_current(env.store().as_ref(), APP, PRODUCTION, "after the retry").await;
    assert_eq!(production_rollout(&ws).await.basis_points, 2000);
}

struct CommittedAt {
    seq: u64,
    command: String,
}

fn committed_fields(err: &airlock_core::Error) -> CommittedAt {
    match err {
        airlock_core::Error::Committed { seq, command, .. } => CommittedAt {
            seq: *seq,
            command: command.clone(),
        },
        other => panic!("expected Error::Committed, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expectations_refuse_a_rollout_that_moved_on() {
    let env = Env::new();
    let ws = env.console().await;
    rolling_out_at_5_percent(&ws).await;
    let rollout = production_rollout(&ws).await;
    let head = ws.load(APP).await.unwrap().head.unwrap().seq;
    let stale = by("watcher").expecting(Expectation {
        rollout_id: Some(rollout.rollout_id.clone()),
        basis_points: Some(2000),
        ..Default::default()
    });
    let (kind, err) = kind_of(
        "expanding a rollout not at the expected 20 %",
        ws.expand(&stale, APP, PRODUCTION, ExpandTo::Next).await,
    );
    assert_eq!(kind, ErrorKind::Conflict, "{err}");
    assert_eq!(
        ws.load(APP).await.unwrap().head.unwrap().seq,
        head,
        "nothing appended"
    );
    let wrong_id = by("watcher").expecting(Expectation {
        rollout_id: Some("Production-0.9.0-1".into()),
        basis_points: None,
        ..Default::default()
    });
    let (kind, _) = kind_of(
        "reverting another rollout",
        ws.revert(&wrong_id, APP, PRODUCTION).await,
    );
    assert_eq!(kind, ErrorKind::Conflict);
    let right = by("watcher").expecting(Expectation {
        rollout_id: Some(rollout.rollout_id),
        basis_points: Some(500),
        ..Default::default()
    });
    ws.expand(&right, APP, PRODUCTION, ExpandTo::Next)
        .await
        .expect("what the caller saw is what is there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_state_keeps_its_plan_step_and_step_start() {
    let env = Env::new();
    let ws = env.console().await;
    rolling_out_at_5_percent(&ws).await;
    let r = production_rollout(&ws).await;
    assert_eq!((r.step, r.plan.clone()), (0, vec![500, 2000, 5000, 10_000]));
    env.clock.advance(3600);
    let expanded = ws
        .expand(&by("ana"), APP, PRODUCTION, ExpandTo::Next)
        .await
        .unwrap();
    env.clock.advance(60);
    ws.pause(&by("ana"), APP, PRODUCTION).await.unwrap();
    ws.resume(&by("ana"), APP, PRODUCTION).await.unwrap();
    let r = production_rollout(&ws).await;
    assert_eq!(r.step, 1);
    assert_eq!(
        r.step_started_seq, expanded.entry.entry.seq,
        "pause and resume do not restart the step"
    );
    assert_eq!(r.step_started_at, expanded.entry.entry.at);
    assert_eq!(r.next_step(), 5000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_step_follows_the_logged_plan_not_local_settings() {
    let env = Env::new();
    let ws = env.console().await;
    rolling_out_at_5_percent(&ws).await;
    // Another desktop whose airlock.toml has another Production plan.
    let mut config = env.config.clone();
    config.channels.get_mut(PRODUCTION).unwrap().plan = vec![1.0, 10.0, 100.0];
    let other = console_configured(&env, config).await;
    let done = other
        .expand(&by("ben"), APP, PRODUCTION, ExpandTo::Next)
        .await
        .unwrap();
    assert!(
        matches!(
            done.entry.entry.event,
            Event::Expanded {
                basis_points: 2000,
                ..
            }
        ),
        "the next step is the rollout's own plan's (20 %): {:?}",
        done.entry.entry.event
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_not_blocked_by_other_channel_store() {
    let beta_dir = tempfile::tempdir().unwrap();
    let beta_url = format!("file://{}", beta_dir.path().display());
    let env = Env::with_config(|c| {
        c.channels.insert(
            "Beta".into(),
            ChannelConfig {
                store: Some(beta_url.clone()),
                ..ChannelConfig::with_plan(false, vec![100.0])
            },
        );
    });
    let ws = env.console().await;
    ship(&ws, "1.0.0").await;
    ship(&ws, "1.1.0").await;
    ws.promote(
        &by("ana"),
        &PromoteRequest {
            app: APP.into(),
            from: STAGING.into(),
            to: "Beta".into(),
            percent: Some(100.0),
            version: Some("1.1.0".into()),
        },
    )
    .await
    .expect("Beta serves 1.1.0 too");

    // Beta's bucket now refuses every write (an outage, a permission change).
    let beta: Arc<dyn Store> =
        Arc::new(LocalStore::open(beta_dir.path().to_str().unwrap()).unwrap());
    let down: Arc<dyn Store> = Arc::new(FaultyStore::new(beta, 0));
    let services = Services {
        keychain: Some(env.keychain.clone()),
        clock: Some(env.clock.clone()),
        registry: Some(Registry::in_memory().await.unwrap()),
        stores: BTreeMap::from([(beta_url.clone(), down)]),
        ..Services::default()
    };
    let mut console = Workspace::with_config(env.work.path(), env.config.clone(), services)
        .await
        .unwrap();
    console.adopt_key_set("test", false).await.unwrap();
    let (kind, err) = kind_of(
        "a rollback while Beta's store is down",
        console.rollback(&by("ana"), APP, PRODUCTION, None).await,
    );
    assert_eq!(kind, ErrorKind::Committed, "{err}");
    assert!(
        err.to_string().contains("Beta pointer"),
        "the report names what is pending: {err}"
    );
    assert_pointer_current(env.store().as_ref(), APP, PRODUCTION, "after the rollback").await;
    let key = ws.signer().await.unwrap().public_key().clone();
    let mut devices = fleet(200);
    let tally = check_fleet(env.store(), PRODUCTION, &key, env.now(), &mut devices).await;
    assert_eq!(
        tally.running("1.0.0"),
        200,
        "Production is back on 1.0.0: {tally:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ds_store_in_log_is_ignored() {
    let env = Env::new();
    let ws = env.console().await;
    ship(&ws, "1.0.0").await;
    let log = env.store_dir.path().join("apps").join(APP).join("log");
    std::fs::write(log.join(".DS_Store"), b"\0\0\0\x01Bud1").unwrap();
    std::fs::write(log.join("notes.txt"), b"from the S3 console").unwrap();
    let fresh = env.console().await;
    let synced = fresh
        .sync()
        .await
        .expect("a foreign object is not an integrity failure");
    assert_eq!(synced[0].foreign_objects.len(), 2, "{synced:?}");
    release(&fresh, "ana", APP, "1.1.0")
        .await
        .expect("commands carry on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_registry_concurrent_loads() {
    let env = Env::new();
    let ws = env.console().await;
    ship(&ws, "1.0.0").await;
    release(&ws, "ana", APP, "1.1.0").await.unwrap();
    // Two workspaces on one airlock.db, loading at once, many times.
    let db = env.work.path().join("shared.db");
    let a = env
        .console_with(None, Some(Registry::open(&db).await.unwrap()))
        .await;
    let b = env
        .console_with(None, Some(Registry::open(&db).await.unwrap()))
        .await;
    for _ in 0..10 {
        let (x, y) = tokio::join!(a.load(APP), b.load(APP));
        x.expect("one registry shared by two workspaces never fails");
        y.expect("one registry shared by two workspaces never fails");
    }
    let (x, y, z) = tokio::join!(a.load(APP), a.load(APP), a.sync());
    x.unwrap();
    y.unwrap();
    z.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releasing_over_a_rollout_in_progress_is_refused() {
    let env = Env::with_config(|c| {
        c.channels.insert(
            "Beta".into(),
            ChannelConfig::with_plan(false, vec![50.0, 100.0]),
        );
    });
    let ws = env.console().await;
    release(&ws, "ana", APP, "1.0.0").await.unwrap();
    ws.promote(
        &by("ana"),
        &PromoteRequest {
            app: APP.into(),
            from: STAGING.into(),
            to: "Beta".into(),
            percent: None,
            version: None,
        },
    )
    .await
    .expect("Beta rolls 1.0.0 out at 50 %");
    let files = env.store_files();
    let dir = app_bundle("1.1.0");
    let mut request = release_request(APP, "1.1.0", dir.path());
    request.channel = Some("Beta".into());
    let (kind, err) = kind_of(
        "releasing into a channel with a rollout in progress",
        ws.release(&by("ana"), &request, &airlock_core::progress::Silent)
            .await,
    );
    assert_eq!(kind, ErrorKind::Refused, "{err}");
    assert!(err.to_string().contains("revert or finish"), "{err}");
    assert_eq!(env.store_files(), files, "nothing was uploaded or logged");
}

/// A console on `env`'s store that pins what `like` pinned.
async fn console_pinned_as(env: &Env, like: &Workspace) -> Workspace {
    let mut config = env.config.clone();
    config.key_pin = like.config().key_pin.clone();
    Workspace::with_config(
        env.work.path(),
        config,
        Services {
            keychain: Some(env.keychain.clone()),
            clock: Some(env.clock.clone()),
            registry: Some(Registry::in_memory().await.unwrap()),
            ..Services::default()
        },
    )
    .await
    .unwrap()
}

/// A console on `env`'s store with other settings.
async fn console_configured(env: &Env, config: airlock_core::config::Config) -> Workspace {
    let mut ws = Workspace::with_config(
        env.work.path(),
        config,
        Services {
            keychain: Some(env.keychain.clone()),
            clock: Some(env.clock.clone()),
            registry: Some(Registry::in_memory().await.unwrap()),
            ..Services::default()
        },
    )
    .await
    .unwrap();
    ws.adopt_key_set("test", false).await.unwrap();
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_after_key_rotation() {
    let env = Env::new();
    let mut ws = env.console().await;
    ship(&ws, "1.0.0").await;
    ship(&ws, "1.1.0").await;
    let old = ws.signer().await.unwrap().public_key().clone();
    let new = ws.create_local_key("next").await.unwrap();
    let (kind, _) = kind_of(
        "signing with a key not yet in the set",
        console_configured(&env, {
            let mut c = ws.config().clone();
            c.signer = "local:next".into();
            c
        })
        .await
        .resign(&by("ana"), APP, PRODUCTION)
        .await,
    );
    assert_eq!(
        kind,
        ErrorKind::Signer,
        "a created key signs nothing until it is added"
    );
    let report = ws
        .rotate_key("ana", "local:next")
        .await
        .expect("the old key adds the new one");
    assert_eq!(report.version, 2);
    assert_eq!(ws.config().co_signer.as_deref(), Some("local"));
    let old_signer = ws.signers().await.unwrap()[1].clone();

    // Statements of 1.0.0 were signed by the old key only; it is still trusted, so 1.0.0
    // is a valid rollback target, and the pointer is signed by both keys.
    ws.rollback(&by("ana"), APP, PRODUCTION, None)
        .await
        .expect("rollback to a release signed before the rotation");
    let stored = pointer_bytes(env.store().as_ref(), PRODUCTION).await;
    let signed_by: Vec<String> = Envelope::from_bytes(&stored)
        .unwrap()
        .signatures
        .into_iter()
        .map(|s| s.keyid)
        .collect();
    assert_eq!(
        signed_by,
        vec![new.keyid().to_string(), old.keyid().to_string()]
    );
    let mut devices = fleet(100);
    let tally = check_fleet(env.store(), PRODUCTION, &old, env.now(), &mut devices).await;
    assert_eq!(
        tally.running("1.0.0"),
        100,
        "devices with the old key: {tally:?}"
    );

    // A desktop that pinned version 1 follows the chain to version 2.
    let fresh = console_pinned_as(&env, &env.console().await).await;
    assert_eq!(fresh.key_set().await.unwrap().set.version, 2);

    // Retiring the old key ends the overlap; the log it signed stays valid history.
    ws.retire_key("ana", old.keyid())
        .await
        .expect("the old key can retire");
    assert_eq!(ws.config().co_signer, None);
    ws.resign(&by("ana"), APP, PRODUCTION)
        .await
        .expect("the new key signs alone");
    let stored = pointer_bytes(env.store().as_ref(), PRODUCTION).await;
    assert_eq!(Envelope::from_bytes(&stored).unwrap().signatures.len(), 1);
    env.console()
        .await
        .load(APP)
        .await
        .expect("old entries still verify");

    // The retired key leaks. Its holder appends a rule-valid entry dated no later than the
    // retirement (the clock has not moved): under a time rule it would verify; under the
    // position recorded at retirement it counts for nothing, and is passed over.
    let before = ws.load(APP).await.unwrap();
    let seq = forge_signed(
        &env,
        "ana",
        Event::PointerResigned {
            channel: PRODUCTION.into(),
        },
        old_signer,
    )
    .await;
    let fresh = env.console().await;
    let state = fresh.load(APP).await.expect("the log still reads");
    assert_eq!(
        state.head, before.head,
        "the retired key's entry at seq {seq} is not part of the log"
    );
    let next = ws
        .resign(&by("ana"), APP, PRODUCTION)
        .await
        .expect("the next entry goes past it");
    assert_eq!(next.entry.entry.seq, seq + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_keeps_unreferenced_blobs_younger_than_a_day() {
    let env = Env::new();
    let ws = env.console().await;
    ship(&ws, "1.0.0").await;
    // A blob of a publish still uploading on another desktop: no manifest names it yet.
    let orphan = sha256_hex(b"in flight");
    let path = env.store_dir.path().join("blobs/sha256").join(&orphan);
    std::fs::write(&path, b"in flight").unwrap();
    // The store's clock says it was written just now: make the console's clock agree.
    let written = std::fs::metadata(&path).unwrap().modified().unwrap();
    let written = airlock_protocol::time::Timestamp::from_datetime(written.into());
    env.clock.advance(written.unix() - env.now().unix() + 3600);
    let report = ws.gc(false).await.unwrap();
    assert_eq!(report.kept_recent, 1, "{report:?}");
    assert!(path.exists(), "an hour-old unreferenced blob is kept");
    env.clock.advance(24 * 3600);
    let report = ws.gc(false).await.unwrap();
    assert_eq!(report.unreferenced.len(), 1, "{report:?}");
    assert!(!path.exists(), "a day later it is deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_what_devices_accept_is_signed() {
    let env = Env::new();
    let ws = env.console().await;
    let dir = app_bundle("1.0.0");
    let mut request = release_request(APP, "1.0.0", dir.path());
    request.description = Some("fixes\r\ncheckout".into());
    let (kind, err) = kind_of(
        "a description with CR",
        ws.release(&by("ana"), &request, &airlock_core::progress::Silent)
            .await,
    );
    assert_eq!(kind, ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("U+000D"), "{err}");
    request.description = None;
    request.min_native_version = Some(format!("1.0.0-{}", "a".repeat(80)));
    let (kind, err) = kind_of(
        "a --min-native over the device limit",
        ws.release(&by("ana"), &request, &airlock_core::progress::Silent)
            .await,
    );
    assert_eq!(kind, ErrorKind::InvalidInput, "{err}");
    assert!(env.store_files().is_empty(), "nothing was written");
    // A rollout id stays within the device limit however long channel and version are.
    let long =
        airlock_core::rules::rollout_id(&"C".repeat(64), &format!("1.0.0-{}", "b".repeat(58)), 7);
    assert!(
        long.len() <= airlock_protocol::pointer::MAX_ROLLOUT_ID_BYTES,
        "{long}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_pointer_is_resigned_under_a_new_seq() {
    let env = Env::new();
    let ws = env.console().await;
    ship(&ws, "1.0.0").await;
    let store = env.store();
    let lost = stored_pointer(store.as_ref(), APP, PRODUCTION)
        .await
        .unwrap();
    std::fs::remove_file(
        env.store_dir
            .path()
            .join(layout::pointer_key(APP, PRODUCTION)),
    )
    .unwrap();
    // An unrelated command does not rewrite it under the old seq.
    release(&ws, "ana", APP, "1.1.0").await.unwrap();
    assert!(
        stored_pointer(store.as_ref(), APP, PRODUCTION)
            .await
            .is_none(),
        "a lost pointer is not rewritten with new bytes under a seq devices may have seen"
    );
    let synced = ws.sync().await.unwrap();
    let again = stored_pointer(store.as_ref(), APP, PRODUCTION)
        .await
        .expect("sync re-signs it");
    assert!(
        again.seq > lost.seq,
        "under a new seq: {} then {}",
        lost.seq,
        again.seq
    );
    assert_eq!(again.current, lost.current, "serving the same release");
    assert!(synced[0].pending.is_empty(), "{synced:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_pointer_that_does_not_parse_is_never_overwritten() {
    let env = Env::new();
    let ws = env.console().await;
    ship(&ws, "1.0.0").await;
    let path = env
        .store_dir
        .path()
        .join(layout::pointer_key(APP, PRODUCTION));
    std::fs::write(&path, b"{ not a pointer").unwrap();
    let synced = ws.sync().await.unwrap();
    assert!(
        synced[0]
            .pending
            .iter()
            .any(|p| p.channel == PRODUCTION && p.error.contains("does not parse")),
        "{synced:?}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"{ not a pointer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_from_a_newer_airlock_is_read_around_and_never_written_over() {
    let env = Env::new();
    let ws = env.console().await;
    ship(&ws, "1.0.0").await;
    let store = env.store();
    let state = state_in_store(store.as_ref(), APP).await;
    let head = state.head.clone().unwrap();
    let payload = serde_json::json!({
        "formatVersion": 3, "app": APP, "seq": head.seq + 1, "prev": head.hash,
        "at": env.now(), "actor": "ana", "kind": "canaryJudged", "verdict": "promote",
    });
    let signer = ws.signer().await.unwrap();
    let bytes = airlock_core::signer::sign_envelope(
        signer.as_ref(),
        LOG_PAYLOAD_TYPE,
        &serde_json::to_vec(&payload).unwrap(),
    )
    .await
    .unwrap()
    .to_bytes();
    store
        .put_new(
            &layout::log_key(APP, head.seq + 1),
            &bytes,
            airlock_core::store::ObjectClass::Log,
        )
        .await
        .unwrap();
    let older = env.console().await;
    let status = older.status(APP).await.expect("reading still works");
    assert!(
        status.warnings.iter().any(|w| w.contains("newer Airlock")),
        "{:?}",
        status.warnings
    );
    assert_eq!(
        status.head_seq, head.seq,
        "the history before the newer entry"
    );
    let (kind, err) = kind_of(
        "changing an app a newer Airlock wrote to",
        older.resign(&by("ana"), APP, PRODUCTION).await,
    );
    assert_eq!(kind, ErrorKind::Refused, "{err}");
    assert!(err.to_string().contains("upgrade"), "{err}");
}

/// A store whose clock runs five minutes behind this desktop's.
#[derive(Debug)]
struct SlowClockStore(Arc<dyn Store>);

#[async_trait::async_trait]
impl Store for SlowClockStore {
    fn url(&self) -> &str {
        self.0.url()
    }
    async fn get(
        &self,
        key: &str,
        cap: airlock_protocol::limits::Cap,
    ) -> airlock_core::Result<Option<airlock_core::store::StoredObject>> {
        self.0.get(key, cap).await
    }
    async fn put_new(
        &self,
        key: &str,
        bytes: &[u8],
        class: airlock_core::store::ObjectClass,
    ) -> airlock_core::Result<airlock_core::store::PutOutcome> {
        self.0.put_new(key, bytes, class).await
    }
    async fn replace(
        &self,
        key: &str,
        bytes: &[u8],
        expected: Option<&str>,
        class: airlock_core::store::ObjectClass,
    ) -> airlock_core::Result<()> {
        self.0.replace(key, bytes, expected, class).await
    }
    async fn list(&self, prefix: &str, after: Option<&str>) -> airlock_core::Result<Vec<String>> {
        self.0.list(prefix, after).await
    }
    async fn delete(&self, key: &str) -> airlock_core::Result<()> {
        self.0.delete(key).await
    }
    async fn etag(&self, key: &str) -> airlock_core::Result<Option<String>> {
        self.0.etag(key).await
    }
    async fn modified(
        &self,
        key: &str,
    ) -> airlock_core::Result<Option<airlock_protocol::time::Timestamp>> {
        Ok(self.0.modified(key).await?.map(|t| t.plus_seconds(-300)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_test_warns_of_a_clock_far_from_the_stores() {
    let env = Env::new();
    let honest = airlock_core::workspace::check_create_only(env.store().as_ref())
        .await
        .unwrap();
    assert!(
        honest.clock_skew_seconds.is_some_and(|s| s.abs() <= 5) && honest.warning.is_none(),
        "{honest:?}"
    );
    let slow = SlowClockStore(env.store());
    let checked = airlock_core::workspace::check_create_only(&slow)
        .await
        .unwrap();
    assert!(
        checked
            .clock_skew_seconds
            .is_some_and(|s| (295..=305).contains(&s)),
        "{checked:?}"
    );
    assert!(
        checked
            .warning
            .as_deref()
            .is_some_and(|w| w.contains("ahead of")),
        "{checked:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archiving_a_quarantined_release_says_what_status_says() {
    let env = Env::new();
    let ws = env.console().await;
    ship(&ws, "1.0.0").await;
    ship(&ws, "1.1.0").await;
    ws.rollback(&by("ana"), APP, PRODUCTION, None)
        .await
        .unwrap();
    assert_eq!(
        status_label(&ws, "1.1.0", PRODUCTION).await.as_deref(),
        Some("quarantined")
    );
    let (kind, err) = kind_of(
        "archiving a quarantined release",
        ws.archive(&by("ana"), APP, "1.1.0", PRODUCTION).await,
    );
    assert_eq!(kind, ErrorKind::Refused, "{err}");
    assert!(err.to_string().contains("quarantined"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_reads_everything_and_changes_nothing() {
    let env = Env::new();
    let ws = env.console().await;
    ship(&ws, "1.0.0").await;
    release(&ws, "ana", APP, "1.1.0").await.unwrap();
    let mut config = env.config.clone();
    config.role = airlock_core::config::Role::Viewer;
    let lead = console_configured(&env, config).await;
    let files = env.store_files();
    let attempts: Vec<(&str, airlock_core::Result<()>)> = vec![
        (
            "approve",
            lead.approve(&by("lea"), APP, "1.1.0", PRODUCTION)
                .await
                .map(|_| ()),
        ),
        (
            "promote",
            lead.promote(&by("lea"), &promotion("1.1.0", None))
                .await
                .map(|_| ()),
        ),
        (
            "rollback",
            lead.rollback(&by("lea"), APP, PRODUCTION, None)
                .await
                .map(|_| ()),
        ),
        (
            "resign",
            lead.resign(&by("lea"), APP, PRODUCTION).await.map(|_| ()),
        ),
        (
            "release",
            release(&lead, "lea", APP, "1.2.0").await.map(|_| ()),
        ),
        ("gc", lead.gc(false).await.map(|_| ())),
    ];
    for (what, result) in attempts {
        let (kind, err) = kind_of(what, result);
        assert_eq!(kind, ErrorKind::Refused, "{what}: {err}");
        assert!(err.to_string().contains("viewer"), "{what} says why: {err}");
    }
    assert_eq!(env.store_files(), files, "a viewer wrote nothing");
    lead.sync().await.expect("a viewer syncs (reads)");
    assert_eq!(lead.status(APP).await.unwrap().head_seq, 4);
    assert_eq!(lead.overview().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_holds_until_a_later_approval() {
    let env = Env::new();
    let ws = env.console().await;
    ship(&ws, "1.0.0").await;
    release(&ws, "ana", APP, "1.1.0").await.unwrap();
    ws.approve(&by("ben"), APP, "1.1.0", PRODUCTION)
        .await
        .unwrap();
    let (kind, _) = kind_of(
        "a rejection without a reason",
        ws.reject(&by("carl"), APP, "1.1.0", PRODUCTION).await,
    );
    assert_eq!(kind, ErrorKind::InvalidInput);
    let (kind, _) = kind_of(
        "the author rejecting her own release",
        ws.reject(
            &airlock_core::Attribution::new("ana", Some("meh")).unwrap(),
            APP,
            "1.1.0",
            PRODUCTION,
        )
        .await,
    );
    assert_eq!(kind, ErrorKind::Refused);
    let carl = airlock_core::Attribution::new("carl", Some("crashes on Android 9")).unwrap();
    ws.reject(&carl, APP, "1.1.0", PRODUCTION).await.unwrap();
    let (kind, err) = kind_of(
        "promoting a rejected release",
        ws.promote(&by("ana"), &promotion("1.1.0", None)).await,
    );
    assert_eq!(
        kind,
        ErrorKind::ApprovalMissing,
        "ben's earlier approval no longer counts: {err}"
    );
    let pending = ws.pending_approvals(APP).await.unwrap();
    assert_eq!(pending.len(), 1);
    let rejection = pending[0]
        .rejection
        .as_ref()
        .expect("the inbox shows the rejection");
    assert_eq!(
        (rejection.actor.as_str(), rejection.reason.as_str()),
        ("carl", "crashes on Android 9")
    );
    // Ben looks again and approves after the fix: the approval counts.
    ws.approve(&by("ben"), APP, "1.1.0", PRODUCTION)
        .await
        .expect("a reviewer may approve again after a rejection");
    ws.promote(&by("ana"), &promotion("1.1.0", None))
        .await
        .expect("approved after the rejection");
    env.console()
        .await
        .load(APP)
        .await
        .expect("the log folds with the same rules");
}
