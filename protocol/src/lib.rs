//! Airlock's published OTA formats and their verification. Pure: no I/O, no clock, no async.
//!
//! Invariant: this crate is the single definition of every byte a store holds and every rule a
//! device applies; `docs/PROTOCOL.md` describes the same formats and its vectors are tested here.
//!
//! Table of contents, in dependency order:
//! - [`error`]: the crate's [`Error`].
//! - [`time`]: [`time::Timestamp`], RFC 3339 UTC whole seconds.
//! - [`digest`]: SHA-256 helpers and [`digest::ObjectRef`] (hash + size pins).
//! - [`layout`]: object keys inside a store, and name/version rules.
//! - [`limits`]: the caps on every object read (sizes, signatures per envelope).
//! - [`manifest`]: the bundle manifest and the `sha256sum`-compatible bundle hash.
//! - [`statement`]: the signed release statement.
//! - [`pointer`](mod@pointer): the signed channel pointer devices poll.
//! - [`ecdsa`]: the low-S form of ECDSA P-256 signatures.
//! - [`keys`]: trusted public keys (RSA PKCS#1 v1.5 / ECDSA P-256, SHA-256) and key ids.
//! - [`dsse`]: DSSE envelopes, PAE, and signature verification.
//! - [`keyset`]: the signed, chained document of trusted keys.
//! - [`bucketing`]: which devices are in a rollout.
//! - [`device`]: the reference device check, [`device::verify_update`].

pub mod bucketing;
mod der;
pub mod device;
pub mod digest;
pub mod dsse;
pub mod ecdsa;
pub mod error;
pub mod keys;
pub mod keyset;
pub mod layout;
pub mod limits;
pub mod manifest;
pub mod pointer;
pub mod statement;
pub mod time;

pub use error::Error;
