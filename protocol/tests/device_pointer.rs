//! The device check, part 1: which release applies, and every pointer refusal.
//!
//! Invariant: a pointer is accepted only when signed by a trusted key, addressed to this
//! app and channel, not older (or differently re-issued) than the last one, and not expired.

mod common;

use airlock_protocol::device::{
    AcceptedPointer, Fetched, ObjectSource, Outcome, Via, verify_update,
};
use airlock_protocol::digest::sha256_hex;
use airlock_protocol::dsse::{Envelope, POINTER_PAYLOAD_TYPE};
use airlock_protocol::layout::pointer_key;
use airlock_protocol::limits::Cap;
use airlock_protocol::pointer::ChannelPointer;
use common::*;

fn native() -> semver::Version {
    semver::Version::new(2, 3, 0)
}

/// The refusal code for a device inside the rollout.
fn code(store: &Store, last: Option<&AcceptedPointer>) -> &'static str {
    let keys = [Signer::fixed_rsa().public_key()];
    let (id, native) = (install_id(true), native());
    let decision = verify_update(&request(&keys, &id, Some(&native), last), store);
    decision.refusal().map_or("accepted", |r| r.code())
}

#[test]
fn which_release_applies() {
    let signer = Signer::fixed_rsa();
    let keys = [signer.public_key()];
    let (mut store, pointer) = standard_store(&signer);
    let native = native();
    let inside = install_id(true);
    let decision = verify_update(&request(&keys, &inside, Some(&native), None), &store);
    assert!(
        matches!(&decision.outcome, Outcome::Run { version, via: Via::Rollout, files: 2, .. }
        if version == "1.4.0"),
        "{decision:?}"
    );
    assert_eq!(decision.pointer.as_ref(), Some(&pointer));
    assert_eq!(
        decision.version_to_run(Some("1.3.0")).as_deref(),
        Some("1.4.0")
    );

    let outside = install_id(false);
    let decision = verify_update(&request(&keys, &outside, Some(&native), None), &store);
    assert!(
        matches!(&decision.outcome, Outcome::Run { version, via: Via::Current, .. }
        if version == "1.3.0"),
        "{decision:?}"
    );

    let nothing_current = ChannelPointer {
        current: None,
        seq: 43,
        ..pointer
    };
    put_pointer(&mut store, &signer, &nothing_current);
    let decision = verify_update(&request(&keys, &outside, Some(&native), None), &store);
    assert_eq!(
        decision.outcome,
        Outcome::KeepBuiltIn,
        "current null and outside the rollout"
    );
    assert!(
        decision.accepted_pointer.is_some(),
        "the pointer itself was fine"
    );
    assert_eq!(
        decision.version_to_run(Some("1.4.0")),
        None,
        "a device that ran a now-withdrawn rollout returns to its built-in bundle"
    );
}

#[test]
fn pointer_missing_and_malformed() {
    assert_eq!(code(&Store::new(), None), "pointer_missing");
    let mut store = Store::new();
    store.insert(pointer_key(APP, CHANNEL), b"{not json".to_vec());
    assert_eq!(code(&store, None), "pointer_malformed");
    let signer = Signer::fixed_rsa();
    let envelope = signer.envelope(POINTER_PAYLOAD_TYPE, br#"{"app":"shop-ios"}"#);
    store.insert(pointer_key(APP, CHANNEL), envelope.to_bytes());
    assert_eq!(
        code(&store, None),
        "pointer_malformed",
        "signed but not a pointer"
    );
}

#[test]
fn pointer_signature_invalid() {
    let (mut store, pointer) = standard_store(&Signer::fixed_rsa());
    put_pointer(&mut store, &Signer::fresh_p256(), &pointer);
    assert_eq!(
        code(&store, None),
        "pointer_signature_invalid",
        "signed by an untrusted key"
    );

    let (mut store, pointer) = standard_store(&Signer::fixed_rsa());
    let key = pointer_key(APP, CHANNEL);
    let mut envelope = Envelope::from_bytes(&store[&key]).unwrap();
    let forged = ChannelPointer {
        expires_at: pointer.expires_at.plus_seconds(86_400),
        ..pointer
    };
    envelope.payload =
        Envelope::new(POINTER_PAYLOAD_TYPE, &forged.to_payload(), "".into(), b"").payload;
    store.insert(key.clone(), envelope.to_bytes());
    assert_eq!(
        code(&store, None),
        "pointer_signature_invalid",
        "payload changed after signing"
    );

    let mut envelope = Envelope::from_bytes(&standard_store(&Signer::fixed_rsa()).0[&key]).unwrap();
    envelope.payload_type = "application/vnd.airlock.release+json".into();
    store.insert(key, envelope.to_bytes());
    assert_eq!(
        code(&store, None),
        "pointer_signature_invalid",
        "wrong payload type"
    );
}

#[test]
fn wrong_app_and_wrong_channel() {
    let signer = Signer::fixed_rsa();
    let (mut store, pointer) = standard_store(&signer);
    put_pointer(
        &mut store,
        &signer,
        &ChannelPointer {
            app: "shop-android".into(),
            ..pointer.clone()
        },
    );
    assert_eq!(
        code(&store, None),
        "wrong_app",
        "another app's pointer copied here"
    );
    put_pointer(
        &mut store,
        &signer,
        &ChannelPointer {
            channel: "beta".into(),
            ..pointer
        },
    );
    assert_eq!(
        code(&store, None),
        "wrong_channel",
        "another channel's pointer copied here"
    );
}

#[test]
fn seq_rollback_and_replay() {
    let signer = Signer::fixed_rsa();
    let (store, _) = standard_store(&signer);
    let bytes = &store[&pointer_key(APP, CHANNEL)];
    let same = AcceptedPointer {
        seq: 42,
        sha256: sha256_hex(bytes),
    };
    assert_eq!(
        code(&store, Some(&same)),
        "accepted",
        "the same pointer again is fine"
    );
    let last_older = AcceptedPointer {
        seq: 41,
        sha256: sha256_hex(b"x"),
    };
    assert_eq!(
        code(&store, Some(&last_older)),
        "accepted",
        "a newer pointer is fine"
    );
    let last_newer = AcceptedPointer {
        seq: 43,
        sha256: sha256_hex(b"x"),
    };
    assert_eq!(
        code(&store, Some(&last_newer)),
        "seq_rollback",
        "an older pointer is a rollback"
    );
    let other = AcceptedPointer {
        seq: 42,
        sha256: sha256_hex(b"other bytes"),
    };
    assert_eq!(
        code(&store, Some(&other)),
        "seq_replay_mismatch",
        "same seq, different bytes"
    );
}

#[test]
fn pointer_expired() {
    let signer = Signer::fixed_rsa();
    let keys = [signer.public_key()];
    let (store, pointer) = standard_store(&signer);
    let (id, native) = (install_id(false), native());
    let mut req = request(&keys, &id, Some(&native), None);
    req.now = pointer.expires_at.plus_seconds(-1);
    assert!(
        verify_update(&req, &store).refusal().is_none(),
        "valid until the last second"
    );
    req.now = pointer.expires_at;
    let decision = verify_update(&req, &store);
    assert_eq!(
        decision.refusal().map(|r| r.code()),
        Some("pointer_expired")
    );
    assert_eq!(
        decision.accepted_pointer, None,
        "an expired pointer is not accepted"
    );
}

struct Failing;

impl ObjectSource for Failing {
    fn fetch(&self, key: &str, _cap: Cap) -> Result<Fetched, String> {
        Err(format!("network down while fetching {key}"))
    }
}

#[test]
fn fetch_failed_and_json_report() {
    let keys = [Signer::fixed_rsa().public_key()];
    let decision = verify_update(&request(&keys, "id", None, None), &Failing);
    let json = serde_json::to_value(&decision).unwrap();
    assert_eq!(json["outcome"]["outcome"], "refused");
    assert_eq!(json["outcome"]["reason"]["code"], "fetch_failed");
    assert_eq!(json["outcome"]["reason"]["key"], pointer_key(APP, CHANNEL));
    let message = json["outcome"]["reason"]["message"].as_str().unwrap();
    assert!(
        message.contains("network down"),
        "the message carries the cause: {message}"
    );
    assert!(json["acceptedPointer"].is_null());
}

/// After 1.4.0 completes, 1.3.0 is kept for the rollout's last 10 % of buckets until the
/// holdout ends: those devices (never reached by the rollout) run 1.3.0 via `holdout`, the
/// rest 1.4.0 via `current`; from `until` on, everyone runs 1.4.0.
#[test]
fn a_holdout_keeps_the_rollout_s_last_buckets_on_the_previous_release_until_it_ends() {
    use airlock_protocol::bucketing::in_holdout;
    use airlock_protocol::pointer::{HoldoutPin, ReleasePin};
    let signer = Signer::fixed_rsa();
    let keys = [signer.public_key()];
    let (mut store, pointer) = standard_store(&signer);
    let rollout = pointer
        .rollout
        .clone()
        .expect("the standard store rolls out");
    let old = pointer.current.clone().expect("1.3.0 is current");
    let until = ts("2026-11-23T12:00:00Z");
    let completed = ChannelPointer {
        seq: 43,
        current: Some(ReleasePin {
            version: rollout.version.clone(),
            release: rollout.release.clone(),
        }),
        rollout: None,
        holdout: Some(HoldoutPin {
            version: old.version.clone(),
            release: old.release.clone(),
            basis_points: 1000,
            holdout_id: ROLLOUT_ID.into(),
            until,
        }),
        ..pointer
    };
    put_pointer(&mut store, &signer, &completed);
    let native = native();
    let held = (0..)
        .map(|n| format!("device-{n}"))
        .find(|id| in_holdout(ROLLOUT_ID, id, 1000))
        .unwrap();
    let not_held = (0..)
        .map(|n| format!("device-{n}"))
        .find(|id| !in_holdout(ROLLOUT_ID, id, 1000))
        .unwrap();
    let run = |id: &str, now: &str| {
        let mut req = request(&keys, id, Some(&native), None);
        req.now = ts(now);
        match verify_update(&req, &store).outcome {
            Outcome::Run { version, via, .. } => (version, via),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        run(&held, "2026-11-23T11:20:00Z"),
        ("1.3.0".to_string(), Via::Holdout)
    );
    assert_eq!(
        run(&not_held, "2026-11-23T11:20:00Z"),
        ("1.4.0".to_string(), Via::Current)
    );
    assert_eq!(
        run(&held, "2026-11-23T12:00:00Z"),
        ("1.4.0".to_string(), Via::Current),
        "at `until` the holdout is over"
    );
}
