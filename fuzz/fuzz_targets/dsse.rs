//! A DSSE envelope: parse (with its caps), decode, verify against a fixed key, write back.
#![no_main]

use airlock_protocol::dsse::{Envelope, POINTER_PAYLOAD_TYPE};
use airlock_protocol::keys::PublicKey;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn key() -> &'static PublicKey {
    static KEY: OnceLock<PublicKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let pem = include_str!("../../protocol/tests/vectors/p256.pub.pem");
        PublicKey::from_pem(pem).expect("the test vector key")[0].clone()
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = Envelope::from_bytes(data) {
        let _ = env.payload_bytes();
        let _ = env.verify(POINTER_PAYLOAD_TYPE, std::slice::from_ref(key()));
        if let Ok(again) = Envelope::from_bytes(&env.to_bytes()) {
            assert_eq!(again, env, "parse ∘ write is the identity");
        }
    }
});
