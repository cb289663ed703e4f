//! A release statement's payload: parse, validate, write back, read again.
#![no_main]

use airlock_protocol::statement::ReleaseStatement;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = ReleaseStatement::from_payload(data) {
        let _ = s.validate();
        let _ = s.min_native();
        let again =
            ReleaseStatement::from_payload(&s.to_payload()).expect("a written statement parses");
        assert_eq!(again, s, "parse ∘ write is the identity");
    }
});
