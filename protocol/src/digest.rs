//! SHA-256 helpers and [`ObjectRef`], the (hash, size) pin used between documents.
//!
//! Invariant: every hash this crate writes is 64 lowercase hex digits, and an `ObjectRef`
//! matches bytes only when both the size and the SHA-256 agree.

use std::fmt;

use aws_lc_rs::digest::{Context, SHA256};
use serde::{Deserialize, Serialize};

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&SHA256, bytes);
    digest
        .as_ref()
        .try_into()
        .expect("SHA-256 digests are 32 bytes")
}

/// SHA-256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha256(bytes))
}

/// Whether `text` has the shape of a hash this crate writes: 64 lowercase hex digits.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Incremental SHA-256, for content that arrives in pieces.
#[derive(Clone)]
pub struct Sha256Hasher(Context);

impl Sha256Hasher {
    /// A hasher that has seen nothing yet.
    pub fn new() -> Self {
        Sha256Hasher(Context::new(&SHA256))
    }

    /// Feeds more bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The SHA-256 of everything fed, as lowercase hex.
    pub fn finish(self) -> String {
        hex::encode(self.0.finish())
    }
}

impl Default for Sha256Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Sha256Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sha256Hasher")
    }
}

/// A pin on an object's exact bytes: their SHA-256 (hex) and length.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectRef {
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    /// Length of the bytes.
    pub size: u64,
}

impl ObjectRef {
    /// The pin for `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        ObjectRef {
            sha256: sha256_hex(bytes),
            size: bytes.len() as u64,
        }
    }

    /// Whether `bytes` are exactly the pinned object (size first, then hash).
    pub fn matches(&self, bytes: &[u8]) -> bool {
        self.size == bytes.len() as u64 && self.sha256 == sha256_hex(bytes)
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256 {} ({} bytes)", self.sha256, self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn known_answers() {
        assert_eq!(sha256_hex(b"abc"), ABC, "FIPS 180-2 test vector");
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let mut hasher = Sha256Hasher::new();
        hasher.update(b"a");
        hasher.update(b"bc");
        assert_eq!(
            hasher.finish(),
            ABC,
            "streaming must equal one-shot hashing"
        );
    }

    #[test]
    fn object_ref_needs_size_and_hash() {
        let pin = ObjectRef::of(b"abc");
        assert_eq!(
            pin,
            ObjectRef {
                sha256: ABC.into(),
                size: 3
            }
        );
        assert!(pin.matches(b"abc"));
        assert!(!pin.matches(b"abd"));
        assert!(
            !ObjectRef {
                size: 4,
                ..pin.clone()
            }
            .matches(b"abc"),
            "size is part of the pin"
        );
        assert_eq!(
            serde_json::to_string(&pin).unwrap(),
            format!(r#"{{"sha256":"{ABC}","size":3}}"#)
        );
    }

    #[test]
    fn hex_shape() {
        assert!(is_sha256_hex(ABC));
        assert!(
            !is_sha256_hex(&ABC.to_uppercase()),
            "hashes are lowercase hex"
        );
        assert!(!is_sha256_hex(&ABC[1..]));
    }
}
