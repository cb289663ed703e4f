//! The crate's single error type.
//!
//! Invariant: every message names the offending value and says what was expected, so an error
//! printed by the console or a device log is actionable without reading the source.

/// Everything that can go wrong while building, parsing or verifying Airlock objects.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An app or channel name outside `[A-Za-z0-9._-]{1,64}` (or starting with `.` or `-`).
    #[error("invalid {kind} name {name:?}: {reason}")]
    InvalidName {
        /// `"app"` or `"channel"`.
        kind: &'static str,
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A release or native version that is not an acceptable semantic version.
    #[error("invalid version {version:?}: {reason}")]
    InvalidVersion {
        /// The version as given.
        version: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A timestamp that is not RFC 3339 UTC (`...Z`) or is out of range.
    #[error("invalid timestamp {value:?}: {reason}")]
    InvalidTimestamp {
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A document (manifest, statement, pointer, envelope, PEM...) that does not have the
    /// required shape.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// Which kind of document.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// A public key that cannot be used (unsupported algorithm or curve, too short, bad DER).
    #[error("unusable public key: {0}")]
    Key(String),
    /// A DSSE envelope whose type or signatures do not check out.
    #[error("signature check failed: {0}")]
    Signature(String),
    /// An object larger than its cap ([`crate::limits`]): refused before it is read whole.
    #[error("{what} {key:?} is over its cap: {size} bytes or more, at most {cap} are read")]
    OverCap {
        /// Which kind of object.
        what: &'static str,
        /// Its key (or URL).
        key: String,
        /// Its size, or how much was read before stopping.
        size: u64,
        /// The cap in bytes.
        cap: u64,
    },
    /// A message that would reach or exceed the signer's size limit.
    #[error("{what} is too large to sign: its PAE is {size} bytes, it must be under {limit}")]
    TooLarge {
        /// Which kind of document.
        what: &'static str,
        /// The PAE size in bytes.
        size: usize,
        /// The exclusive limit ([`crate::dsse::MAX_SIGNED_BYTES`]).
        limit: usize,
    },
}

impl Error {
    /// Shorthand for [`Error::Malformed`].
    pub(crate) fn malformed(what: &'static str, detail: impl std::fmt::Display) -> Self {
        Error::Malformed {
            what,
            detail: detail.to_string(),
        }
    }
}
