//! The caps on every object read from a store or a server: a reader never holds more than a
//! cap's worth of one object, whoever wrote it. A bucket writer without a key can plant a
//! 1 GB "pointer" or an envelope with 10,000 signatures; these caps make both a clear refusal
//! naming the object and its cap instead of memory or minutes spent on it.
//!
//! Invariant: every read of an object a stranger could have written passes a [`Cap`], and the
//! cap is checked before the bytes are kept (a reader stops at `cap + 1` bytes).

use crate::Error;

/// The most signatures one DSSE envelope may carry; more is refused before any is checked.
pub const MAX_SIGNATURES: usize = 16;

/// The largest signed document (pointer, release statement, key set, log entry): far above
/// what Airlock writes (a PAE must stay under 4 KiB) and far below what hurts.
pub const MAX_ENVELOPE_BYTES: u64 = 64 * 1024;

/// The largest manifest: room for about 60,000 files.
pub const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;

/// A cap on one kind of object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cap {
    /// What the object is, for messages ("pointer", "log entry"…).
    pub what: &'static str,
    /// The most bytes it may have.
    pub bytes: u64,
}

impl Cap {
    pub const POINTER: Cap = Cap::new("pointer", MAX_ENVELOPE_BYTES);
    pub const STATEMENT: Cap = Cap::new("release statement", MAX_ENVELOPE_BYTES);
    pub const KEY_SET: Cap = Cap::new("key set", MAX_ENVELOPE_BYTES);
    pub const LOG_ENTRY: Cap = Cap::new("log entry", MAX_ENVELOPE_BYTES);
    pub const MANIFEST: Cap = Cap::new("manifest", MAX_MANIFEST_BYTES);

    pub const fn new(what: &'static str, bytes: u64) -> Self {
        Self { what, bytes }
    }

    /// A bundle file whose manifest says it has `size` bytes: not one more is read.
    pub const fn blob(size: u64) -> Self {
        Self::new("bundle file", size)
    }

    /// Refuses `size` (bytes known or read so far) over the cap, naming `key`.
    pub fn check(&self, key: &str, size: u64) -> Result<(), Error> {
        if size > self.bytes {
            return Err(Error::OverCap {
                what: self.what,
                key: key.to_string(),
                size,
                cap: self.bytes,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_allows_its_size_and_refuses_one_more() {
        let cap = Cap::new("thing", 10);
        assert!(cap.check("k", 10).is_ok(), "the cap itself is allowed");
        let err = cap.check("k", 11).unwrap_err().to_string();
        assert!(
            err.contains("thing") && err.contains("\"k\"") && err.contains("10"),
            "the error names the object, its key and the cap: {err}"
        );
    }
}
