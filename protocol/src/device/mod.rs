//! The reference device check: what a device fetches and verifies before running a bundle.
//!
//! Invariant: [`verify_update`] returns `Run` only when every rule in PROTOCOL.md holds for the
//! one release that applies to this device; on any failure it refuses with the first broken
//! rule and never substitutes another release (no fallback from a bad rollout to `current`).

mod check;
mod refusal;
mod release;
mod report;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::keys::PublicKey;
use crate::limits::Cap;
use crate::pointer::ChannelPointer;
use crate::time::Timestamp;

pub use check::{check_pointer_bytes, verify_update};
pub use refusal::Refusal;

/// Read access to a store, by the keys in [`crate::layout`].
pub trait ObjectSource {
    /// The object, holding at most `cap` bytes of it (a source stops reading at
    /// `cap.bytes + 1`); `Err` when it could not be read.
    fn fetch(&self, key: &str, cap: Cap) -> Result<Fetched, String>;
}

/// What a capped fetch found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fetched {
    Missing,
    Bytes(Vec<u8>),
    /// Larger than the cap: at least `size` bytes, none of them kept.
    TooLarge {
        size: u64,
    },
}

impl Fetched {
    /// What a source holding `found` in memory answers under `cap`.
    pub fn capped(found: Option<&Vec<u8>>, cap: Cap) -> Self {
        match found {
            None => Fetched::Missing,
            Some(b) if b.len() as u64 > cap.bytes => Fetched::TooLarge {
                size: b.len() as u64,
            },
            Some(b) => Fetched::Bytes(b.clone()),
        }
    }
}

impl ObjectSource for HashMap<String, Vec<u8>> {
    fn fetch(&self, key: &str, cap: Cap) -> Result<Fetched, String> {
        Ok(Fetched::capped(self.get(key), cap))
    }
}

impl ObjectSource for BTreeMap<String, Vec<u8>> {
    fn fetch(&self, key: &str, cap: Cap) -> Result<Fetched, String> {
        Ok(Fetched::capped(self.get(key), cap))
    }
}

/// The pointer a device last accepted: its seq and the SHA-256 (hex) of its envelope bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedPointer {
    /// The accepted pointer's seq.
    pub seq: u64,
    /// Hex SHA-256 of the `pointer.dsse.json` bytes that were accepted.
    pub sha256: String,
}

/// Everything a device knows when it checks for an update.
#[derive(Clone, Copy, Debug)]
pub struct DeviceRequest<'a> {
    /// The app the device runs.
    pub app: &'a str,
    /// The channel it follows.
    pub channel: &'a str,
    /// Its stable install id (input to bucketing).
    pub install_id: &'a str,
    /// Its native app version, if known.
    pub native_version: Option<&'a semver::Version>,
    /// The keys it embeds; any one of them may sign.
    pub trusted_keys: &'a [PublicKey],
    /// What it accepted last time, if anything.
    pub last_accepted: Option<&'a AcceptedPointer>,
    /// The current time.
    pub now: Timestamp,
}

/// Which pointer field the release came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Via {
    /// `current`.
    Current,
    /// `rollout` (the device is in the rollout's buckets).
    Rollout,
    /// `holdout` (the device is among the buckets kept on the previous release): it reports
    /// its telemetry with `cohort="holdout"` (docs/KPIS.md, "When an event counts").
    Holdout,
}

/// What the device should do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(
    tag = "outcome",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Outcome {
    /// Run this verified release.
    Run {
        /// The release version.
        version: String,
        /// Where it came from.
        via: Via,
        /// Its bundle hash.
        bundle_hash: String,
        /// How many files it has.
        files: usize,
    },
    /// The pointer is valid but names nothing for this device: keep the built-in bundle.
    KeepBuiltIn,
    /// Keep running what the device has, and report why.
    Refused {
        /// The first rule that failed.
        reason: Refusal,
    },
}

/// The result of [`verify_update`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// What to do.
    pub outcome: Outcome,
    /// Set when the pointer itself was accepted (signature, names, seq, expiry all OK), even if
    /// the release it names was then refused: this is the state a device persists.
    pub accepted_pointer: Option<AcceptedPointer>,
    /// The accepted pointer's payload, when there is one.
    pub pointer: Option<ChannelPointer>,
}

impl Decision {
    /// The version running after this decision (`None` meaning the built-in bundle): the new
    /// one on `Run`; the built-in bundle on `KeepBuiltIn` (a valid pointer that names nothing
    /// for this device — e.g. a first rollout was reverted — returns it to what it shipped
    /// with); `previously_running` on a refusal, since a refused update changes nothing.
    pub fn version_to_run(&self, previously_running: Option<&str>) -> Option<String> {
        match &self.outcome {
            Outcome::Run { version, .. } => Some(version.clone()),
            Outcome::KeepBuiltIn => None,
            Outcome::Refused { .. } => previously_running.map(String::from),
        }
    }

    /// The refusal, if the outcome is one.
    pub fn refusal(&self) -> Option<&Refusal> {
        match &self.outcome {
            Outcome::Refused { reason } => Some(reason),
            _ => None,
        }
    }
}
