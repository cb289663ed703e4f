//! A manifest: parse, check its consistency, write back, read again.
#![no_main]

use airlock_protocol::manifest::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::from_bytes(data) {
        let _ = m.check();
        let again = Manifest::from_bytes(&m.to_bytes()).expect("a written manifest parses");
        assert_eq!(again, m, "parse ∘ write is the identity");
    }
});
