//! The registry's source of truth: an append-only, hash-chained event log per app at
//! `apps/<app>/log/<seq as 20 digits>.json`. Each entry names the hash of the one before it,
//! so the log cannot be edited without breaking the chain, and each signed channel pointer
//! names the hash of the entry that produced it. Appends are create-only, so of two
//! consoles appending the same seq exactly one wins; the other re-reads and re-validates.

pub mod entry;
pub mod reader;

pub use entry::{Event, LogEntry, Withdrawal};
