//! The caps and the key-set chain's permanence, as an attacker holding the bucket but no
//! current key would try them: an envelope with thousands of signatures, a later key-set
//! version that un-retires or drops a key, and a retired key's signature on an entry past
//! the position it was retired at.

mod common;

use airlock_protocol::device::{Fetched, ObjectSource};
use airlock_protocol::dsse::{Envelope, POINTER_PAYLOAD_TYPE, Signature};
use airlock_protocol::keyset::{
    KEYS_FORMAT_VERSION, KEYS_PAYLOAD_TYPE, KeySet, SignedKeySet, TrustedKey,
};
use airlock_protocol::limits::{Cap, MAX_SIGNATURES};
use common::*;
use std::collections::{BTreeMap, HashMap};

#[test]
fn an_envelope_with_ten_thousand_signatures_is_refused_before_any_is_checked() {
    let signer = Signer::fixed_p256();
    let mut env = signer.envelope(POINTER_PAYLOAD_TYPE, b"{}");
    for _ in 0..10_000 {
        env.signatures.push(Signature {
            keyid: "00".into(),
            sig: "AA==".into(),
        });
    }
    let bytes = env.to_bytes();
    let started = std::time::Instant::now();
    let err = Envelope::from_bytes(&bytes).unwrap_err().to_string();
    eprintln!("refused in {:?}", started.elapsed());
    assert!(err.contains("cap"), "over the 64 KiB cap: {err}");
    // Even built in memory (not parsed), verification refuses it.
    let err = env
        .verify(POINTER_PAYLOAD_TYPE, &[signer.public_key()])
        .unwrap_err()
        .to_string();
    assert!(err.contains(&MAX_SIGNATURES.to_string()), "{err}");
    // Within the byte cap, 17 signatures are still too many.
    let mut env = signer.envelope(POINTER_PAYLOAD_TYPE, b"{}");
    env.signatures.extend(std::iter::repeat_n(
        env.signatures[0].clone(),
        MAX_SIGNATURES,
    ));
    let err = Envelope::from_bytes(&env.to_bytes())
        .unwrap_err()
        .to_string();
    assert!(err.contains("17 signatures"), "{err}");
}

#[test]
fn a_device_source_refuses_an_object_over_its_cap() {
    let mut objects: HashMap<String, Vec<u8>> = HashMap::new();
    objects.insert("k".into(), vec![b' '; 70 * 1024]);
    assert_eq!(
        objects.fetch("k", Cap::POINTER),
        Ok(Fetched::TooLarge { size: 70 * 1024 })
    );
    assert!(matches!(
        objects.fetch("k", Cap::MANIFEST),
        Ok(Fetched::Bytes(_))
    ));
}

fn doc(signers: &[&Signer], set: &KeySet) -> SignedKeySet {
    let payload = set.to_payload();
    let mut env = signers[0].envelope(KEYS_PAYLOAD_TYPE, &payload);
    for s in &signers[1..] {
        let other = s.envelope(KEYS_PAYLOAD_TYPE, &payload);
        env.signatures.extend(other.signatures);
    }
    SignedKeySet::parse(&env.to_bytes()).expect("a well-formed key set")
}

/// Version 1 with keys a and b; version 2 retires b at app `shop` seq 7.
fn chain() -> (Signer, Signer, SignedKeySet, SignedKeySet) {
    let (a, b) = (Signer::fixed_p256(), Signer::fresh_p256());
    let at = ts("2026-01-01T00:00:00Z");
    let v1 = KeySet {
        format_version: KEYS_FORMAT_VERSION,
        version: 1,
        previous: None,
        issued_at: at,
        keys: vec![
            TrustedKey::new(&a.public_key(), "local:a", at, "ana"),
            TrustedKey::new(&b.public_key(), "local:b", at, "ana"),
        ],
    };
    let v1 = doc(&[&a, &b], &v1);
    let mut v2 = v1.set.next(&v1.hash, ts("2026-02-01T00:00:00Z"));
    let retired = v2.keys.iter_mut().find(|k| k.source == "local:b").unwrap();
    retired.retired_at = Some(ts("2026-02-01T00:00:00Z"));
    retired.retired_by = Some("ana".into());
    retired.retired_after = Some(BTreeMap::from([("shop".to_string(), 7)]));
    let v2 = doc(&[&a], &v2);
    v1.follows(&v2.bytes)
        .expect("retiring a key extends the chain");
    (a, b, v1, v2)
}

#[test]
fn retirement_is_permanent_in_the_chain() {
    let (a, _b, _v1, v2) = chain();
    // Version 3 un-retires b, signed by the still-active a: refused.
    let mut v3 = v2.set.next(&v2.hash, ts("2026-03-01T00:00:00Z"));
    for k in &mut v3.keys {
        k.retired_at = None;
        k.retired_by = None;
        k.retired_after = None;
    }
    let err = v2.follows(&doc(&[&a], &v3).bytes).unwrap_err().to_string();
    assert!(err.contains("un-retires"), "{err}");
    // Dropping the retired key (so its history no longer verifies) is refused too.
    let mut v3 = v2.set.next(&v2.hash, ts("2026-03-01T00:00:00Z"));
    v3.keys.retain(|k| k.retired_at.is_none());
    assert!(v2.follows(&doc(&[&a], &v3).bytes).is_err());
    // Moving its position forward (to accept later entries) is a change: refused.
    let mut v3 = v2.set.next(&v2.hash, ts("2026-03-01T00:00:00Z"));
    for k in v3.keys.iter_mut().filter(|k| k.retired_at.is_some()) {
        k.retired_after = Some(BTreeMap::from([("shop".to_string(), 99)]));
    }
    assert!(v2.follows(&doc(&[&a], &v3).bytes).is_err());
}

#[test]
fn a_retired_key_counts_up_to_its_position_whatever_time_an_entry_claims() {
    let (_a, b, _v1, v2) = chain();
    let b_id = b.public_key().keyid().to_string();
    let counts = |app: &str, seq: u64| {
        v2.set
            .trusted_for(app, seq, Some(ts("2025-01-01T00:00:00Z")))
            .iter()
            .any(|k| k.keyid() == b_id)
    };
    assert!(counts("shop", 7), "history it signed stays valid");
    assert!(
        !counts("shop", 8),
        "a backdated entry past its position does not count"
    );
    assert!(
        !counts("other", 1),
        "an app with no entry when it was retired gets nothing from it"
    );
}
