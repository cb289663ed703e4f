//! One log entry and the events it can record. The JSON form is documented in
//! docs/PROTOCOL.md ("The event log"); field names are camelCase and `kind` says which event.
//! An entry's identity is the SHA-256 of its exact bytes, which the next entry's `prev` pins.

use crate::error::{Error, Result};
use airlock_protocol::digest::{ObjectRef, sha256_hex};
use airlock_protocol::time::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub app: String,
    pub seq: u64,
    /// Hex SHA-256 of the previous entry's bytes; `None` for the first entry (seq 1).
    pub prev: Option<String>,
    pub at: Timestamp,
    pub actor: String,
    #[serde(flatten)]
    pub event: Event,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A random id of the command that wrote the entry (32 hex digits). Two identical
    /// commands in the same second still write different entries, so a writer told "already
    /// exists" on a retry can tell its own entry from a rival's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

/// Everything that can happen to an app. Channel-changing events carry the versions they
/// retire to `archived` under the retention rule, so retention is itself logged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Event {
    /// A bundle was published and became the channel's release (an unprotected channel).
    #[serde(rename_all = "camelCase")]
    Released {
        version: String,
        channel: String,
        manifest: ObjectRef,
        release: ObjectRef,
        bundle_hash: String,
        files: u64,
        bytes: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_native_version: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        archived: Vec<String>,
    },
    /// A rollout of `version` into `to` started (at 10000 it completes at once).
    #[serde(rename_all = "camelCase")]
    Promoted {
        version: String,
        from: String,
        to: String,
        basis_points: u32,
        rollout_id: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        archived: Vec<String>,
    },
    /// The rollout in `channel` grew to `basis_points` (10000 completes it).
    #[serde(rename_all = "camelCase")]
    Expanded {
        channel: String,
        version: String,
        basis_points: u32,
        rollout_id: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        archived: Vec<String>,
    },
    #[serde(rename_all = "camelCase")]
    Paused {
        channel: String,
        version: String,
        rollout_id: String,
    },
    #[serde(rename_all = "camelCase")]
    Resumed {
        channel: String,
        version: String,
        rollout_id: String,
    },
    /// The partial rollout in `channel` ended; everyone is back on the channel's current.
    #[serde(rename_all = "camelCase")]
    Reverted {
        channel: String,
        version: String,
        rollout_id: String,
        basis_points: u32,
    },
    /// `channel`'s current went back to `to`; `from` (if any) is quarantined and any rollout
    /// in progress (`endedRollout`) ended.
    #[serde(rename_all = "camelCase")]
    RolledBack {
        channel: String,
        from: Option<String>,
        to: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ended_rollout: Option<String>,
        /// Other channels serving `from`, which a quarantine must not leave in place.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        withdrawn: Vec<Withdrawal>,
    },
    Approved {
        version: String,
        channel: String,
    },
    Quarantined {
        version: String,
    },
    Archived {
        version: String,
        channel: String,
    },
    PointerResigned {
        channel: String,
    },
}

/// A channel that served a release being quarantined, and what it serves instead: its
/// rollout (if of that release) ends, and `current` becomes `to` (`None`: the channel goes
/// back to devices' built-in bundles).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    pub channel: String,
    pub current: Option<String>,
}

impl Event {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Released { .. } => "released",
            Self::Promoted { .. } => "promoted",
            Self::Expanded { .. } => "expanded",
            Self::Paused { .. } => "paused",
            Self::Resumed { .. } => "resumed",
            Self::Reverted { .. } => "reverted",
            Self::RolledBack { .. } => "rolledBack",
            Self::Approved { .. } => "approved",
            Self::Quarantined { .. } => "quarantined",
            Self::Archived { .. } => "archived",
            Self::PointerResigned { .. } => "pointerResigned",
        }
    }

    /// The channels whose served state (their pointers) this event changes.
    pub fn moved_channels(&self) -> Vec<&str> {
        match self {
            Self::RolledBack {
                channel, withdrawn, ..
            } => std::iter::once(channel.as_str())
                .chain(withdrawn.iter().map(|w| w.channel.as_str()))
                .collect(),
            Self::Released { channel, .. }
            | Self::Expanded { channel, .. }
            | Self::Reverted { channel, .. }
            | Self::PointerResigned { channel } => vec![channel],
            Self::Promoted { to, .. } => vec![to],
            Self::Paused { .. }
            | Self::Resumed { .. }
            | Self::Approved { .. }
            | Self::Quarantined { .. }
            | Self::Archived { .. } => Vec::new(),
        }
    }
}

impl LogEntry {
    /// The entry's exact stored bytes (pretty JSON and a newline, UTF-8).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("log entries always serialise");
        bytes.push(b'\n');
        bytes
    }

    pub fn from_bytes(key: &str, bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::Integrity(format!("log entry {key} is not readable: {e}")))
    }
}

/// The hash that identifies an entry (and that the next entry's `prev` must name).
pub fn entry_hash(bytes: &[u8]) -> String {
    sha256_hex(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_kind_tag() {
        let e = LogEntry {
            app: "shop-ios".into(),
            seq: 2,
            prev: Some("ab".repeat(32)),
            at: Timestamp::from_unix(1_700_000_000).unwrap(),
            actor: "ana".into(),
            command: Some("0f".repeat(16)),
            event: Event::Expanded {
                channel: "Production".into(),
                version: "1.2.0".into(),
                basis_points: 2000,
                rollout_id: "r1".into(),
                archived: vec![],
            },
            reason: Some("metrics are fine".into()),
        };
        let bytes = e.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.contains("\"kind\": \"expanded\""),
            "kind tag must be present: {text}"
        );
        assert!(
            text.contains("\"basisPoints\": 2000"),
            "fields are camelCase: {text}"
        );
        assert_eq!(LogEntry::from_bytes("k", &bytes).unwrap(), e);
    }
}
