//! The device check, part 3: native version rules, bundle files, and the refusal codes.
//!
//! Invariant: every file must match the manifest's size and hash, the native version must meet
//! the statement's minimum, and each refusal has one stable code.

mod common;

use airlock_protocol::device::{Decision, Refusal, verify_update};
use airlock_protocol::digest::ObjectRef;
use airlock_protocol::layout::{blob_key, manifest_key};
use airlock_protocol::manifest::Manifest;
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

#[test]
fn native_version_rules() {
    let (store, _) = standard_store(&Signer::fixed_rsa());
    let code_for = |native| {
        check(&store, native)
            .refusal()
            .map_or("accepted", Refusal::code)
    };
    assert_eq!(
        code_for(None),
        "native_version_unknown",
        "unknown native with a minimum"
    );
    assert_eq!(code_for(Some("2.2.9")), "native_too_old");
    assert_eq!(
        code_for(Some("2.3.0-beta.1")),
        "native_too_old",
        "pre-releases sort first"
    );
    assert_eq!(code_for(Some("2.3.0")), "accepted", "native >= min");
    assert_eq!(
        code_for(Some("2.3.0+build.7")),
        "accepted",
        "build metadata is ignored"
    );
    assert_eq!(
        code_for(Some("10.0.0")),
        "accepted",
        "numeric, not string, comparison"
    );

    let keys = [Signer::fixed_rsa().public_key()];
    let id = install_id(false);
    let decision = verify_update(&request(&keys, &id, None, None), &store);
    assert!(
        decision.refusal().is_none(),
        "1.3.0 has no minimum: unknown native is fine"
    );
}

#[test]
fn file_missing_tampered_or_resized() {
    let (mut store, _) = standard_store(&Signer::fixed_rsa());
    let manifest = Manifest::from_bytes(&store[&manifest_key(APP, "1.4.0")]).unwrap();
    let file = &manifest.files[1];
    let blob = blob_key(&file.sha256);
    let original = store.remove(&blob).unwrap();
    assert_eq!(code(&store), "file_missing");
    let mut tampered = original.clone();
    tampered[0] ^= 0x20;
    store.insert(blob.clone(), tampered);
    assert_eq!(
        code(&store),
        "file_hash_mismatch",
        "same size, different content"
    );
    store.insert(blob.clone(), [original.as_slice(), b"//"].concat());
    let decision = check(&store, Some("2.3.0"));
    let expected = Refusal::FileSizeMismatch {
        path: file.path.clone(),
        expected: file.size,
        found: file.size + 2,
    };
    assert_eq!(decision.refusal(), Some(&expected));
    let json = serde_json::to_value(decision.refusal().unwrap()).unwrap();
    assert_eq!(json["code"], "file_size_mismatch");
    assert_eq!(json["found"], file.size + 2);
}

#[test]
fn codes_are_unique_snake_case() {
    use airlock_protocol::time::Timestamp;
    let t = Timestamp::from_unix(0).unwrap();
    let s = String::new;
    let o = || ObjectRef::of(b"");
    let all = [
        Refusal::PointerMissing { key: s() },
        Refusal::PointerMalformed { detail: s() },
        Refusal::PointerSignatureInvalid { detail: s() },
        Refusal::WrongApp {
            expected: s(),
            found: s(),
        },
        Refusal::WrongChannel {
            expected: s(),
            found: s(),
        },
        Refusal::SeqRollback { last: 1, found: 0 },
        Refusal::SeqReplayMismatch { seq: 1 },
        Refusal::PointerExpired {
            expires_at: t,
            now: t,
        },
        Refusal::StatementMissing { key: s() },
        Refusal::StatementHashMismatch {
            expected: o(),
            found: o(),
        },
        Refusal::StatementMalformed { detail: s() },
        Refusal::StatementSignatureInvalid { detail: s() },
        Refusal::StatementMismatch {
            field: "app",
            expected: s(),
            found: s(),
        },
        Refusal::ManifestMissing { key: s() },
        Refusal::ManifestHashMismatch {
            expected: o(),
            found: o(),
        },
        Refusal::ManifestMalformed { detail: s() },
        Refusal::ManifestMismatch {
            field: "app",
            expected: s(),
            found: s(),
        },
        Refusal::NativeVersionUnknown { required: s() },
        Refusal::NativeTooOld {
            required: s(),
            native: s(),
        },
        Refusal::FileMissing {
            path: s(),
            sha256: s(),
        },
        Refusal::FileHashMismatch {
            path: s(),
            expected: s(),
            found: s(),
        },
        Refusal::FileSizeMismatch {
            path: s(),
            expected: 1,
            found: 2,
        },
        Refusal::FetchFailed {
            key: s(),
            detail: s(),
        },
    ];
    let codes: std::collections::BTreeSet<_> = all.iter().map(Refusal::code).collect();
    assert_eq!(codes.len(), 23, "every refusal has its own code");
    for refusal in &all {
        assert!(
            refusal
                .code()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_')
        );
        let json = serde_json::to_value(refusal).unwrap();
        assert_eq!(json["code"], refusal.code());
        assert_eq!(
            json["message"],
            refusal.to_string(),
            "message is the Display text"
        );
    }
}
