//! What an app's log means: the fold of its events into releases, channels and approvals.
//! The fold is pure and deterministic, so every console that reads the same log reaches the
//! same state; the engine validates commands against it and the SQLite registry stores it.
//! Each release has a placement per channel; quarantine applies to a release everywhere.

use crate::error::{Error, Result};
use crate::log::entry::{ChecklistItem, GateKpi};
use crate::log::reader::{Head, StoredEntry};
use crate::log::{Event, LogEntry};
use airlock_protocol::digest::ObjectRef;
use airlock_protocol::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Release {
    pub version: String,
    pub author: String,
    pub released_at: Timestamp,
    pub released_seq: u64,
    pub channel: String,
    /// The URL of the store it was published into (from its `released` entry).
    pub store: String,
    pub manifest: ObjectRef,
    pub release: ObjectRef,
    pub bundle_hash: String,
    pub files: u64,
    pub bytes: u64,
    pub min_native_version: Option<String>,
    pub quarantined: Option<Quarantine>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantine {
    pub at: Timestamp,
    pub actor: String,
    pub reason: Option<String>,
}

/// Where a release stands in one channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "placement", rename_all = "camelCase")]
pub enum Placement {
    Current,
    #[serde(rename_all = "camelCase")]
    RollingOut {
        basis_points: u32,
        paused: bool,
    },
    RollbackReady,
    Reverted,
    Archived,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementRecord {
    pub placement: Placement,
    pub since: Timestamp,
    pub since_seq: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    pub version: String,
    pub basis_points: u32,
    pub rollout_id: String,
    pub paused: bool,
    pub started_seq: u64,
    /// When the rollout began (its `promoted` entry): the gate's evidence runs from here,
    /// across every step (docs/KPIS.md, "One test per rollout").
    pub started_at: Timestamp,
    /// The steps this rollout follows (from its `promoted` entry), in basis points.
    pub plan: Vec<u32>,
    /// 0 at the promotion, +1 for each expansion.
    pub step: u32,
    /// When and at which seq the current step began (pause and resume keep them).
    pub step_started_at: Timestamp,
    pub step_started_seq: u64,
}

impl Rollout {
    /// The plan's next step after the current one (100 % when none is left).
    pub fn next_step(&self) -> u32 {
        self.plan
            .iter()
            .copied()
            .find(|s| *s > self.basis_points)
            .unwrap_or(airlock_protocol::bucketing::FULL)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    pub current: Option<String>,
    pub rollout: Option<Rollout>,
    /// The entry that last changed what this channel serves: its pointer's seq and logHead.
    pub served: Option<Head>,
    pub placements: BTreeMap<String, PlacementRecord>,
    /// Every release that has been this channel's current: the only rollback targets.
    pub ever_current: std::collections::BTreeSet<String>,
    /// The revert or rollback that last took each release away from this channel's devices
    /// (forgotten when the release is served here again): an incident opened afterwards is
    /// linked to it.
    #[serde(default)]
    pub taken_away: BTreeMap<String, IncidentAction>,
    /// The randomized holdout the entry that made `current` current set, if any (kept in
    /// the state after `until`; [`Channel::held`] says whether it still applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<crate::log::entry::Holdout>,
}

impl Channel {
    /// The release the channel's holdout keeps at `at`, while it lasts.
    pub fn held(&self, at: Timestamp) -> Option<&str> {
        self.holdout
            .as_ref()
            .filter(|h| at < h.until)
            .map(|h| h.version.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub version: String,
    pub channel: String,
    pub actor: String,
    pub at: Timestamp,
    /// The seq of its entry (which approvals came after a rejection).
    pub seq: u64,
}

/// A reviewer's rejection of a release for a channel, with why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub version: String,
    pub channel: String,
    pub actor: String,
    pub at: Timestamp,
    pub reason: String,
    pub seq: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppState {
    pub app: String,
    pub head: Option<Head>,
    /// The time of the newest entry; the next one may not be earlier.
    pub last_at: Option<Timestamp>,
    /// The seq of an entry written by a newer Airlock, where reading stopped: this state is
    /// the history before it, and nothing may be written for the app until an upgrade.
    /// Found by each read of the store, so never kept in the registry's snapshot.
    #[serde(skip)]
    pub written_by_newer: Option<u64>,
    /// Where the next entry goes when passed-over objects (unsigned or foreign) hold the
    /// positions after the head; found by each read of the store, never kept.
    #[serde(skip)]
    pub next_free: Option<u64>,
    pub releases: BTreeMap<String, Release>,
    pub channels: BTreeMap<String, Channel>,
    pub approvals: Vec<Approval>,
    pub rejections: Vec<Rejection>,
    /// Every incident, by number (the seq of the entry that opened it).
    #[serde(default)]
    pub incidents: BTreeMap<u64, Incident>,
}

/// An incident (docs/KPIS.md, "Incidents"): what was seen about a release in a channel, what
/// was done, and its post-rollback checklist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Incident {
    pub number: u64,
    pub channel: String,
    pub version: String,
    pub severity: u8,
    pub recommendation: String,
    pub kpis: Vec<GateKpi>,
    pub opened_at: Timestamp,
    pub opened_by: String,
    pub reason: Option<String>,
    /// The revert or rollback that took the release away from devices, once it happened.
    pub action: Option<IncidentAction>,
    pub checks: BTreeMap<ChecklistItem, Check>,
    pub closed: Option<Check>,
}

/// The entry that reverted or rolled back an incident's release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncidentAction {
    /// `reverted` or `rolledBack`.
    pub kind: String,
    pub seq: u64,
    pub at: Timestamp,
    pub actor: String,
    /// The release devices went back to (`None`: their built-in bundle).
    pub to: Option<String>,
    /// The entry quarantined the incident's release (a rollback from it).
    #[serde(default)]
    pub quarantined: bool,
}

/// Who checked, ticked or closed something, when, and what they said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Check {
    #[cfg_attr(feature = "specta", specta(type = String))]
    pub at: Timestamp,
    pub actor: String,
    pub seq: u64,
    pub detail: String,
}

impl Incident {
    /// The checklist this incident needs: quarantine only after a rollback.
    pub fn checklist(&self) -> Vec<ChecklistItem> {
        ChecklistItem::ALL
            .into_iter()
            .filter(|i| {
                *i != ChecklistItem::Quarantined
                    || self.action.as_ref().is_some_and(|a| a.quarantined)
            })
            .collect()
    }

    /// When every item Airlock checks itself held (the timeline's "verified").
    pub fn verified_at(&self) -> Option<Timestamp> {
        let auto: Vec<ChecklistItem> = self
            .checklist()
            .into_iter()
            .filter(|i| i.automatic())
            .collect();
        auto.iter()
            .map(|i| self.checks.get(i).map(|c| c.at))
            .collect::<Option<Vec<_>>>()
            .and_then(|ats| ats.into_iter().max())
    }
}

impl AppState {
    pub fn new(app: &str) -> Self {
        Self {
            app: app.to_string(),
            ..Self::default()
        }
    }

    /// Folds a log, checking every entry against the rules ([`crate::rules::check`]) as it
    /// goes: an entry that breaks one makes the whole app refuse, as tampered at its seq.
    /// (Signatures are checked by the reader, before this.)
    pub fn fold<'a>(
        app: &str,
        entries: impl IntoIterator<Item = &'a StoredEntry>,
        policy: &crate::rules::Policy<'_>,
    ) -> Result<Self> {
        Self::new(app).extend(entries, policy)
    }

    /// Folds more entries onto this state, checking each as [`AppState::fold`] does.
    pub fn extend<'a>(
        mut self,
        entries: impl IntoIterator<Item = &'a StoredEntry>,
        policy: &crate::rules::Policy<'_>,
    ) -> Result<Self> {
        let app = self.app.clone();
        for e in entries {
            crate::rules::check(&self, &e.entry, policy).map_err(|why| {
                Error::Integrity(format!(
                    "log of {app} is tampered at seq {} ({} by {}): it breaks a rule: {why}; \
                     nothing will be signed for {app} until a person resolves it \
                     (docs/PROTOCOL.md, \"A tampered log\")",
                    e.entry.seq,
                    e.entry.event.kind(),
                    e.entry.actor
                ))
            })?;
            self.apply(e)?;
        }
        Ok(self)
    }

    pub fn next_seq(&self) -> u64 {
        let after_head = self.head.as_ref().map_or(1, |h| h.seq + 1);
        self.next_free
            .map_or(after_head, |free| free.max(after_head))
    }

    pub fn release(&self, version: &str) -> Result<&Release> {
        self.releases
            .get(version)
            .ok_or_else(|| Error::NotFound(format!("{} has no release {version}", self.app)))
    }

    pub fn channel(&self, name: &str) -> Channel {
        self.channels.get(name).cloned().unwrap_or_default()
    }

    pub fn placement(&self, version: &str, channel: &str) -> Option<Placement> {
        self.channels
            .get(channel)?
            .placements
            .get(version)
            .map(|p| p.placement)
    }

    /// Approved for `channel` by someone other than `author`, and not rejected since.
    pub fn is_approved(&self, version: &str, channel: &str, author: &str) -> bool {
        self.standing_approvals(version, channel)
            .any(|a| a.actor != author)
    }

    /// The approvals of `version` for `channel` given after its last rejection there.
    pub fn standing_approvals<'a>(
        &'a self,
        version: &'a str,
        channel: &'a str,
    ) -> impl Iterator<Item = &'a Approval> {
        let last_rejection = self
            .rejections
            .iter()
            .filter(|r| r.version == version && r.channel == channel)
            .map(|r| r.seq)
            .max();
        self.approvals.iter().filter(move |a| {
            a.version == version && a.channel == channel && last_rejection.is_none_or(|r| a.seq > r)
        })
    }

    /// Rollback-ready releases of `channel`, newest first.
    pub fn rollback_candidates(&self, channel: &str) -> Vec<String> {
        let Some(c) = self.channels.get(channel) else {
            return Vec::new();
        };
        let mut ready: Vec<(&String, u64)> = c
            .placements
            .iter()
            .filter(|(v, p)| {
                p.placement == Placement::RollbackReady
                    && self
                        .releases
                        .get(*v)
                        .is_some_and(|r| r.quarantined.is_none())
            })
            .map(|(v, p)| (v, p.since_seq))
            .collect();
        ready.sort_by_key(|r| std::cmp::Reverse(r.1));
        ready.into_iter().map(|(v, _)| v.clone()).collect()
    }

    /// What to archive when `new_current` completes in `channel`: keep the current release
    /// and the two newest known-good ones rollback-ready (the replaced one among them).
    pub fn retention(&self, channel: &str, new_current: &str) -> Vec<String> {
        let c = self.channel(channel);
        let replaced = c.current.filter(|v| v != new_current);
        let mut keep = replaced.iter().cloned().collect::<Vec<_>>();
        for v in self.rollback_candidates(channel) {
            if keep.len() >= 2 {
                break;
            }
            if !keep.contains(&v) && v != new_current {
                keep.push(v);
            }
        }
        c.placements
            .iter()
            .filter(|(v, p)| {
                p.placement == Placement::RollbackReady && !keep.contains(v) && *v != new_current
            })
            .map(|(v, _)| v.clone())
            .collect()
    }

    pub fn apply(&mut self, stored: &StoredEntry) -> Result<()> {
        let e = &stored.entry;
        let head = Head {
            seq: e.seq,
            hash: stored.hash.clone(),
        };
        match &e.event {
            Event::Released {
                version,
                channel,
                store,
                manifest,
                release,
                bundle_hash,
                files,
                bytes,
                min_native_version,
                archived,
                holdout,
            } => {
                if self.releases.contains_key(version) {
                    return Err(self.broken(e, format!("{version} released twice")));
                }
                self.releases.insert(
                    version.clone(),
                    Release {
                        version: version.clone(),
                        author: e.actor.clone(),
                        released_at: e.at,
                        released_seq: e.seq,
                        channel: channel.clone(),
                        store: store.clone(),
                        manifest: manifest.clone(),
                        release: release.clone(),
                        bundle_hash: bundle_hash.clone(),
                        files: *files,
                        bytes: *bytes,
                        min_native_version: min_native_version.clone(),
                        quarantined: None,
                    },
                );
                self.complete(e, channel, version, archived, holdout);
            }
            Event::Promoted {
                version,
                to,
                basis_points,
                rollout_id,
                plan,
                archived,
                holdout,
                ..
            } => {
                self.release(version)
                    .map_err(|_| self.broken(e, format!("unknown {version}")))?;
                if *basis_points >= airlock_protocol::bucketing::FULL {
                    self.complete(e, to, version, archived, holdout);
                } else {
                    let c = self.channels.entry(to.clone()).or_default();
                    c.holdout = None;
                    c.rollout = Some(Rollout {
                        version: version.clone(),
                        basis_points: *basis_points,
                        rollout_id: rollout_id.clone(),
                        paused: false,
                        started_seq: e.seq,
                        started_at: e.at,
                        plan: plan.clone(),
                        step: 0,
                        step_started_at: e.at,
                        step_started_seq: e.seq,
                    });
                    place(
                        c,
                        version,
                        Placement::RollingOut {
                            basis_points: *basis_points,
                            paused: false,
                        },
                        e,
                    );
                }
            }
            Event::Expanded {
                channel,
                version,
                basis_points,
                archived,
                holdout,
                ..
            } => {
                if *basis_points >= airlock_protocol::bucketing::FULL {
                    self.complete(e, channel, version, archived, holdout);
                } else {
                    let c = self.channels.entry(channel.clone()).or_default();
                    let r = c.rollout.as_mut().ok_or_else(|| {
                        Error::Integrity(format!(
                            "log of {} at seq {}: expand without a rollout",
                            e.app, e.seq
                        ))
                    })?;
                    r.basis_points = *basis_points;
                    r.step += 1;
                    r.step_started_at = e.at;
                    r.step_started_seq = e.seq;
                    place(
                        c,
                        version,
                        Placement::RollingOut {
                            basis_points: *basis_points,
                            paused: false,
                        },
                        e,
                    );
                }
            }
            Event::Paused {
                channel, version, ..
            }
            | Event::Resumed {
                channel, version, ..
            } => {
                let paused = matches!(e.event, Event::Paused { .. });
                let c = self.channels.entry(channel.clone()).or_default();
                if let Some(r) = c.rollout.as_mut() {
                    r.paused = paused;
                    let basis_points = r.basis_points;
                    place(
                        c,
                        version,
                        Placement::RollingOut {
                            basis_points,
                            paused,
                        },
                        e,
                    );
                }
                return self.advance(head, e.at, Vec::new());
            }
            Event::Reverted {
                channel, version, ..
            } => {
                let c = self.channels.entry(channel.clone()).or_default();
                c.rollout = None;
                place(c, version, Placement::Reverted, e);
                let to = c.current.clone();
                self.note_action(e, channel, version, to, false);
            }
            Event::RolledBack {
                channel,
                from,
                to,
                ended_rollout,
                withdrawn,
            } => {
                let c = self.channels.entry(channel.clone()).or_default();
                if let Some(v) = ended_rollout {
                    place(c, v, Placement::Reverted, e);
                }
                if let Some(v) = ended_rollout {
                    self.note_action(e, channel, v, Some(to.clone()), false);
                }
                if let Some(v) = from {
                    self.note_action(e, channel, v, Some(to.clone()), true);
                }
                for w in withdrawn {
                    if let Some(v) = from {
                        self.note_action(e, &w.channel, v, w.current.clone(), true);
                    }
                }
                let c = self.channels.entry(channel.clone()).or_default();
                c.rollout = None;
                c.holdout = None;
                c.current = Some(to.clone());
                c.ever_current.insert(to.clone());
                place(c, to, Placement::Current, e);
                for w in withdrawn {
                    let other = self.channels.entry(w.channel.clone()).or_default();
                    // Its holdout ends: it kept the quarantined release, or its stay ends.
                    other.holdout = None;
                    if let Some(r) = other.rollout.take_if(|r| Some(&r.version) == from.as_ref()) {
                        place(other, &r.version, Placement::Archived, e);
                    }
                    if other.current != w.current {
                        if let Some(old) = other.current.take() {
                            place(other, &old, Placement::Archived, e);
                        }
                        if let Some(v) = &w.current {
                            other.ever_current.insert(v.clone());
                            place(other, v, Placement::Current, e);
                        }
                        other.current = w.current.clone();
                    }
                }
                if let Some(bad) = from {
                    let c = self.channels.entry(channel.clone()).or_default();
                    place(c, bad, Placement::Archived, e);
                    if let Some(r) = self.releases.get_mut(bad) {
                        r.quarantined = Some(Quarantine {
                            at: e.at,
                            actor: e.actor.clone(),
                            reason: e.reason.clone(),
                        });
                    }
                }
            }
            Event::Approved { version, channel } => {
                self.approvals.push(Approval {
                    version: version.clone(),
                    channel: channel.clone(),
                    actor: e.actor.clone(),
                    at: e.at,
                    seq: e.seq,
                });
            }
            Event::Rejected { version, channel } => {
                self.rejections.push(Rejection {
                    version: version.clone(),
                    channel: channel.clone(),
                    actor: e.actor.clone(),
                    at: e.at,
                    reason: e.reason.clone().unwrap_or_default(),
                    seq: e.seq,
                });
            }
            Event::Quarantined {
                version,
                ended_holdouts,
            } => {
                for channel in ended_holdouts {
                    self.channels.entry(channel.clone()).or_default().holdout = None;
                }
                if let Some(r) = self.releases.get_mut(version) {
                    r.quarantined = Some(Quarantine {
                        at: e.at,
                        actor: e.actor.clone(),
                        reason: e.reason.clone(),
                    });
                }
            }
            Event::Archived { version, channel } => {
                let c = self.channels.entry(channel.clone()).or_default();
                place(c, version, Placement::Archived, e);
            }
            // A verdict changes nothing by itself; the pause, revert or expansion after it does.
            // Every served channel is re-signed at this entry (past any seq a pointer had).
            Event::Recovered { .. } => {
                let served: Vec<String> = self
                    .channels
                    .iter()
                    .filter(|(_, c)| c.served.is_some())
                    .map(|(n, _)| n.clone())
                    .collect();
                for channel in served {
                    self.channels.entry(channel).or_default().served = Some(head.clone());
                }
            }
            Event::PointerResigned { .. }
            | Event::GatePassed { .. }
            | Event::GateFailed { .. }
            | Event::CurrentPassed { .. } => {}
            Event::IncidentOpened {
                channel,
                version,
                severity,
                recommendation,
                kpis,
            } => {
                self.incidents.insert(
                    e.seq,
                    Incident {
                        number: e.seq,
                        channel: channel.clone(),
                        version: version.clone(),
                        severity: *severity,
                        recommendation: recommendation.clone(),
                        kpis: kpis.clone(),
                        opened_at: e.at,
                        opened_by: e.actor.clone(),
                        reason: e.reason.clone(),
                        // Already taken away (a person rolled back, then opened it): linked.
                        action: self
                            .channels
                            .get(channel)
                            .and_then(|c| c.taken_away.get(version))
                            .cloned(),
                        checks: BTreeMap::new(),
                        closed: None,
                    },
                );
            }
            Event::IncidentChecked {
                incident,
                item,
                detail,
            } => {
                if let Some(i) = self.incidents.get_mut(incident) {
                    i.checks.insert(*item, check(e, detail.clone()));
                }
            }
            Event::IncidentClosed { incident } => {
                if let Some(i) = self.incidents.get_mut(incident) {
                    i.closed = Some(check(e, e.reason.clone().unwrap_or_default()));
                }
            }
        }
        let moved = e
            .event
            .moved_channels()
            .into_iter()
            .map(str::to_string)
            .collect();
        self.advance(head, e.at, moved)
    }

    fn advance(&mut self, head: Head, at: Timestamp, moved: Vec<String>) -> Result<()> {
        for channel in moved {
            self.channels.entry(channel).or_default().served = Some(head.clone());
        }
        self.head = Some(head);
        self.last_at = Some(at);
        self.next_free = None;
        Ok(())
    }

    /// `version` becomes `channel`'s current; the one it replaces becomes rollback-ready.
    fn complete(
        &mut self,
        e: &LogEntry,
        channel: &str,
        version: &str,
        archived: &[String],
        holdout: &Option<crate::log::entry::Holdout>,
    ) {
        let c = self.channels.entry(channel.to_string()).or_default();
        c.holdout = holdout.clone();
        if let Some(old) = c
            .current
            .replace(version.to_string())
            .filter(|o| o != version)
        {
            place(c, &old, Placement::RollbackReady, e);
        }
        c.rollout = None;
        c.ever_current.insert(version.to_string());
        place(c, version, Placement::Current, e);
        for v in archived {
            place(c, v, Placement::Archived, e);
        }
    }

    /// Records that entry `e` took `bad` away from `channel`'s devices (sending them to
    /// `to`), on the channel and on the open incidents about it that have no action yet.
    fn note_action(
        &mut self,
        e: &LogEntry,
        channel: &str,
        bad: &str,
        to: Option<String>,
        quarantined: bool,
    ) {
        let action = IncidentAction {
            kind: e.event.kind().to_string(),
            seq: e.seq,
            at: e.at,
            actor: e.actor.clone(),
            to,
            quarantined,
        };
        for i in self.incidents.values_mut() {
            if i.closed.is_none() && i.action.is_none() && i.channel == channel && i.version == bad
            {
                i.action = Some(action.clone());
            }
        }
        self.channels
            .entry(channel.to_string())
            .or_default()
            .taken_away
            .insert(bad.to_string(), action);
    }

    /// The open incident about `version` in `channel`, if any.
    pub fn open_incident(&self, channel: &str, version: &str) -> Option<&Incident> {
        self.incidents
            .values()
            .find(|i| i.closed.is_none() && i.channel == channel && i.version == version)
    }

    pub fn incident(&self, number: u64) -> Result<&Incident> {
        self.incidents
            .get(&number)
            .ok_or_else(|| Error::NotFound(format!("{} has no incident #{number}", self.app)))
    }

    fn broken(&self, e: &LogEntry, why: String) -> Error {
        Error::Integrity(format!("log of {} at seq {}: {why}", self.app, e.seq))
    }
}

fn check(e: &LogEntry, detail: String) -> Check {
    Check {
        at: e.at,
        actor: e.actor.clone(),
        seq: e.seq,
        detail,
    }
}

fn place(c: &mut Channel, version: &str, placement: Placement, e: &LogEntry) {
    if matches!(placement, Placement::Current | Placement::RollingOut { .. }) {
        c.taken_away.remove(version);
    }
    c.placements.insert(
        version.to_string(),
        PlacementRecord {
            placement,
            since: e.at,
            since_seq: e.seq,
        },
    );
}
