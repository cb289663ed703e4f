//! Shared fixtures: the committed TEST keys, an aws-lc-rs signer, and a store builder.
//!
//! Invariant: fixtures only produce objects through the crate's own constructors, so tests
//! exercise the same bytes the console would publish.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::HashMap;

use airlock_protocol::device::{AcceptedPointer, DeviceRequest};
use airlock_protocol::digest::{ObjectRef, sha256_hex};
use airlock_protocol::dsse::{Envelope, POINTER_PAYLOAD_TYPE, RELEASE_PAYLOAD_TYPE, pae};
use airlock_protocol::keys::PublicKey;
use airlock_protocol::layout::{blob_key, manifest_key, pointer_key, statement_key};
use airlock_protocol::manifest::{FileEntry, Manifest};
use airlock_protocol::pointer::{ChannelPointer, DEFAULT_TTL_SECONDS, ReleasePin, RolloutPin};
use airlock_protocol::statement::ReleaseStatement;
use airlock_protocol::time::Timestamp;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

pub const RSA_KEY_PEM: &str = include_str!("../vectors/rsa2048.key.pem");
pub const RSA_PUB_PEM: &str = include_str!("../vectors/rsa2048.pub.pem");
pub const P256_KEY_PEM: &str = include_str!("../vectors/p256.key.pem");
pub const P256_PUB_PEM: &str = include_str!("../vectors/p256.pub.pem");
pub const APP: &str = "shop-ios";
pub const CHANNEL: &str = "production";

pub type Store = HashMap<String, Vec<u8>>;

/// The DER inside a single-block PEM file.
pub fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD
        .decode(body)
        .expect("test PEM files are valid base64")
}

pub fn ts(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("test timestamps are valid")
}

/// A test signing key.
pub enum Signer {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
}

impl Signer {
    pub fn fixed_rsa() -> Self {
        Signer::Rsa(RsaKeyPair::from_pkcs8(&pem_der(RSA_KEY_PEM)).expect("committed RSA key"))
    }

    pub fn fixed_p256() -> Self {
        let der = pem_der(P256_KEY_PEM);
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &der);
        Signer::Ecdsa(pair.expect("committed P-256 key"))
    }

    pub fn fresh_p256() -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING);
        Signer::Ecdsa(pair.expect("aws-lc can generate P-256 keys"))
    }

    pub fn public_key(&self) -> PublicKey {
        let der = match self {
            Signer::Rsa(pair) => pair.public_key().as_der().unwrap().as_ref().to_vec(),
            Signer::Ecdsa(pair) => pair.public_key().as_der().unwrap().as_ref().to_vec(),
        };
        PublicKey::from_spki_der(&der).expect("test keys are acceptable")
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Signer::Rsa(pair) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .expect("RSA signing");
                sig
            }
            Signer::Ecdsa(pair) => pair
                .sign(&rng, message)
                .expect("ECDSA signing")
                .as_ref()
                .to_vec(),
        }
    }

    pub fn envelope(&self, payload_type: &str, payload: &[u8]) -> Envelope {
        let sig = self.sign(&pae(payload_type, payload));
        Envelope::new(
            payload_type,
            payload,
            self.public_key().keyid().to_string(),
            &sig,
        )
    }
}

/// The bundle files of a test release; content depends on the version.
pub fn bundle(version: &str) -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "index.html".into(),
            format!("<h1>{version}</h1>\n").into_bytes(),
        ),
        (
            "assets/app.js".into(),
            format!("start('{version}');\n").into_bytes(),
        ),
    ]
}

/// Stores blobs, manifest and statement of `APP` `version`; returns the statement pin.
pub fn publish_release(
    store: &mut Store,
    signer: &Signer,
    version: &str,
    min: Option<&str>,
) -> ObjectRef {
    let mut entries = Vec::new();
    for (path, content) in bundle(version) {
        let sha256 = sha256_hex(&content);
        entries.push(FileEntry {
            path,
            sha256: sha256.clone(),
            size: content.len() as u64,
        });
        store.insert(blob_key(&sha256), content);
    }
    let manifest = Manifest::new(APP, version, entries);
    let manifest_bytes = manifest.to_bytes();
    store.insert(manifest_key(APP, version), manifest_bytes.clone());
    let statement = ReleaseStatement {
        app: APP.into(),
        version: version.into(),
        created_at: ts("2026-11-23T10:00:00Z"),
        min_native_version: min.map(String::from),
        manifest: ObjectRef::of(&manifest_bytes),
        bundle_hash: manifest.bundle_hash.clone(),
        description: format!("Release {version}"),
    };
    put_statement(store, signer, version, &statement)
}

/// Signs `statement` and stores it at `APP`'s key for `version`; returns its pin.
pub fn put_statement(
    store: &mut Store,
    signer: &Signer,
    version: &str,
    statement: &ReleaseStatement,
) -> ObjectRef {
    let bytes = signer
        .envelope(RELEASE_PAYLOAD_TYPE, &statement.to_payload())
        .to_bytes();
    let pin = ObjectRef::of(&bytes);
    store.insert(statement_key(APP, version), bytes);
    pin
}

pub fn pointer(
    seq: u64,
    current: Option<ReleasePin>,
    rollout: Option<RolloutPin>,
) -> ChannelPointer {
    let issued_at = ts("2026-11-23T10:20:00Z");
    ChannelPointer {
        app: APP.into(),
        channel: CHANNEL.into(),
        seq,
        log_head: sha256_hex(format!("entry {seq}").as_bytes()),
        issued_at,
        expires_at: issued_at.plus_seconds(DEFAULT_TTL_SECONDS),
        current,
        rollout,
        holdout: None,
    }
}

/// Signs `pointer` and stores it at `APP`/`CHANNEL`'s key; returns the envelope bytes.
pub fn put_pointer(store: &mut Store, signer: &Signer, pointer: &ChannelPointer) -> Vec<u8> {
    let bytes = signer
        .envelope(POINTER_PAYLOAD_TYPE, &pointer.to_payload())
        .to_bytes();
    store.insert(pointer_key(APP, CHANNEL), bytes.clone());
    bytes
}

/// A request from `install_id` one hour after the test pointers were issued.
pub fn request<'a>(
    keys: &'a [PublicKey],
    install_id: &'a str,
    native: Option<&'a semver::Version>,
    last: Option<&'a AcceptedPointer>,
) -> DeviceRequest<'a> {
    DeviceRequest {
        app: APP,
        channel: CHANNEL,
        install_id,
        native_version: native,
        trusted_keys: keys,
        last_accepted: last,
        now: ts("2026-11-23T11:20:00Z"),
    }
}

pub const ROLLOUT_ID: &str = "r1";
pub const ROLLOUT_BP: u32 = 5000;

/// The first `device-<n>` inside (or outside) the standard rollout.
pub fn install_id(inside: bool) -> String {
    (0..)
        .map(|n| format!("device-{n}"))
        .find(|id| airlock_protocol::bucketing::in_rollout(ROLLOUT_ID, id, ROLLOUT_BP) == inside)
        .expect("half of all ids are inside")
}

/// A store where 1.3.0 is current and 1.4.0 (needing native 2.3.0) rolls out to 50 %, all
/// signed by `signer`; returns it with the pointer (seq 42).
pub fn standard_store(signer: &Signer) -> (Store, ChannelPointer) {
    let mut store = Store::new();
    let current = ReleasePin {
        version: "1.3.0".into(),
        release: publish_release(&mut store, signer, "1.3.0", None),
    };
    let rollout = RolloutPin {
        version: "1.4.0".into(),
        release: publish_release(&mut store, signer, "1.4.0", Some("2.3.0")),
        basis_points: ROLLOUT_BP,
        rollout_id: ROLLOUT_ID.into(),
    };
    let pointer = pointer(42, Some(current), Some(rollout));
    put_pointer(&mut store, signer, &pointer);
    (store, pointer)
}
