//! One log entry and the events it can record. The JSON form is documented in
//! docs/PROTOCOL.md ("The event log"); field names are camelCase and `kind` says which event.
//! An entry is stored as a DSSE envelope ([`LOG_PAYLOAD_TYPE`]) signed with the workspace's
//! release key, so only a holder of a trusted key can change what the log says. An entry's
//! identity is the SHA-256 of its exact stored bytes, which the next entry's `prev` pins.

use crate::error::{Error, Result};
use airlock_protocol::digest::{ObjectRef, sha256_hex};
use airlock_protocol::dsse::{Envelope, LOG_PAYLOAD_TYPE};
use airlock_protocol::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The entry format this build writes and reads. A later format is refused with advice to
/// upgrade, never misread.
pub const FORMAT_VERSION: u32 = 2;
/// The format of an entry that sets or ends a holdout (`holdout`, `endedHoldouts`): a build
/// from before holdouts reads it as newer and refuses to act on the log, instead of reading
/// past fields that change what devices are served. Every other entry stays at
/// [`FORMAT_VERSION`].
pub const HOLDOUT_FORMAT_VERSION: u32 = 3;

impl Event {
    /// The format an entry carrying this event is written in.
    pub fn format_version(&self) -> u32 {
        let holds = match self {
            Event::Released { holdout, .. }
            | Event::Promoted { holdout, .. }
            | Event::Expanded { holdout, .. } => holdout.is_some(),
            Event::Quarantined { ended_holdouts, .. } => !ended_holdouts.is_empty(),
            _ => false,
        };
        if holds {
            HOLDOUT_FORMAT_VERSION
        } else {
            FORMAT_VERSION
        }
    }
}

/// The event kinds this build knows; an entry of any other kind was written by a newer one.
pub const KNOWN_KINDS: [&str; 19] = [
    "released",
    "promoted",
    "expanded",
    "paused",
    "resumed",
    "reverted",
    "rolledBack",
    "approved",
    "rejected",
    "quarantined",
    "archived",
    "pointerResigned",
    "gatePassed",
    "gateFailed",
    "currentPassed",
    "incidentOpened",
    "incidentChecked",
    "incidentClosed",
    "recovered",
];

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub format_version: u32,
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
        /// The URL of the store the release's objects were published into.
        store: String,
        manifest: ObjectRef,
        release: ObjectRef,
        bundle_hash: String,
        files: u64,
        bytes: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_native_version: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        archived: Vec<String>,
        /// The previous release kept for a randomized share of devices (when this entry
        /// makes `version` current and the channel keeps a holdout).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        holdout: Option<Holdout>,
    },
    /// A rollout of `version` into `to` started (at 10000 it completes at once).
    #[serde(rename_all = "camelCase")]
    Promoted {
        version: String,
        from: String,
        to: String,
        basis_points: u32,
        rollout_id: String,
        /// The steps (basis points, ascending, ending at 10000) this rollout follows, so every
        /// console agrees on "next" whatever its own airlock.toml says.
        plan: Vec<u32>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        archived: Vec<String>,
        /// The previous release kept for a randomized share of devices (when this entry
        /// makes `version` current and the channel keeps a holdout).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        holdout: Option<Holdout>,
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
        /// The previous release kept for a randomized share of devices (when this entry
        /// makes `version` current and the channel keeps a holdout).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        holdout: Option<Holdout>,
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
    /// A reviewer turned the release down for `channel`; the entry's `reason` says why. It
    /// stays promotable only after an approval given later.
    Rejected {
        version: String,
        channel: String,
    },
    /// `version` may never be served again; the holdouts that kept it (`endedHoldouts`:
    /// channels) end with it.
    #[serde(rename_all = "camelCase")]
    Quarantined {
        version: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ended_holdouts: Vec<String>,
    },
    Archived {
        version: String,
        channel: String,
    },
    PointerResigned {
        channel: String,
    },
    /// A key holder resolved a tampered log (`airlock recover`): the entries this desktop
    /// had seen that the store lost were written back (`restored`), and those it could not
    /// keep are named (`discarded`, each "seq N kind hash"). Placed past every seq any
    /// pointer carried, it re-signs every served channel's pointer, so pointer seqs keep
    /// rising whatever happened to the log.
    #[serde(rename_all = "camelCase")]
    Recovered {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        restored: Vec<u64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        discarded: Vec<String>,
    },
    /// The canary gate judged the rollout's current step (at `basisPoints`) over its
    /// observation window and found the release safe (docs/KPIS.md). An expansion by the
    /// same watcher follows in its own entry.
    #[serde(rename_all = "camelCase")]
    GatePassed {
        channel: String,
        version: String,
        rollout_id: String,
        basis_points: u32,
        verdict: GateRecord,
    },
    /// The canary gate found harm (or a warning) in the rollout's current step; a pause, or
    /// for a `critical` failure a revert, follows in its own entry.
    #[serde(rename_all = "camelCase")]
    GateFailed {
        channel: String,
        version: String,
        rollout_id: String,
        basis_points: u32,
        critical: bool,
        verdict: GateRecord,
    },
    /// The canary gate judged `version`, current in `channel` since `sinceSeq`, against its
    /// rollback target over that stay and found it safe (docs/KPIS.md, "From Staging to
    /// Production"); the watcher's promotion to `to` follows in its own entry.
    #[serde(rename_all = "camelCase")]
    CurrentPassed {
        channel: String,
        version: String,
        since_seq: u64,
        to: String,
        verdict: GateRecord,
    },
    /// An incident about `version` in `channel` was opened (docs/KPIS.md, "Incidents"): by the
    /// gate on a failure, or by a person. Its number is this entry's seq; the entry's `reason`
    /// says what was seen.
    #[serde(rename_all = "camelCase")]
    IncidentOpened {
        channel: String,
        version: String,
        /// 1 (immediate rollback) to 3 (fix forward), from the decision tree.
        severity: u8,
        /// What the responder should do, in words.
        recommendation: String,
        /// The KPIs that triggered it (none when a person opened it).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        kpis: Vec<GateKpi>,
    },
    /// An item of incident `incident`'s post-rollback checklist holds: checked by Airlock
    /// (`detail` says what it saw) or ticked by a person.
    #[serde(rename_all = "camelCase")]
    IncidentChecked {
        incident: u64,
        item: ChecklistItem,
        detail: String,
    },
    #[serde(rename_all = "camelCase")]
    IncidentClosed {
        incident: u64,
    },
}

/// The post-rollback checklist (docs/KPIS.md, "Incidents"): the first four Airlock checks
/// itself, the last two a person ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum ChecklistItem {
    /// The pointer devices read (from the store, and through the CDN address when one is
    /// configured) no longer serves the bad release.
    Pointer,
    /// The error rate is back to the good release's before the incident.
    ErrorRate,
    /// The good release is back on 95 % of the channel's active devices (target: within
    /// 30 minutes of the action).
    Adoption,
    /// The bad release is quarantined (after a rollback).
    Quarantined,
    SupportNotified,
    PostmortemScheduled,
}

impl ChecklistItem {
    pub const ALL: [ChecklistItem; 6] = [
        ChecklistItem::Pointer,
        ChecklistItem::ErrorRate,
        ChecklistItem::Adoption,
        ChecklistItem::Quarantined,
        ChecklistItem::SupportNotified,
        ChecklistItem::PostmortemScheduled,
    ];

    /// Its name on the command line and in JSON (`support-notified`).
    pub fn key(self) -> &'static str {
        match self {
            ChecklistItem::Pointer => "pointer",
            ChecklistItem::ErrorRate => "error-rate",
            ChecklistItem::Adoption => "adoption",
            ChecklistItem::Quarantined => "quarantined",
            ChecklistItem::SupportNotified => "support-notified",
            ChecklistItem::PostmortemScheduled => "postmortem-scheduled",
        }
    }

    pub fn parse(key: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|i| i.key() == key)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "no checklist item {key:?}; the items are {}",
                    Self::ALL.map(Self::key).join(", ")
                ))
            })
    }

    /// Whether Airlock checks it itself (else a person ticks it).
    pub fn automatic(self) -> bool {
        !matches!(
            self,
            ChecklistItem::SupportNotified | ChecklistItem::PostmortemScheduled
        )
    }
}

/// What a gate entry records of the verdict: the window it judged, the verdict in words
/// and each KPI's verdict with its numbers (exposures and events rounded to whole counts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GateRecord {
    pub baseline: String,
    pub from: Timestamp,
    pub to: Timestamp,
    pub summary: String,
    pub kpis: Vec<GateKpi>,
    /// The digest of the gate settings that decided it (`GatePolicy::digest`: KPIs,
    /// limits, boundaries, error rates, the judge's method), so two watchers with different
    /// settings are told apart. Empty in entries from before it was recorded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub settings: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct GateKpi {
    pub kpi: String,
    /// `pass`, `warn`, `fail` or `inconclusive`.
    pub verdict: String,
    pub candidate_exposure: u64,
    pub candidate_events: u64,
    pub baseline_exposure: u64,
    pub baseline_events: u64,
    pub reason: String,
}

/// The randomized holdout an entry that makes a release current sets: the previous
/// current release, kept by the last `basisPoints` buckets of `holdoutId` until `until`
/// (the pointer's `holdout`; docs/KPIS.md, "The holdout").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Holdout {
    pub version: String,
    pub basis_points: u32,
    pub holdout_id: String,
    #[cfg_attr(feature = "specta", specta(type = String))]
    pub until: Timestamp,
}

/// A channel that served a release being quarantined, and what it serves instead: its
/// rollout (if of that release) ends, and `current` becomes `to` (`None`: the channel goes
/// back to devices' built-in bundles).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    pub channel: String,
    pub current: Option<String>,
}

/// Which kind an event is, as a type (`Event::kind` gives the same as its JSON name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum EventKind {
    Released,
    Promoted,
    Expanded,
    Paused,
    Resumed,
    Reverted,
    RolledBack,
    Approved,
    Rejected,
    Quarantined,
    Archived,
    PointerResigned,
    Recovered,
    GatePassed,
    GateFailed,
    CurrentPassed,
    IncidentOpened,
    IncidentChecked,
    IncidentClosed,
}

impl Event {
    pub fn kind_typed(&self) -> EventKind {
        match self {
            Self::Released { .. } => EventKind::Released,
            Self::Promoted { .. } => EventKind::Promoted,
            Self::Expanded { .. } => EventKind::Expanded,
            Self::Paused { .. } => EventKind::Paused,
            Self::Resumed { .. } => EventKind::Resumed,
            Self::Reverted { .. } => EventKind::Reverted,
            Self::RolledBack { .. } => EventKind::RolledBack,
            Self::Approved { .. } => EventKind::Approved,
            Self::Rejected { .. } => EventKind::Rejected,
            Self::Quarantined { .. } => EventKind::Quarantined,
            Self::Archived { .. } => EventKind::Archived,
            Self::PointerResigned { .. } => EventKind::PointerResigned,
            Self::Recovered { .. } => EventKind::Recovered,
            Self::GatePassed { .. } => EventKind::GatePassed,
            Self::GateFailed { .. } => EventKind::GateFailed,
            Self::CurrentPassed { .. } => EventKind::CurrentPassed,
            Self::IncidentOpened { .. } => EventKind::IncidentOpened,
            Self::IncidentChecked { .. } => EventKind::IncidentChecked,
            Self::IncidentClosed { .. } => EventKind::IncidentClosed,
        }
    }

    /// One line saying what the event records, for logs and timelines.
    pub fn describe(&self) -> String {
        match self {
            Event::Released {
                version,
                channel,
                files,
                bytes,
                ..
            } => {
                format!("{version} into {channel} ({files} files, {bytes} bytes)")
            }
            Event::Promoted {
                version,
                from,
                to,
                basis_points,
                ..
            } => {
                format!(
                    "{version} from {from} to {to} at {}",
                    percent(*basis_points)
                )
            }
            Event::Expanded {
                channel,
                version,
                basis_points,
                ..
            } => {
                format!("{version} in {channel} to {}", percent(*basis_points))
            }
            Event::Paused {
                channel, version, ..
            } => format!("{version} in {channel} paused"),
            Event::Resumed {
                channel, version, ..
            } => format!("{version} in {channel} resumed"),
            Event::Reverted {
                channel,
                version,
                basis_points,
                ..
            } => {
                format!(
                    "{version} in {channel} reverted at {}",
                    percent(*basis_points)
                )
            }
            Event::RolledBack {
                channel, from, to, ..
            } => format!(
                "{channel} back to {to}{}",
                from.as_deref()
                    .map(|f| format!(" ({f} quarantined)"))
                    .unwrap_or_default()
            ),
            Event::Approved { version, channel } => format!("{version} approved for {channel}"),
            Event::Rejected { version, channel } => format!("{version} rejected for {channel}"),
            Event::Quarantined { version, .. } => format!("{version} quarantined"),
            Event::Archived { version, channel } => format!("{version} archived in {channel}"),
            Event::PointerResigned { channel } => format!("{channel} pointer re-signed"),
            Event::Recovered {
                restored,
                discarded,
            } => format!(
                "log recovered: {} entries written back, {} discarded",
                restored.len(),
                discarded.len()
            ),
            Event::CurrentPassed {
                channel,
                version,
                to,
                ..
            } => {
                format!("{version}, current in {channel}, passed the gate: to be promoted to {to}")
            }
            Event::GatePassed {
                channel,
                version,
                basis_points,
                ..
            } => format!(
                "{version} in {channel} passed the gate at {}",
                percent(*basis_points)
            ),
            Event::GateFailed {
                channel,
                version,
                basis_points,
                critical,
                ..
            } => format!(
                "{version} in {channel} failed the gate at {}{}",
                percent(*basis_points),
                if *critical { " (critical)" } else { "" }
            ),
            Event::IncidentOpened {
                channel,
                version,
                severity,
                ..
            } => format!("SEV-{severity} incident opened on {version} in {channel}"),
            Event::IncidentChecked { incident, item, .. } => {
                format!("incident #{incident}: {} checked", item.key())
            }
            Event::IncidentClosed { incident } => format!("incident #{incident} closed"),
        }
    }

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
            Self::Rejected { .. } => "rejected",
            Self::Quarantined { .. } => "quarantined",
            Self::Archived { .. } => "archived",
            Self::PointerResigned { .. } => "pointerResigned",
            Self::Recovered { .. } => "recovered",
            Self::GatePassed { .. } => "gatePassed",
            Self::GateFailed { .. } => "gateFailed",
            Self::CurrentPassed { .. } => "currentPassed",
            Self::IncidentOpened { .. } => "incidentOpened",
            Self::IncidentChecked { .. } => "incidentChecked",
            Self::IncidentClosed { .. } => "incidentClosed",
        }
    }

    /// The release the event is about, if one (what the log is filtered by).
    pub fn version(&self) -> Option<&str> {
        match self {
            Self::Released { version, .. }
            | Self::Promoted { version, .. }
            | Self::Expanded { version, .. }
            | Self::Paused { version, .. }
            | Self::Resumed { version, .. }
            | Self::Reverted { version, .. }
            | Self::Approved { version, .. }
            | Self::Rejected { version, .. }
            | Self::Quarantined { version, .. }
            | Self::Archived { version, .. }
            | Self::GatePassed { version, .. }
            | Self::GateFailed { version, .. }
            | Self::CurrentPassed { version, .. }
            | Self::IncidentOpened { version, .. } => Some(version),
            // The release rolled back from (quarantined), else the one rolled back to.
            Self::RolledBack { from, to, .. } => Some(from.as_deref().unwrap_or(to)),
            Self::PointerResigned { .. }
            | Self::Recovered { .. }
            | Self::IncidentChecked { .. }
            | Self::IncidentClosed { .. } => None,
        }
    }

    /// The channel the event is about, if one (a promotion's target).
    pub fn channel(&self) -> Option<&str> {
        match self {
            Self::Released { channel, .. }
            | Self::Expanded { channel, .. }
            | Self::Paused { channel, .. }
            | Self::Resumed { channel, .. }
            | Self::Reverted { channel, .. }
            | Self::RolledBack { channel, .. }
            | Self::Approved { channel, .. }
            | Self::Rejected { channel, .. }
            | Self::Archived { channel, .. }
            | Self::GatePassed { channel, .. }
            | Self::GateFailed { channel, .. }
            | Self::CurrentPassed { channel, .. }
            | Self::IncidentOpened { channel, .. }
            | Self::PointerResigned { channel } => Some(channel),
            Self::Promoted { to, .. } => Some(to),
            Self::Quarantined { .. }
            | Self::Recovered { .. }
            | Self::IncidentChecked { .. }
            | Self::IncidentClosed { .. } => None,
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
            Self::Quarantined { ended_holdouts, .. } => {
                ended_holdouts.iter().map(String::as_str).collect()
            }
            Self::Paused { .. }
            | Self::Resumed { .. }
            | Self::Approved { .. }
            | Self::Rejected { .. }
            | Self::Archived { .. }
            | Self::GatePassed { .. }
            | Self::GateFailed { .. }
            | Self::CurrentPassed { .. }
            | Self::IncidentOpened { .. }
            | Self::IncidentChecked { .. }
            | Self::Recovered { .. }
            | Self::IncidentClosed { .. } => Vec::new(),
        }
    }
}

impl LogEntry {
    /// The payload that gets signed (pretty JSON, UTF-8).
    pub fn to_payload(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("log entries always serialise")
    }

    /// Reads a stored entry (its envelope and payload; the signature is checked by the
    /// reader against the trusted keys, not here). An entry written by a newer Airlock is
    /// refused with advice to upgrade.
    pub fn from_bytes(key: &str, bytes: &[u8]) -> Result<Self> {
        match Self::parse(key, bytes)? {
            Parsed::Entry(entry) => Ok(entry),
            Parsed::Newer(why) => Err(newer(key, &why)),
        }
    }

    /// Reads a stored entry, telling one written by a newer Airlock (a later
    /// `formatVersion`, or an event kind this build does not know) from a readable one;
    /// the former is never misread.
    pub fn parse(key: &str, bytes: &[u8]) -> Result<Parsed> {
        let env = Envelope::from_bytes(bytes).map_err(|e| unreadable(key, e))?;
        if env.payload_type != LOG_PAYLOAD_TYPE {
            return Err(unreadable(
                key,
                format!("payload type {:?}", env.payload_type),
            ));
        }
        let payload = env.payload_bytes().map_err(|e| unreadable(key, e))?;
        Self::parse_payload(key, &payload)
    }

    pub fn from_payload(key: &str, payload: &[u8]) -> Result<Self> {
        match Self::parse_payload(key, payload)? {
            Parsed::Entry(entry) => Ok(entry),
            Parsed::Newer(why) => Err(newer(key, &why)),
        }
    }

    pub(crate) fn parse_payload(key: &str, payload: &[u8]) -> Result<Parsed> {
        let raw: serde_json::Value =
            serde_json::from_slice(payload).map_err(|e| unreadable(key, e))?;
        let version = raw.get("formatVersion").and_then(serde_json::Value::as_u64);
        let kind = raw
            .get("kind")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("");
        if version.is_some_and(|v| v > u64::from(HOLDOUT_FORMAT_VERSION))
            || !KNOWN_KINDS.contains(&kind)
        {
            return Ok(Parsed::Newer(format!(
                "formatVersion {}, kind {kind:?}: written by a newer Airlock",
                version.map_or("none".into(), |v| v.to_string())
            )));
        }
        if version != Some(u64::from(FORMAT_VERSION))
            && version != Some(u64::from(HOLDOUT_FORMAT_VERSION))
        {
            return Err(unreadable(
                key,
                format!(
                    "formatVersion is {version:?}; this build reads {FORMAT_VERSION} and \
                     {HOLDOUT_FORMAT_VERSION}"
                ),
            ));
        }
        let entry: LogEntry = serde_json::from_value(raw).map_err(|e| unreadable(key, e))?;
        // Holdout fields only in the format that marks them, so no build misses them.
        if entry.format_version != entry.event.format_version() {
            return Err(unreadable(
                key,
                format!(
                    "formatVersion {} does not match its event ({} for this one)",
                    entry.format_version,
                    entry.event.format_version()
                ),
            ));
        }
        Ok(Parsed::Entry(entry))
    }
}

/// A stored entry, or why this build must not read it.
// Nearly every entry is `Entry`, and it is moved out at once: boxing it would only add an
// allocation per entry read.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    Entry(LogEntry),
    /// Written by a newer Airlock: what it says it is.
    Newer(String),
}

fn unreadable(key: &str, e: impl std::fmt::Display) -> Error {
    Error::Integrity(format!("log entry {key} is not readable: {e}"))
}

fn newer(key: &str, why: &str) -> Error {
    Error::Refused(format!(
        "log entry {key} ({why}); upgrade this one to change this app"
    ))
}

/// The hash that identifies an entry (and that the next entry's `prev` must name).
pub fn entry_hash(bytes: &[u8]) -> String {
    sha256_hex(bytes)
}

/// Basis points as a person reads them: `2000` is "20 %".
pub fn percent(bp: u32) -> String {
    format!("{} %", f64::from(bp) / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_expanded() -> LogEntry {
        LogEntry {
            format_version: FORMAT_VERSION,
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
                holdout: None,
            },
            reason: Some("metrics are fine".into()),
        }
    }

    #[test]
    fn round_trips_with_kind_tag() {
        let e = sample_expanded();
        let bytes = e.to_payload();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.contains("\"kind\": \"expanded\""),
            "kind tag must be present: {text}"
        );
        assert!(
            text.contains("\"basisPoints\": 2000"),
            "fields are camelCase: {text}"
        );
        assert_eq!(LogEntry::from_payload("k", &bytes).unwrap(), e);
    }

    #[test]
    fn holdout_fields_come_only_in_format_3() {
        let mut e = sample_expanded();
        assert_eq!(e.event.format_version(), FORMAT_VERSION);
        if let Event::Expanded { holdout, .. } = &mut e.event {
            *holdout = Some(Holdout {
                version: "1.1.0".into(),
                basis_points: 500,
                holdout_id: "r1".into(),
                until: Timestamp::from_unix(1_700_100_000).unwrap(),
            });
        }
        assert_eq!(e.event.format_version(), HOLDOUT_FORMAT_VERSION);
        // Marked as format 2, a holdout would be skipped by a build from before holdouts:
        // refused as unreadable instead.
        let hidden = LogEntry::from_payload("k", &e.to_payload()).unwrap_err();
        assert!(hidden.to_string().contains("does not match"), "{hidden}");
        e.format_version = HOLDOUT_FORMAT_VERSION;
        assert_eq!(LogEntry::from_payload("k", &e.to_payload()).unwrap(), e);
    }

    #[test]
    fn newer_formats_and_kinds_ask_for_an_upgrade() {
        for payload in [
            r#"{"formatVersion":4,"kind":"released"}"#,
            r#"{"formatVersion":2,"kind":"teleported"}"#,
        ] {
            let err = LogEntry::from_payload("k", payload.as_bytes()).unwrap_err();
            assert!(
                err.to_string().contains("upgrade"),
                "an entry from a newer Airlock must say to upgrade, not look corrupt: {err}"
            );
        }
    }
}
