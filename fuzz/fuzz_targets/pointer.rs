//! A channel pointer's payload: parse, validate, and (when it parses) write it back and
//! read the same pointer again.
#![no_main]

use airlock_protocol::pointer::ChannelPointer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = ChannelPointer::from_payload(data) {
        let _ = p.validate();
        let again = ChannelPointer::from_payload(&p.to_payload()).expect("a written pointer parses");
        assert_eq!(again, p, "parse ∘ write is the identity");
    }
});
