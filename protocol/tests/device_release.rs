//! The device check, part 2: every refusal about the release a valid pointer names.
//!
//! Invariant: a device never runs a release whose statement, manifest or files do not check
//! out, and never falls back to another release when the one that applies is broken.

mod common;

use airlock_protocol::device::{Decision, Outcome, Refusal, Via, verify_update};
use airlock_protocol::digest::{ObjectRef, sha256_hex};
use airlock_protocol::layout::{blob_key, manifest_key, statement_key};
use airlock_protocol::manifest::Manifest;
use airlock_protocol::pointer::{ChannelPointer, RolloutPin};
use airlock_protocol::statement::ReleaseStatement;
use common::*;

/// Checks `store` as a device inside the 1.4.0 rollout with native `native`.
fn check(store: &Store, native: Option<&str>) -> Decision {
    let keys = [Signer::fixed_rsa().public_key()];
    let native = native.map(|v| semver::Version::parse(v).unwrap());
    let id = install_id(true);
    verify_update(&request(&keys, &id, native.as_ref(), None), store)
}

fn code(store: &Store) -> &'static str {
    check(store, Some("2.3.0"))
        .refusal()
        .map_or("accepted", Refusal::code)
}

/// Stores `statement` for 1.4.0 signed by `signer` and re-points the rollout at it.
fn repin(
    store: &mut Store,
    pointer: &ChannelPointer,
    signer: &Signer,
    statement: &ReleaseStatement,
) {
    let release = put_statement(store, signer, "1.4.0", statement);
    repin_bytes(store, pointer, release);
}

fn repin_bytes(store: &mut Store, pointer: &ChannelPointer, release: ObjectRef) {
    let rollout = pointer.rollout.clone().map(|r| RolloutPin { release, ..r });
    put_pointer(
        store,
        &Signer::fixed_rsa(),
        &ChannelPointer {
            rollout,
            ..pointer.clone()
        },
    );
}

fn statement_of(store: &Store, version: &str) -> ReleaseStatement {
    let envelope =
        airlock_protocol::dsse::Envelope::from_bytes(&store[&statement_key(APP, version)]);
    ReleaseStatement::from_payload(&envelope.unwrap().payload_bytes().unwrap()).unwrap()
}

#[test]
fn broken_rollout_release_is_refused_without_falling_back_to_current() {
    let (mut store, _) = standard_store(&Signer::fixed_rsa());
    let manifest = Manifest::from_bytes(&store[&manifest_key(APP, "1.4.0")]).unwrap();
    store.remove(&blob_key(&manifest.files[0].sha256));
    let decision = check(&store, Some("2.3.0"));
    assert_eq!(decision.refusal().map(Refusal::code), Some("file_missing"));
    assert!(
        decision.accepted_pointer.is_some(),
        "the pointer is still accepted and persisted"
    );
    assert_eq!(
        decision.version_to_run(Some("1.2.0")).as_deref(),
        Some("1.2.0"),
        "no fallback"
    );

    let keys = [Signer::fixed_rsa().public_key()];
    let (id, native) = (install_id(false), semver::Version::new(2, 3, 0));
    let outside = verify_update(&request(&keys, &id, Some(&native), None), &store);
    assert!(
        matches!(
            outside.outcome,
            Outcome::Run {
                via: Via::Current,
                ..
            }
        ),
        "{outside:?}"
    );
}

#[test]
fn statement_missing_and_hash_mismatch() {
    let (mut store, _) = standard_store(&Signer::fixed_rsa());
    let key = statement_key(APP, "1.4.0");
    let original = store.remove(&key).unwrap();
    assert_eq!(code(&store), "statement_missing");
    let mut tampered = original.clone();
    tampered.push(b'\n');
    store.insert(key, tampered);
    assert_eq!(
        code(&store),
        "statement_hash_mismatch",
        "bytes differ from the pinned hash"
    );
}

#[test]
fn statement_malformed_signed_by_another_key_or_for_another_release() {
    let (mut store, pointer) = standard_store(&Signer::fixed_rsa());
    store.insert(statement_key(APP, "1.4.0"), b"garbage".to_vec());
    repin_bytes(&mut store, &pointer, ObjectRef::of(b"garbage"));
    assert_eq!(code(&store), "statement_malformed");

    let (mut store, pointer) = standard_store(&Signer::fixed_rsa());
    let statement = statement_of(&store, "1.4.0");
    repin(&mut store, &pointer, &Signer::fresh_p256(), &statement);
    assert_eq!(
        code(&store),
        "statement_signature_invalid",
        "signed by an untrusted key"
    );

    let older = statement_of(&store, "1.3.0");
    repin(&mut store, &pointer, &Signer::fixed_rsa(), &older);
    assert_eq!(
        code(&store),
        "statement_mismatch",
        "1.3.0's statement served as 1.4.0"
    );
    let other_app = ReleaseStatement {
        app: "shop-android".into(),
        ..statement
    };
    repin(&mut store, &pointer, &Signer::fixed_rsa(), &other_app);
    let decision = check(&store, Some("2.3.0"));
    assert!(matches!(
        decision.refusal(),
        Some(Refusal::StatementMismatch { field: "app", .. })
    ));
}

#[test]
fn manifest_missing_tampered_malformed_or_mismatched() {
    let (mut store, pointer) = standard_store(&Signer::fixed_rsa());
    let key = manifest_key(APP, "1.4.0");
    let original = store.remove(&key).unwrap();
    assert_eq!(code(&store), "manifest_missing");
    store.insert(
        key.clone(),
        String::from_utf8(original)
            .unwrap()
            .replace("1.4.0", "1.4.1")
            .into(),
    );
    assert_eq!(code(&store), "manifest_hash_mismatch", "tampered manifest");

    let statement = statement_of(&store, "1.4.0");
    store.insert(key.clone(), b"[]".to_vec());
    let pinned = ReleaseStatement {
        manifest: ObjectRef::of(b"[]"),
        ..statement.clone()
    };
    repin(&mut store, &pointer, &Signer::fixed_rsa(), &pinned);
    assert_eq!(code(&store), "manifest_malformed");

    let older = store[&manifest_key(APP, "1.3.0")].clone();
    store.insert(key.clone(), older.clone());
    let pinned = ReleaseStatement {
        manifest: ObjectRef::of(&older),
        ..statement.clone()
    };
    repin(&mut store, &pointer, &Signer::fixed_rsa(), &pinned);
    assert_eq!(
        code(&store),
        "manifest_mismatch",
        "1.3.0's manifest pinned for 1.4.0"
    );

    let mut manifest = Manifest::from_bytes(&store[&manifest_key(APP, "1.3.0")]).unwrap();
    manifest.version = "1.4.0".into();
    manifest.files[0].sha256 = sha256_hex(b"swapped");
    let bytes = manifest.to_bytes();
    store.insert(key, bytes.clone());
    let pinned = ReleaseStatement {
        manifest: ObjectRef::of(&bytes),
        bundle_hash: manifest.bundle_hash.clone(),
        ..statement
    };
    repin(&mut store, &pointer, &Signer::fixed_rsa(), &pinned);
    assert_eq!(
        code(&store),
        "manifest_malformed",
        "files no longer recompute to bundleHash"
    );
}
