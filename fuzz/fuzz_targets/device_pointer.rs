//! The reference device check on a pointer's stored bytes, as a device fetched them.
#![no_main]

use airlock_protocol::device::{DeviceRequest, check_pointer_bytes};
use airlock_protocol::keys::PublicKey;
use airlock_protocol::time::Timestamp;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn keys() -> &'static [PublicKey] {
    static KEYS: OnceLock<Vec<PublicKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let p256 = include_str!("../../protocol/tests/vectors/p256.pub.pem");
        let rsa = include_str!("../../protocol/tests/vectors/rsa2048.pub.pem");
        let mut keys = PublicKey::from_pem(p256).expect("the test vector key");
        keys.extend(PublicKey::from_pem(rsa).expect("the test vector key"));
        keys
    })
}

fuzz_target!(|data: &[u8]| {
    let now = Timestamp::parse("2026-01-01T00:00:00Z").expect("a fixed time");
    let req = DeviceRequest {
        app: "shop-ios",
        channel: "Production",
        install_id: "fuzz",
        native_version: None,
        trusted_keys: keys(),
        last_accepted: None,
        now,
    };
    let _ = check_pointer_bytes(&req, data);
});
