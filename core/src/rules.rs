//! The rollout rules, in one place. [`check`] says whether an event may follow a state: the
//! commit path runs it on every entry before appending, and the fold runs it again on every
//! entry it reads, so a log that breaks a rule — written by a buggy console or by someone
//! holding a key but not the rules — is refused as tampered instead of being served.
//!
//! Invariant: every entry in an accepted log passed these checks against the state before it.
//! The operations in `ops/` only decide *which* event to propose; whether it is allowed is
//! decided here.

use crate::config::MAX_HOLDOUT_HOURS;
use crate::error::{Error, Result};
use crate::log::entry::Holdout;
use crate::log::{Event, LogEntry, Withdrawal};
use crate::state::{AppState, Placement, Rollout};
use airlock_protocol::bucketing::FULL;
use airlock_protocol::digest::sha256_hex;
use airlock_protocol::pointer::{MAX_HOLDOUT_BASIS_POINTS, MAX_ROLLOUT_ID_BYTES};

/// What the rules need from the workspace's settings.
pub struct Policy<'a> {
    /// Whether a channel is protected (takes releases only by approved promotion).
    pub protected: &'a (dyn Fn(&str) -> bool + Sync),
}

impl std::fmt::Debug for Policy<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy").finish_non_exhaustive()
    }
}

use crate::log::entry::percent as pct;

/// The id of a rollout promoted at `seq`: readable when short, else a hash, so it always
/// fits the device limit ([`MAX_ROLLOUT_ID_BYTES`]).
pub fn rollout_id(channel: &str, version: &str, seq: u64) -> String {
    let id = format!("{channel}-{version}-{seq}");
    if id.len() <= MAX_ROLLOUT_ID_BYTES {
        id
    } else {
        format!("r-{}", &sha256_hex(id.as_bytes())[..40])
    }
}

/// Whether `entry` may follow `state`. The error is what a person is told when a command
/// proposes it; the fold wraps it as an integrity failure.
pub fn check(state: &AppState, entry: &LogEntry, policy: &Policy<'_>) -> Result<()> {
    let app = state.app.as_str();
    if let Some(last) = state.last_at
        && entry.at < last
    {
        return Err(Error::Refused(format!(
            "the entry's time {} is before its predecessor's ({last}); check this desktop's clock",
            entry.at
        )));
    }
    match &entry.event {
        Event::Released {
            version,
            channel,
            archived,
            holdout,
            ..
        } => {
            if state.releases.contains_key(version) {
                return Err(Error::Refused(format!(
                    "{app} {version} is already released"
                )));
            }
            check_release(state, version, channel, policy.protected)?;
            let id = rollout_id(channel, version, entry.seq);
            check_holdout(state, entry, channel, version, &id, holdout.as_ref())?;
            same_archive(archived, &state.retention(channel, version))
        }
        Event::Promoted {
            version,
            from,
            to,
            basis_points,
            rollout_id: id,
            plan,
            archived,
            holdout,
        } => {
            if from == to {
                return Err(Error::InvalidInput(
                    "--from and --to name the same channel".into(),
                ));
            }
            let release = state.release(version)?;
            not_quarantined(state, version)?;
            match state.placement(version, from) {
                None | Some(Placement::Archived) => {
                    return Err(Error::Refused(format!(
                        "{app} {version} is not a live release of {from} (promote what has been there)"
                    )));
                }
                Some(_) => {}
            }
            let target = state.channel(to);
            if let Some(r) = &target.rollout {
                return Err(Error::Refused(format!(
                    "a rollout of {app} {} is in progress in {to} at {}; expand, revert or finish it first",
                    r.version,
                    pct(r.basis_points)
                )));
            }
            if target.current.as_deref() == Some(version.as_str()) {
                return Err(Error::Refused(format!(
                    "{app} {version} is already current in {to}"
                )));
            }
            if (policy.protected)(to) && !state.is_approved(version, to, &release.author) {
                return Err(Error::ApprovalMissing {
                    app: app.to_string(),
                    version: version.clone(),
                    channel: to.clone(),
                    author: release.author.clone(),
                });
            }
            check_plan(plan)?;
            if *basis_points == 0 || *basis_points > FULL {
                return Err(Error::InvalidInput(format!(
                    "a rollout starts between 0.01 % and 100 %, not {}",
                    pct(*basis_points)
                )));
            }
            if *id != rollout_id(to, version, entry.seq) {
                return Err(Error::Refused(format!(
                    "rollout id {id:?} is not the one derived from {to}, {version} and seq {}",
                    entry.seq
                )));
            }
            let expected = if *basis_points >= FULL {
                check_holdout(state, entry, to, version, id, holdout.as_ref())?;
                state.retention(to, version)
            } else {
                no_holdout(holdout.as_ref())?;
                Vec::new()
            };
            same_archive(archived, &expected)
        }
        Event::Expanded {
            channel,
            version,
            basis_points,
            rollout_id: id,
            archived,
            holdout,
        } => {
            let r = the_rollout(state, channel, version, id)?;
            if r.paused {
                return Err(Error::Refused(format!(
                    "the rollout of {app} {version} in {channel} is paused; `airlock resume {app} {channel}` first"
                )));
            }
            not_quarantined(state, version)?;
            if *basis_points <= r.basis_points || *basis_points > FULL {
                return Err(Error::Refused(format!(
                    "{app} {version} is already at {} in {channel}; a rollout only grows, up to \
                     100 % (revert to stop it)",
                    pct(r.basis_points)
                )));
            }
            let expected = if *basis_points >= FULL {
                check_holdout(state, entry, channel, version, id, holdout.as_ref())?;
                if let Some(h) = holdout
                    && h.basis_points > FULL - r.basis_points
                {
                    return Err(Error::Refused(format!(
                        "the entry's holdout of {} reaches devices the rollout at {} already \
                         gave {version}; it may hold at most what the rollout left out",
                        pct(h.basis_points),
                        pct(r.basis_points)
                    )));
                }
                state.retention(channel, version)
            } else {
                no_holdout(holdout.as_ref())?;
                Vec::new()
            };
            same_archive(archived, &expected)
        }
        Event::Paused {
            channel,
            version,
            rollout_id: id,
        }
        | Event::Resumed {
            channel,
            version,
            rollout_id: id,
        } => {
            let pause = matches!(entry.event, Event::Paused { .. });
            let r = the_rollout(state, channel, version, id)?;
            if r.paused == pause {
                let now = if pause { "paused" } else { "running" };
                return Err(Error::Refused(format!(
                    "the rollout of {app} {version} in {channel} is already {now}"
                )));
            }
            Ok(())
        }
        Event::Reverted {
            channel,
            version,
            rollout_id: id,
            basis_points,
        } => {
            let r = the_rollout(state, channel, version, id)?;
            if r.basis_points != *basis_points {
                return Err(Error::Refused(format!(
                    "the rollout of {app} {version} in {channel} is at {}, not {}",
                    pct(r.basis_points),
                    pct(*basis_points)
                )));
            }
            Ok(())
        }
        Event::RolledBack {
            channel,
            from,
            to,
            ended_rollout,
            withdrawn,
        } => {
            let target = rollback_target(state, channel, Some(to))?;
            let c = state.channel(channel);
            let ended = c.rollout.map(|r| r.version);
            if *from != c.current || *ended_rollout != ended || target != *to {
                return Err(Error::Refused(format!(
                    "the rollback of {channel} does not match what {channel} served \
                     (current {:?}, rollout {ended:?})",
                    c.current
                )));
            }
            if *withdrawn != withdrawals(state, channel) {
                return Err(Error::Refused(format!(
                    "the rollback of {channel} withdraws {from:?} from other channels differently \
                     than the rule does"
                )));
            }
            Ok(())
        }
        Event::Approved { version, channel } => {
            let release = state.release(version)?;
            if release.author == entry.actor {
                return Err(Error::Refused(format!(
                    "{} authored {app} {version}; an approval must come from someone else",
                    entry.actor
                )));
            }
            if release.quarantined.is_some() {
                return Err(Error::Refused(format!("{app} {version} is quarantined")));
            }
            if state
                .standing_approvals(version, channel)
                .any(|a| a.actor == entry.actor)
            {
                return Err(Error::Refused(format!(
                    "{} already approved {app} {version} for {channel}",
                    entry.actor
                )));
            }
            Ok(())
        }
        Event::Rejected { version, channel } => {
            let release = state.release(version)?;
            if release.author == entry.actor {
                return Err(Error::Refused(format!(
                    "{} authored {app} {version}; a rejection, like an approval, comes from a \
                     reviewer",
                    entry.actor
                )));
            }
            if entry.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
                return Err(Error::InvalidInput(format!(
                    "say why {app} {version} is rejected for {channel} (--reason)"
                )));
            }
            Ok(())
        }
        Event::Quarantined {
            version,
            ended_holdouts,
        } => {
            let keeping = holdouts_keeping(state, version);
            if *ended_holdouts != keeping {
                return Err(Error::Refused(format!(
                    "the entry ends the holdouts of {ended_holdouts:?}, but those keeping {app} \
                     {version} are {keeping:?}"
                )));
            }
            let release = state.release(version)?;
            if release.quarantined.is_some() {
                return Err(Error::Refused(format!(
                    "{app} {version} is already quarantined"
                )));
            }
            for (name, c) in &state.channels {
                if c.current.as_deref() == Some(version)
                    || c.rollout.as_ref().is_some_and(|r| &r.version == version)
                {
                    return Err(Error::Refused(format!(
                        "{app} {version} is being served in {name}; roll back or revert there first"
                    )));
                }
            }
            Ok(())
        }
        Event::Archived { version, channel } => {
            state.release(version)?;
            if state.channel(channel).held(entry.at) == Some(version.as_str()) {
                return Err(Error::Refused(format!(
                    "{app} {version} is kept for {channel}'s holdout until {}; archive it after",
                    state
                        .channel(channel)
                        .holdout
                        .map(|h| h.until.to_string())
                        .unwrap_or_default()
                )));
            }
            match state.placement(version, channel) {
                Some(Placement::RollbackReady | Placement::Reverted) => Ok(()),
                Some(_) if state.release(version)?.quarantined.is_some() => {
                    Err(Error::Refused(format!(
                        "{app} {version} is quarantined (and so already archived) in {channel}"
                    )))
                }
                Some(p) => Err(Error::Refused(format!(
                    "{app} {version} is {} in {channel}; only rollback-ready or reverted \
                     releases can be archived",
                    placement_word(p)
                ))),
                None => Err(Error::NotFound(format!(
                    "{app} {version} was never in {channel}"
                ))),
            }
        }
        Event::CurrentPassed {
            channel,
            version,
            since_seq,
            to,
            ..
        } => {
            // A verdict on one stay of a release as `channel`'s current, which still lasts,
            // with no incident about it, and a target the release has never reached.
            if to == channel {
                return Err(Error::InvalidInput(format!(
                    "a release is promoted from {channel} to another channel, not to itself"
                )));
            }
            same_stay(state, channel, version, *since_seq)?;
            if state.placement(version, to).is_some() {
                return Err(Error::Conflict(format!(
                    "{app} {version} has been in {to} already; the gate promotes it only once"
                )));
            }
            Ok(())
        }
        Event::GatePassed {
            channel,
            version,
            rollout_id: id,
            basis_points,
            ..
        }
        | Event::GateFailed {
            channel,
            version,
            rollout_id: id,
            basis_points,
            ..
        } => {
            // A verdict is about one step of one rollout: the one in progress, at that step.
            let r = the_rollout(state, channel, version, id)?;
            if r.basis_points != *basis_points {
                return Err(Error::Conflict(format!(
                    "the rollout of {app} {version} in {channel} is at {}, not at the {} the \
                     gate judged",
                    pct(r.basis_points),
                    pct(*basis_points)
                )));
            }
            Ok(())
        }
        Event::IncidentOpened {
            channel,
            version,
            severity,
            recommendation,
            ..
        } => {
            state.release(version)?;
            if !(1..=3).contains(severity) {
                return Err(Error::InvalidInput(format!(
                    "an incident's severity is 1, 2 or 3 (SEV-1 is the worst), not {severity}"
                )));
            }
            if recommendation.trim().is_empty()
                || entry.reason.as_deref().is_none_or(|r| r.trim().is_empty())
            {
                return Err(Error::InvalidInput(
                    "an incident says what was seen (--reason) and what to do".into(),
                ));
            }
            if let Some(open) = state.open_incident(channel, version) {
                return Err(Error::Refused(format!(
                    "incident #{} about {app} {version} in {channel} is still open",
                    open.number
                )));
            }
            Ok(())
        }
        Event::IncidentChecked { incident, item, .. } => {
            let i = open_incident(state, *incident)?;
            if !i.checklist().contains(item) {
                return Err(Error::Refused(format!(
                    "incident #{incident} has no {} item (its release was not rolled back from, so \
                     nothing quarantined it)",
                    item.key()
                )));
            }
            if let Some(done) = i.checks.get(item) {
                return Err(Error::Refused(format!(
                    "{} of incident #{incident} was already checked by {} at {}",
                    item.key(),
                    done.actor,
                    done.at
                )));
            }
            Ok(())
        }
        Event::IncidentClosed { incident } => {
            let i = open_incident(state, *incident)?;
            let open: Vec<&str> = i
                .checklist()
                .into_iter()
                .filter(|item| !i.checks.contains_key(item))
                .map(|item| item.key())
                .collect();
            if !open.is_empty() && entry.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
                return Err(Error::Refused(format!(
                    "incident #{incident} still has {} unchecked; say why it closes anyway \
                     (--reason)",
                    open.join(", ")
                )));
            }
            Ok(())
        }
        // Resolving a tampered log changes no release or channel: always allowed to a key
        // holder (the signature is the permission); what it discards is in the entry.
        Event::Recovered { .. } => Ok(()),
        Event::PointerResigned { channel } => {
            if state.channel(channel).served.is_none() {
                return Err(Error::Refused(format!(
                    "{app} has never served anything in {channel}"
                )));
            }
            Ok(())
        }
    }
}

/// Incident `number`, which must be open.
fn open_incident(state: &AppState, number: u64) -> Result<&crate::state::Incident> {
    let i = state.incident(number)?;
    if let Some(c) = &i.closed {
        return Err(Error::Refused(format!(
            "incident #{number} of {} was closed by {} at {}",
            state.app, c.actor, c.at
        )));
    }
    Ok(i)
}

/// Whether a new release `version` may go into `channel` (checked again, with everything
/// else, when its entry is proposed): not into a protected channel, and not over a rollout in
/// progress, which it would end silently.
pub fn check_release(
    state: &AppState,
    version: &str,
    channel: &str,
    protected: &(dyn Fn(&str) -> bool + Sync),
) -> Result<()> {
    let app = &state.app;
    if protected(channel) {
        return Err(Error::Refused(format!(
            "{channel} is protected: releases reach it only by `airlock promote` with an approval"
        )));
    }
    if let Some(r) = &state.channel(channel).rollout
        && !state.releases.contains_key(version)
    {
        return Err(Error::Refused(format!(
            "a rollout of {app} {} is in progress in {channel} at {}; releasing there would end \
             it silently: revert or finish it first",
            r.version,
            pct(r.basis_points)
        )));
    }
    Ok(())
}

fn placement_word(p: Placement) -> &'static str {
    match p {
        Placement::Current => "current",
        Placement::RollingOut { .. } => "rolling out",
        Placement::RollbackReady => "rollback-ready",
        Placement::Reverted => "reverted",
        Placement::Archived => "archived",
    }
}

/// The channels whose holdout keeps `version` (a quarantine ends them; ended or not, the
/// state's record goes, so no later pointer can name it).
pub fn holdouts_keeping(state: &AppState, version: &str) -> Vec<String> {
    state
        .channels
        .iter()
        .filter(|(_, c)| c.holdout.as_ref().is_some_and(|h| h.version == version))
        .map(|(name, _)| name.clone())
        .collect()
}

/// The holdout an entry making `version` current in `channel` may set: the channel's
/// current release before it (not quarantined), 0.01–50 % of devices, salted with the
/// rollout's id (`id`), ending after the entry and within two weeks.
fn check_holdout(
    state: &AppState,
    entry: &LogEntry,
    channel: &str,
    version: &str,
    id: &str,
    holdout: Option<&Holdout>,
) -> Result<()> {
    let Some(h) = holdout else {
        return Ok(());
    };
    let refuse = |why: String| Err(Error::Refused(format!("the entry's holdout {why}")));
    let current = state.channel(channel).current;
    if current.as_deref() != Some(h.version.as_str()) || h.version == version {
        return refuse(format!(
            "keeps {}, which is not {channel}'s current release before it ({current:?})",
            h.version
        ));
    }
    not_quarantined(state, &h.version)?;
    if !(1..=MAX_HOLDOUT_BASIS_POINTS).contains(&h.basis_points) {
        return refuse(format!(
            "holds {} of the devices, not 0.01 % to 50 %",
            pct(h.basis_points)
        ));
    }
    if h.holdout_id != id {
        return refuse(format!(
            "is salted with {:?}, not the rollout's id {id:?}",
            h.holdout_id
        ));
    }
    let length = h.until.unix() - entry.at.unix();
    // An hour's slack: the entry's time and the one its holdout was computed at differ.
    if length <= 0 || length > (i64::from(MAX_HOLDOUT_HOURS) + 1) * 3600 {
        return refuse(format!(
            "ends at {}, not within two weeks after the entry",
            h.until
        ));
    }
    Ok(())
}

/// A partial rollout sets no holdout.
fn no_holdout(holdout: Option<&Holdout>) -> Result<()> {
    match holdout {
        Some(_) => Err(Error::Refused(
            "a holdout is set only by the entry that makes a release current".into(),
        )),
        None => Ok(()),
    }
}

fn same_archive(logged: &[String], expected: &[String]) -> Result<()> {
    if logged != expected {
        return Err(Error::Refused(format!(
            "the entry archives {logged:?}, but the retention rule archives {expected:?}"
        )));
    }
    Ok(())
}

fn check_plan(plan: &[u32]) -> Result<()> {
    let ascending = plan.windows(2).all(|w| w[0] < w[1]);
    if plan.is_empty() || plan[0] == 0 || !ascending || plan.last() != Some(&FULL) {
        return Err(Error::InvalidInput(format!(
            "a rollout plan rises step by step to 100 %; {plan:?} (basis points) does not"
        )));
    }
    Ok(())
}

/// The rollout in progress in `channel`, or a refusal.
pub(crate) fn rollout_in<'a>(state: &'a AppState, channel: &str) -> Result<&'a Rollout> {
    state
        .channels
        .get(channel)
        .and_then(|c| c.rollout.as_ref())
        .ok_or_else(|| {
            Error::Refused(format!(
                "{} has no rollout in progress in {channel}",
                state.app
            ))
        })
}

/// `version` is `channel`'s current release with no rollout in progress, current since
/// `since_seq` (the same stay), and no incident about it has been opened since.
pub(crate) fn same_stay(
    state: &AppState,
    channel: &str,
    version: &str,
    since_seq: u64,
) -> Result<()> {
    let app = &state.app;
    let c = state.channel(channel);
    let since = c.placements.get(version).map(|p| p.since_seq);
    if c.current.as_deref() != Some(version) || c.rollout.is_some() || since != Some(since_seq) {
        return Err(Error::Conflict(format!(
            "{app} {version} is no longer what {channel} serves to everyone since seq \
             {since_seq}; a verdict on that stay does not apply"
        )));
    }
    if let Some(i) = state
        .incidents
        .values()
        .find(|i| i.channel == channel && i.version == version && i.number > since_seq)
    {
        return Err(Error::Conflict(format!(
            "incident #{} is about {app} {version} in {channel}: a person decides",
            i.number
        )));
    }
    Ok(())
}

/// The rollout in `channel`, which must be of `version` with id `id`.
fn the_rollout<'a>(
    state: &'a AppState,
    channel: &str,
    version: &str,
    id: &str,
) -> Result<&'a Rollout> {
    let r = rollout_in(state, channel)?;
    if r.version != version || r.rollout_id != id {
        return Err(Error::Conflict(format!(
            "the rollout in {channel} is now {} ({}), not {version} ({id})",
            r.version, r.rollout_id
        )));
    }
    Ok(r)
}

pub(crate) fn not_quarantined(state: &AppState, version: &str) -> Result<()> {
    match &state.release(version)?.quarantined {
        Some(q) => Err(Error::Refused(format!(
            "{} {version} is quarantined (by {} at {}{}); it cannot be served again",
            state.app,
            q.actor,
            q.at,
            q.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ))),
        None => Ok(()),
    }
}

/// The other channels serving the release a rollback of `channel` quarantines (its current
/// there, or its rollout), and what each serves instead: its newest known-good release, or
/// nothing (back to the built-in bundle) if it has none.
pub fn withdrawals(state: &AppState, channel: &str) -> Vec<Withdrawal> {
    let Some(bad) = state.channel(channel).current else {
        return Vec::new();
    };
    state
        .channels
        .iter()
        .filter(|(name, _)| name.as_str() != channel)
        .filter(|(_, c)| {
            c.current.as_ref() == Some(&bad)
                || c.rollout.as_ref().is_some_and(|r| r.version == bad)
                || c.holdout.as_ref().is_some_and(|h| h.version == bad)
        })
        .map(|(name, c)| Withdrawal {
            channel: name.clone(),
            current: if c.current.as_ref() == Some(&bad) {
                state
                    .rollback_candidates(name)
                    .into_iter()
                    .find(|v| *v != bad)
            } else {
                c.current.clone()
            },
        })
        .collect()
}

/// The release a rollback of `channel` goes to: `to` if it was current there before and is
/// not quarantined, else the newest rollback-ready one.
pub fn rollback_target(state: &AppState, channel: &str, to: Option<&str>) -> Result<String> {
    let app = &state.app;
    let c = state.channel(channel);
    let Some(current) = c.current.as_deref() else {
        return Err(Error::Refused(format!(
            "{app} has no current release in {channel}; to stop a partial rollout use `airlock revert`"
        )));
    };
    match to {
        Some(v) => {
            let release = state.release(v)?;
            if release.quarantined.is_some() {
                return Err(Error::Refused(format!(
                    "{app} {v} is quarantined and cannot be rolled back to"
                )));
            }
            if v == current {
                return Err(Error::Refused(format!(
                    "{app} {v} is already current in {channel}"
                )));
            }
            match state.placement(v, channel) {
                Some(Placement::RollbackReady | Placement::Archived)
                    if c.ever_current.contains(v) =>
                {
                    Ok(v.to_string())
                }
                _ => Err(Error::Refused(format!(
                    "{app} {v} was never current in {channel}, so it is not known to be good there"
                ))),
            }
        }
        None => state
            .rollback_candidates(channel)
            .into_iter()
            .next()
            .ok_or_else(|| {
                Error::Refused(format!(
                    "{app} has no rollback-ready release in {channel} (nothing was current there \
                     before {current})"
                ))
            }),
    }
}
