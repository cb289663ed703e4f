//! A stored key-set version (envelope and payload), and a payload alone; where one parses,
//! the chain rule against it and the per-position trust query run too.
#![no_main]

use airlock_protocol::keyset::{KeySet, SignedKeySet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(set) = KeySet::from_payload(data) {
        let _ = set.trusted_for("shop", 7, None);
        let again = KeySet::from_payload(&set.to_payload()).expect("a written key set parses");
        assert_eq!(again, set, "parse ∘ write is the identity");
    }
    if let Ok(doc) = SignedKeySet::parse(data) {
        let _ = doc.follows(data);
    }
});
