//! Property tests: what Airlock writes, it reads back as the same value (parse ∘ write is the
//! identity) for pointers, manifests, key-set payloads and envelopes, over generated values
//! rather than the few fixed vectors. The fuzz targets (fuzz/) check the same from the other
//! side: whatever parses, writes back to something that parses the same.

use airlock_protocol::digest::ObjectRef;
use airlock_protocol::dsse::{Envelope, Signature};
use airlock_protocol::manifest::{FileEntry, Manifest};
use airlock_protocol::pointer::{ChannelPointer, ReleasePin, RolloutPin};
use airlock_protocol::time::Timestamp;
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9._-]{0,20}"
}

fn version() -> impl Strategy<Value = String> {
    (0u32..100, 0u32..100, 0u32..1000).prop_map(|(a, b, c)| format!("{a}.{b}.{c}"))
}

fn hex64() -> impl Strategy<Value = String> {
    "[0-9a-f]{64}"
}

fn time() -> impl Strategy<Value = Timestamp> {
    (0i64..4_000_000_000).prop_map(|t| Timestamp::from_unix(t).expect("in range"))
}

fn object_ref() -> impl Strategy<Value = ObjectRef> {
    (hex64(), any::<u64>()).prop_map(|(sha256, size)| ObjectRef { sha256, size })
}

fn pointer() -> impl Strategy<Value = ChannelPointer> {
    let current = proptest::option::of((version(), object_ref()))
        .prop_map(|c| c.map(|(version, release)| ReleasePin { version, release }));
    let rollout = proptest::option::of((version(), object_ref(), 0u32..=10_000, "[a-z0-9-]{1,40}"))
        .prop_map(|r| {
            r.map(|(version, release, basis_points, rollout_id)| RolloutPin {
                version,
                release,
                basis_points,
                rollout_id,
            })
        });
    (
        name(),
        name(),
        any::<u64>(),
        hex64(),
        time(),
        time(),
        current,
        rollout,
    )
        .prop_map(
            |(app, channel, seq, log_head, issued_at, expires_at, current, rollout)| {
                ChannelPointer {
                    app,
                    channel,
                    seq,
                    log_head,
                    issued_at,
                    expires_at,
                    current,
                    rollout,
                    holdout: None,
                }
            },
        )
}

proptest! {
    #[test]
    fn a_pointer_reads_back_as_written(p in pointer()) {
        prop_assert_eq!(ChannelPointer::from_payload(&p.to_payload()).unwrap(), p);
    }

    #[test]
    fn a_manifest_reads_back_as_written(
        app in name(),
        version in version(),
        files in proptest::collection::vec(("[a-z]{1,8}(/[a-z]{1,8}){0,2}\\.js", hex64(), any::<u64>()), 0..20),
    ) {
        let mut files: Vec<FileEntry> = files
            .into_iter()
            .map(|(path, sha256, size)| FileEntry { path, sha256, size })
            .collect();
        files.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        files.dedup_by(|a, b| a.path == b.path);
        let m = Manifest { app, version, bundle_hash: "0".repeat(64), files };
        prop_assert_eq!(Manifest::from_bytes(&m.to_bytes()).unwrap(), m);
    }

    #[test]
    fn an_envelope_reads_back_as_written(
        payload in proptest::collection::vec(any::<u8>(), 0..2000),
        sigs in proptest::collection::vec((hex64(), proptest::collection::vec(any::<u8>(), 64..72)), 1..=16),
    ) {
        let mut env = Envelope::new("application/vnd.airlock.pointer+json", &payload, sigs[0].0.clone(), &sigs[0].1);
        for (keyid, sig) in &sigs[1..] {
            env.add_signature(keyid.clone(), sig);
        }
        let again = Envelope::from_bytes(&env.to_bytes()).unwrap();
        prop_assert_eq!(again.payload_bytes().unwrap(), payload);
        prop_assert_eq!(again.signatures.len(), sigs.len());
        prop_assert_eq!(again, env);
    }

    #[test]
    fn a_timestamp_reads_back_as_written(t in time()) {
        prop_assert_eq!(Timestamp::parse(&t.to_string()).unwrap(), t);
    }
}

#[test]
fn seventeen_signatures_do_not_read_back() {
    let mut env = Envelope::new("t", b"p", "k".into(), b"s");
    for _ in 0..16 {
        env.signatures.push(Signature {
            keyid: "k".into(),
            sig: "cw==".into(),
        });
    }
    assert!(Envelope::from_bytes(&env.to_bytes()).is_err());
}
