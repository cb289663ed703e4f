//! Channel pointers: the signed files devices poll. A pointer is derived from the state —
//! the channel's current release and rollout — and carries the seq and hash of the log entry
//! that last changed them. It is written after that entry (never before what it references)
//! with compare-and-swap, and only when the stored one is older, so a pointer that lags its
//! log is repaired by the next command and a newer one is never overwritten by an older one.
//! Each pointer lives in its channel's store; the releases it names are placed there first
//! (see `placement`), and a channel with a CDN gets the pointer's path invalidated after.

use crate::aws::cloudfront::{self, Invalidation};
use crate::error::{Error, Pending, Result};
use crate::signer::sign_envelope_by;
use crate::state::AppState;
use crate::store::ObjectClass;
use crate::workspace::{Change, ChangeKind, Workspace};
use airlock_protocol::dsse::{Envelope, POINTER_PAYLOAD_TYPE};
use airlock_protocol::layout;
use airlock_protocol::limits::Cap;
use airlock_protocol::pointer::{ChannelPointer, HoldoutPin, ReleasePin, RolloutPin};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PointerUpdate {
    pub channel: String,
    pub key: String,
    pub seq: u64,
    pub expires_at: String,
    /// The CDN invalidation of the pointer's path, for channels behind CloudFront.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalidation: Option<Invalidation>,
}

/// What publishing the pointers did: each written pointer, and each channel that failed
/// (with why), all channels attempted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PointerReport {
    pub written: Vec<PointerUpdate>,
    pub failed: Vec<PointerFailure>,
    /// Channels that served something but whose pointer is missing from the store: not
    /// rewritten under the old seq (a device that saw the lost one would refuse different
    /// bytes with the same seq); `sync` re-signs them under a new one.
    pub missing: Vec<String>,
}

impl PointerReport {
    /// The written pointers, or — if anything is still pending after the entry at `seq`
    /// (these failures and `pending`) — [`Error::Committed`] saying so.
    pub(crate) fn settle(
        self,
        app: &str,
        seq: u64,
        command: Option<&str>,
        mut pending: Vec<Pending>,
    ) -> Result<Vec<PointerUpdate>> {
        pending.extend(self.failed.into_iter().map(|f| Pending {
            what: format!("the {} pointer", f.channel),
            cause: f.error,
        }));
        if pending.is_empty() {
            return Ok(self.written);
        }
        Err(Error::Committed {
            app: app.to_string(),
            seq,
            command: command.unwrap_or_default().to_string(),
            pending,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PointerFailure {
    pub channel: String,
    pub error: String,
}

/// What publishing one channel's pointer did.
enum Published {
    /// Written: channel, key, and the pointer signed.
    Written(Box<(String, String, ChannelPointer)>),
    Unchanged,
    /// Missing from the store, and not this entry's to write (see `missing`).
    Missing,
}

/// A channel's pointer as it is in the store, checked the way a device checks it.
#[derive(Debug)]
pub(crate) struct StoredPointer {
    /// Its payload, or why it does not parse.
    pub parsed: Result<ChannelPointer>,
    /// Why a device would refuse its signature (no trusted key signed it), if it would.
    pub untrusted: Option<String>,
}

impl Workspace {
    /// Reads `channel`'s stored pointer (`None`: there is none), checks its signature
    /// against the active trusted keys and notes it for the overview's expiry and lag. One
    /// reading for `status` and for what the console says devices see after an action.
    pub(crate) async fn stored_pointer(
        &self,
        app: &str,
        channel: &str,
    ) -> Result<Option<StoredPointer>> {
        let Some(o) = self
            .channel_store(channel)?
            .get(&layout::pointer_key(app, channel), Cap::POINTER)
            .await?
        else {
            return Ok(None);
        };
        let trusted = self.key_set().await?.set.active_keys();
        let untrusted = Envelope::from_bytes(&o.bytes)
            .and_then(|env| env.verify(POINTER_PAYLOAD_TYPE, &trusted))
            .err()
            .map(|e| e.to_string());
        let parsed = read_unverified(&o.bytes);
        if let Ok(p) = &parsed {
            // A cache for the overview: failing to note it changes nothing else.
            let _ = self.registry.note_pointer(p, self.clock.now()).await;
        }
        Ok(Some(StoredPointer { parsed, untrusted }))
    }
}

impl Workspace {
    /// Whether `bytes` (a stored pointer) verify under an active trusted key.
    async fn signed_by_trusted(&self, bytes: Option<&[u8]>) -> Result<bool> {
        let Some(bytes) = bytes else {
            return Ok(false);
        };
        let trusted = self.key_set().await?.set.active_keys();
        Ok(Envelope::from_bytes(bytes)
            .and_then(|env| env.verify(POINTER_PAYLOAD_TYPE, &trusted))
            .is_ok())
    }

    /// For each of `channels`, a trusted stored pointer beyond what `state` says it serves
    /// must name an entry the log holds ([`Self::check_pointer_in_log`]).
    pub(crate) async fn check_pointers_agree(
        &self,
        state: &AppState,
        channels: &[&str],
    ) -> Result<()> {
        for channel in channels {
            if !self.config.channels.contains_key(*channel) {
                continue;
            }
            let key = layout::pointer_key(&state.app, channel);
            let Some(o) = self.channel_store(channel)?.get(&key, Cap::POINTER).await? else {
                continue;
            };
            let Ok(there) = read_unverified(&o.bytes) else {
                continue;
            };
            if there.app != state.app || there.channel != *channel {
                continue; // copied from elsewhere: no witness, and replaced when written
            }
            let served = state.channel(channel).served;
            let beyond = served.as_ref().is_none_or(|s| {
                there.seq > s.seq || (there.seq == s.seq && there.log_head != s.hash)
            });
            if beyond && self.signed_by_trusted(Some(&o.bytes)).await? {
                self.check_pointer_in_log(state, channel, &there).await?;
            }
        }
        Ok(())
    }

    /// Checks that the log entry a trusted stored pointer names (`there.seq`, its
    /// `logHead`) is in the store's log: a pointer beyond the log this desktop folded is
    /// evidence the log lost entries (refused as tampering), unless another desktop simply
    /// appended them since.
    pub(crate) async fn check_pointer_in_log(
        &self,
        state: &AppState,
        channel: &str,
        there: &ChannelPointer,
    ) -> Result<()> {
        let key = layout::log_key(&state.app, there.seq);
        let found = match self.store.get(&key, Cap::LOG_ENTRY).await {
            Ok(found) => found.map(|o| crate::log::entry::entry_hash(&o.bytes)),
            Err(Error::Protocol(airlock_protocol::Error::OverCap { .. })) => None,
            Err(e) => return Err(e),
        };
        if found.as_deref() == Some(there.log_head.as_str()) {
            return Ok(());
        }
        Err(Error::Tampered {
            app: state.app.clone(),
            seq: there.seq,
            detail: format!(
                "the {channel} pointer of {} (signed by a trusted key) serves log entry {} at \
                 seq {}, which the log in {} {}: the log lost what devices were told",
                state.app,
                &there.log_head[..there.log_head.len().min(12)],
                there.seq,
                self.store.url(),
                if found.is_some() {
                    "holds another entry at"
                } else {
                    "has nothing at"
                }
            ),
        })
    }
}

/// Reads a stored pointer's payload without checking its signature (for the publisher's
/// own bookkeeping; devices always verify).
pub fn read_unverified(bytes: &[u8]) -> Result<ChannelPointer> {
    let env = Envelope::from_bytes(bytes)?;
    Ok(ChannelPointer::from_payload(&env.payload_bytes()?)?)
}

impl Workspace {
    /// The pointer `channel` should have now, or `None` if nothing was ever served there.
    pub(crate) fn pointer_for(
        &self,
        state: &AppState,
        channel: &str,
    ) -> Result<Option<ChannelPointer>> {
        let c = state.channel(channel);
        let Some(served) = c.served.clone() else {
            return Ok(None);
        };
        let pin = |version: &str| -> Result<_> { Ok(state.release(version)?.release.clone()) };
        let now = self.clock.now();
        Ok(Some(ChannelPointer {
            app: state.app.clone(),
            channel: channel.to_string(),
            seq: served.seq,
            log_head: served.hash,
            issued_at: now,
            expires_at: now.plus_seconds(self.config.pointer_ttl_seconds()),
            current: match &c.current {
                Some(v) => Some(ReleasePin {
                    version: v.clone(),
                    release: pin(v)?,
                }),
                None => None,
            },
            rollout: match &c.rollout {
                Some(r) => Some(RolloutPin {
                    version: r.version.clone(),
                    release: pin(&r.version)?,
                    basis_points: r.basis_points,
                    rollout_id: r.rollout_id.clone(),
                }),
                None => None,
            },
            // Kept in the pointer until it ends (devices compare `until` themselves); a
            // pointer re-signed after it ends drops it.
            holdout: match c.holdout.as_ref().filter(|h| {
                c.held(now) == Some(h.version.as_str()) && c.current.as_ref() != Some(&h.version)
            }) {
                Some(h) if c.rollout.is_none() => Some(HoldoutPin {
                    version: h.version.clone(),
                    release: pin(&h.version)?,
                    basis_points: h.basis_points,
                    holdout_id: h.holdout_id.clone(),
                    until: h.until,
                }),
                _ => None,
            },
        }))
    }

    /// Brings every channel's pointer up to its log: the channels in `first` (those the
    /// entry just moved) before the rest, each attempted whatever happened to another, then
    /// the CDN invalidations of every written pointer at once — so a rollback of one channel
    /// is never held up by another channel's bucket or CDN. Channels this workspace's
    /// airlock.toml does not name (another desktop added them) are reported as pending.
    pub async fn publish_pointers(&self, state: &AppState, first: &[&str]) -> PointerReport {
        let report = self.publish_pointers_quietly(state, first).await;
        let now = self.clock.now();
        let change = |channel: &str, seq: Option<u64>, kind: ChangeKind| Change {
            app: state.app.clone(),
            channel: Some(channel.to_string()),
            seq,
            kind,
            actor: None,
            at: now,
        };
        for p in &report.written {
            self.announce(change(
                &p.channel,
                Some(p.seq),
                ChangeKind::PointerPublished,
            ));
            if let Some(inv) = &p.invalidation {
                self.announce(change(
                    &p.channel,
                    Some(p.seq),
                    ChangeKind::InvalidationFinished {
                        status: inv.status.clone(),
                    },
                ));
            }
        }
        for f in &report.failed {
            self.announce(change(
                &f.channel,
                None,
                ChangeKind::PointerFailed {
                    error: f.error.clone(),
                },
            ));
        }
        report
    }

    /// What [`Self::publish_pointers`] does, before it announces the outcome.
    async fn publish_pointers_quietly(&self, state: &AppState, first: &[&str]) -> PointerReport {
        let mut order: Vec<&str> = first
            .iter()
            .copied()
            .filter(|c| state.channels.contains_key(*c))
            .collect();
        for c in state.channels.keys() {
            if !order.contains(&c.as_str()) {
                order.push(c);
            }
        }
        let mut report = PointerReport::default();
        let mut written = Vec::new();
        for channel in order {
            if !self.config.channels.contains_key(channel) {
                if state.channel(channel).served.is_some() && first.contains(&channel) {
                    report.failed.push(PointerFailure {
                        channel: channel.to_string(),
                        error: format!(
                            "this desktop's airlock.toml does not name channel {channel}, so \
                             its store is unknown here; run `airlock sync` on a desktop that \
                             has it"
                        ),
                    });
                }
                continue;
            }
            match self
                .publish_pointer(state, channel, first.contains(&channel))
                .await
            {
                Ok(Published::Written(done)) => written.push(*done),
                Ok(Published::Unchanged) => {}
                Ok(Published::Missing) => report.missing.push(channel.to_string()),
                Err(e) => report.failed.push(PointerFailure {
                    channel: channel.to_string(),
                    error: e.to_string(),
                }),
            }
        }
        let invalidations = written
            .iter()
            .map(|(channel, key, _)| self.invalidate(channel, key));
        let results = futures_util::future::join_all(invalidations).await;
        for ((channel, key, pointer), invalidation) in written.into_iter().zip(results) {
            report.written.push(PointerUpdate {
                channel,
                key,
                seq: pointer.seq,
                expires_at: pointer.expires_at.to_string(),
                // A CDN that cannot even be looked up never undoes the pointer.
                invalidation: invalidation.ok().flatten(),
            });
        }
        report
    }

    /// Writes `channel`'s pointer if the stored one is older. A missing pointer is written
    /// only for a channel the entry just moved (`moved`): elsewhere it was lost, and is left
    /// for `sync` to re-sign under a new seq.
    async fn publish_pointer(
        &self,
        state: &AppState,
        channel: &str,
        moved: bool,
    ) -> Result<Published> {
        let key = layout::pointer_key(&state.app, channel);
        let store = self.channel_store(channel)?.clone();
        let mut signed: Option<ChannelPointer> = None;
        for _ in 0..3 {
            let Some(pointer) = self.pointer_for(state, channel)? else {
                return Ok(Published::Unchanged);
            };
            let existing = store.get(&key, Cap::POINTER).await?;
            if existing.is_none() && !moved && signed.is_none() {
                return Ok(Published::Missing);
            }
            let stored = match existing.as_ref().map(|o| read_unverified(&o.bytes)) {
                Some(Err(e)) => {
                    return Err(Error::Integrity(format!(
                        "the stored pointer {key} in {} does not parse ({e}); Airlock never \
                         overwrites what it cannot read: inspect it, then delete it and run \
                         `airlock sync`",
                        store.url()
                    )));
                }
                Some(Ok(p)) => {
                    // A cache for the overview: failing to note it never stops a pointer.
                    let _ = self.registry.note_pointer(&p, self.clock.now()).await;
                    Some(p)
                }
                None => None,
            };
            if let (Some(mine), Some(there)) = (&signed, &stored)
                && mine == there
            {
                // Our write landed but its reply was lost; the retry was refused (412).
                return Ok(Published::Written(Box::new((
                    channel.to_string(),
                    key,
                    mine.clone(),
                ))));
            }
            // A pointer of another app or channel copied here is no witness of this log:
            // devices refuse it, and it is replaced.
            let stored = stored.filter(|p| p.app == state.app && p.channel == channel);
            if let Some(there) = &stored
                && (there.seq > pointer.seq
                    || (there.seq == pointer.seq && there.log_head != pointer.log_head))
            {
                let bytes = existing.as_ref().map(|o| o.bytes.as_slice());
                if self.signed_by_trusted(bytes).await? {
                    // A trusted pointer beyond this state: another desktop moved on (its
                    // entry is in the log), or the log lost what the pointer serves.
                    self.check_pointer_in_log(state, channel, there).await?;
                    return Ok(Published::Unchanged);
                }
                // Nobody trusted signed it: devices refuse it, and its seq means nothing.
            } else if stored.is_some_and(|p| p.seq >= pointer.seq) {
                return Ok(Published::Unchanged);
            }
            pointer.validate()?;
            crate::progress::step(format!(
                "writing the {channel} pointer of {} (seq {})",
                state.app, pointer.seq
            ));
            let pinned = pointer.current.iter().map(|p| &p.version);
            for version in pinned.chain(pointer.rollout.iter().map(|r| &r.version)) {
                self.place_release(state, version, &store).await?;
            }
            let signers = self.signers().await?;
            let env =
                sign_envelope_by(&signers, POINTER_PAYLOAD_TYPE, &pointer.to_payload()).await?;
            let expected = existing.as_ref().map(|o| o.etag.as_str());
            match store
                .replace(&key, &env.to_bytes(), expected, ObjectClass::Pointer)
                .await
            {
                Ok(()) => {
                    let _ = self.registry.note_pointer(&pointer, self.clock.now()).await;
                    return Ok(Published::Written(Box::new((
                        channel.to_string(),
                        key,
                        pointer,
                    ))));
                }
                Err(Error::Conflict(_)) => signed = Some(pointer),
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(format!(
            "{key} kept changing while it was being written; run `airlock sync`"
        )))
    }

    /// The CDN path of `key` in `channel`'s store: after `path-prefix`, else the object's
    /// path in the bucket (an origin pointing at the bucket root).
    fn cdn_path(&self, channel: &str, cdn: &crate::config::CdnConfig, key: &str) -> Result<String> {
        let path = match (&cdn.path_prefix, self.channel_store(channel)?.as_s3()) {
            (Some(prefix), _) => format!("{}/{key}", prefix.trim_end_matches('/')),
            (None, Some(s3)) => s3.object_key(key),
            (None, None) => key.to_string(),
        };
        Ok(format!("/{}", path.trim_start_matches('/')))
    }

    /// Where devices read `channel`'s pointer through the CDN, when `[channels.<name>.cdn]`
    /// gives its `address`.
    pub(crate) fn cdn_pointer_url(&self, app: &str, channel: &str) -> Result<Option<String>> {
        let Some(cdn) = self.config.channel(channel)?.cdn.clone() else {
            return Ok(None);
        };
        let Some(address) = &cdn.address else {
            return Ok(None);
        };
        let path = self.cdn_path(channel, &cdn, &layout::pointer_key(app, channel))?;
        Ok(Some(format!("{}{path}", address.trim_end_matches('/'))))
    }

    /// Invalidates the pointer's path in the channel's CDN, if it has one. Never fails the
    /// command: the pointer is published; a failure is in the report.
    async fn invalidate(&self, channel: &str, key: &str) -> Result<Option<Invalidation>> {
        let Some(cdn) = self.config.channel(channel)?.cdn.clone() else {
            return Ok(None);
        };
        let path = self.cdn_path(channel, &cdn, key)?;
        let aws = self
            .aws
            .as_ref()
            .expect("AWS settings load when a channel has a CDN");
        Ok(Some(
            cloudfront::invalidate(aws, &cdn.distribution, vec![path], cdn.wait).await,
        ))
    }
}
