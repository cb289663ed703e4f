//! `airlock recover APP --reason …`: the explicit, signed act that resolves a log refused as
//! tampered. A desktop never rebuilds from a log that went back; a key holder who knows what
//! happened runs this instead. It writes back the signed entries this desktop holds that the
//! store lost (nothing is discarded when they all fit), names every entry it cannot keep (a
//! seen entry whose position now holds another signed entry), and appends a `recovered`
//! entry past every seq any stored pointer carried, so every served channel is re-signed at
//! a seq no device has seen.
//!
//! Invariant: without `apply` nothing is written; with it, the plan shown is what happened.

use super::Committed;
use crate::error::{Error, Result};
use crate::log::Event;
use crate::log::entry::Parsed;
use crate::log::reader::{self, Head, StoredEntry};
use crate::store::{ObjectClass, PutOutcome};
use crate::workspace::{Attribution, Workspace};
use airlock_protocol::dsse::POINTER_PAYLOAD_TYPE;
use airlock_protocol::layout;
use airlock_protocol::limits::Cap;
use airlock_protocol::pointer::ChannelPointer;
use serde::Serialize;
use std::collections::HashSet;

/// What `recover` will do (or did).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoverPlan {
    pub app: String,
    /// The newest seq this desktop had seen of the app's log in this store.
    pub seen_seq: Option<u64>,
    /// Signed entries this desktop holds that the store lost: written back.
    pub restore: Vec<u64>,
    /// Entries this desktop had seen that cannot be kept (each "seq N kind hash").
    pub discard: Vec<String>,
    /// The seq the `recovered` entry takes: past every seq the log or a pointer reached.
    pub seq: u64,
    /// The entry written (with `apply`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub committed_seq: Option<u64>,
}

impl Workspace {
    /// Plans (and with `apply`, carries out) the recovery of `app`'s log; see the module.
    pub async fn recover(&self, app: &str, by: &Attribution, apply: bool) -> Result<RecoverPlan> {
        self.may_change(&format!("recover {app}"))?;
        layout::validate_app_name(app)?;
        if by.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
            return Err(Error::InvalidInput(
                "say why the log is being recovered (--reason): it is recorded in the log".into(),
            ));
        }
        let store = self.store.clone();
        let keys = self.refresh_key_set().await?;
        let held = self.registry.entries(app).await?;
        let seen = self.registry.seen_log(store.id(), app).await?;
        let listed: HashSet<String> = store
            .list(&layout::log_prefix(app), None)
            .await?
            .into_iter()
            .collect();
        // Each held entry the store lost is written back: into an empty position, or over
        // an object no key trusted for that position signed (planted bytes never outrank a
        // signed entry this desktop holds). Only another *signed* entry there is kept, and
        // then the held one is discarded.
        let mut restore: Vec<(&StoredEntry, Option<String>)> = Vec::new();
        let mut discard = Vec::new();
        for e in &held {
            let seq = e.entry.seq;
            let key = layout::log_key(app, seq);
            if !listed.contains(&key) {
                restore.push((e, None));
                continue;
            }
            let there = match store.get(&key, Cap::LOG_ENTRY).await {
                Ok(Some(o)) => o,
                Ok(None) => {
                    restore.push((e, None));
                    continue;
                }
                Err(Error::Protocol(airlock_protocol::Error::OverCap { .. })) => {
                    restore.push((e, store.etag(&key).await?));
                    continue;
                }
                Err(err) => return Err(err),
            };
            if there.bytes == e.bytes {
                continue;
            }
            // The reader's own judgement of the object: signed for this position, or not.
            let signed_here = matches!(
                reader::signed_entry(app, &key, seq, &there.bytes, &keys.set),
                Ok(Parsed::Entry(_))
            );
            if signed_here {
                discard.push(describe(e));
            } else {
                restore.push((e, Some(there.etag)));
            }
        }
        // Once one seen entry is lost to another, the ones after it (which name it) go too.
        if let Some(first) = held.iter().position(|e| discard.contains(&describe(e))) {
            discard = held[first..].iter().map(describe).collect();
            restore.retain(|(e, _)| e.entry.seq < held[first].entry.seq);
        }
        let mut top = seen.as_ref().map_or(0, |h| h.seq);
        top = top.max(held.last().map_or(0, |e| e.entry.seq));
        // Only what a trusted key signed counts: a planted object or pointer with a huge seq
        // must not push the entry to the end of the seq space.
        let trusted = keys.set.active_keys();
        for channel in self.config.channels.keys() {
            let key = layout::pointer_key(app, channel);
            if let Ok(Some(o)) = self.channel_store(channel)?.get(&key, Cap::POINTER).await
                && let Ok(payload) = airlock_protocol::dsse::Envelope::from_bytes(&o.bytes)
                    .and_then(|env| env.verify(POINTER_PAYLOAD_TYPE, &trusted))
                && let Ok(p) = ChannelPointer::from_payload(&payload)
                && p.app == app
                && p.channel == *channel
            {
                top = top.max(p.seq);
            }
        }
        let Some(next) = top.checked_add(1) else {
            return Err(Error::Integrity(format!(
                "{app}'s log or a pointer is at the last possible seq; it cannot be recovered here"
            )));
        };
        let mut plan = RecoverPlan {
            app: app.to_string(),
            seen_seq: seen.as_ref().map(|h| h.seq),
            restore: restore.iter().map(|(e, _)| e.entry.seq).collect(),
            discard,
            seq: next,
            committed_seq: None,
        };
        if !apply {
            return Ok(plan);
        }
        for (e, over) in &restore {
            let key = layout::log_key(app, e.entry.seq);
            crate::progress::step(format!("writing back {key}"));
            let written = match over {
                // Over an unsigned object: compare-and-swap on the etag just read.
                Some(etag) => {
                    store
                        .replace(&key, &e.bytes, Some(etag), ObjectClass::Log)
                        .await?;
                    true
                }
                None => {
                    store.put_new(&key, &e.bytes, ObjectClass::Log).await? == PutOutcome::Created
                }
            };
            if !written {
                return Err(Error::Conflict(format!(
                    "{key} was written while {app} was being recovered; run recover again"
                )));
            }
        }
        // The store's chain as it now is: it must read whole (a signed entry removed from
        // the middle that this desktop never held cannot be recovered here).
        let chain = reader::read_after(store.as_ref(), app, None, &keys.set).await?;
        let head = chain.entries.last().map(|e| Head {
            seq: e.entry.seq,
            hash: e.hash.clone(),
        });
        self.registry.forget(app).await?;
        self.registry.forget_store_caches().await?;
        match &head {
            Some(h) => self.registry.reset_seen_log(store.id(), app, h).await?,
            None => self.registry.forget_seen_log(store.id(), app).await?,
        }
        let event = Event::Recovered {
            restored: plan.restore.clone(),
            discarded: plan.discard.clone(),
        };
        let committed: Committed = self
            .commit_from(app, by, plan.seq, |_, _| Ok(event.clone()))
            .await?;
        plan.committed_seq = Some(committed.entry.entry.seq);
        Ok(plan)
    }
}

fn describe(e: &StoredEntry) -> String {
    format!(
        "seq {} {} {} by {}",
        e.entry.seq,
        e.entry.event.kind(),
        &e.hash[..12],
        e.entry.actor
    )
}
