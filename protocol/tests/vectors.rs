//! Fixed vectors produced outside this crate (sha256sum, openssl, python's json; see
//! tests/vectors/make-vectors.sh) and quoted in docs/PROTOCOL.md.
//!
//! Invariant: if any encoding in the crate drifts, one of these byte-for-byte checks fails.

mod common;

use airlock_protocol::device::{Outcome, Via, verify_update};
use airlock_protocol::digest::{ObjectRef, sha256_hex};
use airlock_protocol::dsse::{Envelope, POINTER_PAYLOAD_TYPE, RELEASE_PAYLOAD_TYPE, pae};
use airlock_protocol::keys::{KeyAlgorithm, PublicKey, keyid_of};
use airlock_protocol::layout::{blob_key, manifest_key, pointer_key, statement_key};
use airlock_protocol::manifest::{FileEntry, Manifest, bundle_hash};
use airlock_protocol::pointer::{ChannelPointer, RolloutPin};
use airlock_protocol::statement::ReleaseStatement;
use common::{P256_PUB_PEM, RSA_PUB_PEM, Signer, Store, pem_der, ts};

/// `cd tests/vectors/bundle && find . -type f -printf '%P\n' | LC_ALL=C sort |
///  xargs -d '\n' sha256sum | sha256sum`
const BUNDLE_HASH: &str = "1c8b1f7cc2be456f98408565a6eeed771220e4cf16a7188ddb7ca92c2c17c5c4";
/// `openssl pkey -pubin -in rsa2048.pub.pem -outform DER | sha256sum`
const RSA_KEYID: &str = "5c1e3d85ddd5689a726bb60d848074516bcc2488daf048da3c22dd53fd59789e";
/// `openssl pkey -pubin -in p256.pub.pem -outform DER | sha256sum`
const P256_KEYID: &str = "561d041f0d3ef738e37b5140d1eff7e6f2630703d820adcc00c5454309ecc7f1";
/// `printf 'example log entry\n' | sha256sum`
const LOG_HEAD: &str = "6973eee04e63b2e425d58f301fed1a95373eec6f7f8d38ace385e5d5ae141114";
const DESCRIPTION: &str = "Faster checkout.\nFixes the \"Pay\" button — déjà vu.";

const BUNDLE: [(&str, &[u8]); 6] = [
    (
        "assets/app.js",
        include_bytes!("vectors/bundle/assets/app.js"),
    ),
    ("a/b.txt", include_bytes!("vectors/bundle/a/b.txt")),
    ("a.txt", include_bytes!("vectors/bundle/a.txt")),
    ("a-b.txt", include_bytes!("vectors/bundle/a-b.txt")),
    ("B.txt", include_bytes!("vectors/bundle/B.txt")),
    ("empty.bin", include_bytes!("vectors/bundle/empty.bin")),
];

fn vector(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/vectors/{name}", manifest_dir());
    std::fs::read(&path).unwrap_or_else(|e| panic!("vector {path} must exist: {e}"))
}

fn entries() -> Vec<FileEntry> {
    let entry = |(path, content): &(&str, &[u8])| FileEntry {
        path: path.to_string(),
        sha256: sha256_hex(content),
        size: content.len() as u64,
    };
    BUNDLE.iter().map(entry).collect()
}

fn statement() -> ReleaseStatement {
    ReleaseStatement {
        app: "shop-ios".into(),
        version: "1.4.0".into(),
        created_at: ts("2026-11-23T10:20:00Z"),
        min_native_version: Some("2.3.0".into()),
        manifest: ObjectRef::of(&vector("manifest.json")),
        bundle_hash: BUNDLE_HASH.into(),
        description: DESCRIPTION.into(),
    }
}

fn pointer() -> ChannelPointer {
    ChannelPointer {
        app: "shop-ios".into(),
        channel: "production".into(),
        seq: 42,
        log_head: LOG_HEAD.into(),
        issued_at: ts("2026-11-23T10:20:00Z"),
        expires_at: ts("2026-11-30T10:20:00Z"),
        current: None,
        rollout: Some(RolloutPin {
            version: "1.4.0".into(),
            release: ObjectRef::of(&vector("release.dsse.json")),
            basis_points: 5000,
            rollout_id: "shop-ios-1.4.0-r1".into(),
        }),
        holdout: None,
    }
}

#[test]
fn bundle_hash_matches_the_sha256sum_pipeline() {
    assert_eq!(
        bundle_hash(&entries()),
        BUNDLE_HASH,
        "bundleHash must equal sha256sum's output"
    );
    let manifest = Manifest::new("shop-ios", "1.4.0", entries());
    let order: Vec<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    let bytewise = [
        "B.txt",
        "a-b.txt",
        "a.txt",
        "a/b.txt",
        "assets/app.js",
        "empty.bin",
    ];
    assert_eq!(
        order, bytewise,
        "paths sort bytewise ('-' < '.' < '/', upper before lower)"
    );
    assert_eq!(
        manifest.to_bytes(),
        vector("manifest.json"),
        "manifest bytes are canonical"
    );
    manifest.check().expect("the vector manifest is consistent");
}

#[test]
fn statement_and_pointer_payloads_are_byte_exact() {
    let statement = statement();
    statement.validate().unwrap();
    assert_eq!(statement.to_payload(), vector("release.payload.json"));
    assert_eq!(
        pae(RELEASE_PAYLOAD_TYPE, &statement.to_payload()),
        vector("release.pae")
    );
    let pointer = pointer();
    pointer.validate().unwrap();
    assert_eq!(pointer.to_payload(), vector("pointer.payload.json"));
    assert_eq!(
        pae(POINTER_PAYLOAD_TYPE, &pointer.to_payload()),
        vector("pointer.pae")
    );
    assert!(
        vector("pointer.pae").starts_with(b"DSSEv1 36 application/vnd.airlock.pointer+json 392 {")
    );
}

#[test]
fn keyids_match_openssl() {
    let rsa = PublicKey::from_pem(RSA_PUB_PEM).unwrap().remove(0);
    assert_eq!(rsa.keyid(), RSA_KEYID);
    assert_eq!(rsa.algorithm(), KeyAlgorithm::RsaPkcs1Sha256);
    assert_eq!(keyid_of(&pem_der(RSA_PUB_PEM)), RSA_KEYID);
    let p256 = PublicKey::from_pem(P256_PUB_PEM).unwrap().remove(0);
    assert_eq!(p256.keyid(), P256_KEYID);
    assert_eq!(p256.algorithm(), KeyAlgorithm::EcdsaP256Sha256);
}

#[test]
fn rsa_signatures_are_the_ones_openssl_made() {
    let signer = Signer::fixed_rsa();
    assert_eq!(
        signer.public_key().keyid(),
        RSA_KEYID,
        "the private and public vectors pair up"
    );
    for name in ["pointer", "release"] {
        let signature = signer.sign(&vector(&format!("{name}.pae")));
        assert_eq!(
            signature,
            vector(&format!("{name}.sig")),
            "PKCS#1 v1.5 is deterministic"
        );
        let key = signer.public_key();
        assert!(key.verify(&vector(&format!("{name}.pae")), &signature));
    }
}

#[test]
fn envelopes_are_byte_exact_and_verify() {
    let key = PublicKey::from_pem(RSA_PUB_PEM).unwrap();
    for (name, ptype) in [
        ("pointer", POINTER_PAYLOAD_TYPE),
        ("release", RELEASE_PAYLOAD_TYPE),
    ] {
        let payload = vector(&format!("{name}.payload.json"));
        let envelope = Envelope::new(
            ptype,
            &payload,
            RSA_KEYID.into(),
            &vector(&format!("{name}.sig")),
        );
        let stored = vector(&format!("{name}.dsse.json"));
        assert_eq!(envelope.to_bytes(), stored, "{name}.dsse.json is canonical");
        let parsed = Envelope::from_bytes(&stored).unwrap();
        assert_eq!(parsed.verify(ptype, &key).unwrap(), payload);
    }
}

#[test]
fn openssl_p256_signature_verifies() {
    let key = PublicKey::from_pem(P256_PUB_PEM).unwrap().remove(0);
    let message = vector("pointer.pae");
    let signature = vector("pointer.p256.sig");
    assert!(
        key.verify(&message, &signature),
        "DER ECDSA signatures from openssl verify"
    );
    let mut tampered = message.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert!(
        !key.verify(&tampered, &signature),
        "a changed message must not verify"
    );
    // Rotation: an envelope signed by the old RSA key and the new P-256 key verifies on a
    // device that only trusts the new key.
    let payload = vector("pointer.payload.json");
    let mut envelope = Envelope::new(
        POINTER_PAYLOAD_TYPE,
        &payload,
        RSA_KEYID.into(),
        &vector("pointer.sig"),
    );
    envelope.add_signature(P256_KEYID.into(), &signature);
    assert!(envelope.verify(POINTER_PAYLOAD_TYPE, &[key]).is_ok());
}

#[test]
fn the_example_store_is_accepted_by_the_reference_device() {
    let mut store = Store::new();
    store.insert(
        pointer_key("shop-ios", "production"),
        vector("pointer.dsse.json"),
    );
    store.insert(
        statement_key("shop-ios", "1.4.0"),
        vector("release.dsse.json"),
    );
    store.insert(manifest_key("shop-ios", "1.4.0"), vector("manifest.json"));
    for (_, content) in BUNDLE {
        store.insert(blob_key(&sha256_hex(content)), content.to_vec());
    }
    let keys = PublicKey::from_pem(RSA_PUB_PEM).unwrap();
    let native = semver::Version::new(2, 3, 0);
    let install_id = "8E1C4E2A-6B3F-4F1D-9C55-0D2A7B9E1F00";
    let mut req = common::request(&keys, install_id, Some(&native), None);
    let decision = verify_update(&req, &store);
    let expected = Outcome::Run {
        version: "1.4.0".into(),
        via: Via::Rollout,
        bundle_hash: BUNDLE_HASH.into(),
        files: 6,
    };
    assert_eq!(
        decision.outcome, expected,
        "bucket 4935 is inside 5000 basis points"
    );
    let accepted = decision
        .accepted_pointer
        .expect("a valid pointer is accepted");
    assert_eq!(accepted.sha256, sha256_hex(&vector("pointer.dsse.json")));

    req.install_id = "device-a";
    let decision = verify_update(&req, &store);
    assert_eq!(
        decision.outcome,
        Outcome::KeepBuiltIn,
        "bucket 9696 is outside; current is null"
    );
}

/// This package's folder, as cargo says when it runs the test (a test binary built in
/// another checkout sharing the target folder would otherwise point back there).
fn manifest_dir() -> String {
    std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR for tests")
}
