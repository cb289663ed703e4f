//! Channel pointers: the signed files devices poll. A pointer is derived from the state —
//! the channel's current release and rollout — and carries the seq and hash of the log entry
//! that last changed them. It is written after that entry (never before what it references)
//! with compare-and-swap, and only when the stored one is older, so a pointer that lags its
//! log is repaired by the next command and a newer one is never overwritten by an older one.
//! Each pointer lives in its channel's store; the releases it names are placed there first
//! (see `placement`), and a channel with a CDN gets the pointer's path invalidated after.

use crate::aws::cloudfront::{self, Invalidation};
use crate::error::{Error, Result};
use crate::signer::sign_envelope;
use crate::state::AppState;
use crate::store::ObjectClass;
use crate::workspace::Workspace;
use airlock_protocol::dsse::{Envelope, POINTER_PAYLOAD_TYPE};
use airlock_protocol::layout;
use airlock_protocol::pointer::{ChannelPointer, ReleasePin, RolloutPin};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PointerUpdate {
    pub channel: String,
    pub key: String,
    pub seq: u64,
    pub expires_at: String,
    /// The CDN invalidation of the pointer's path, for channels behind CloudFront.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalidation: Option<Invalidation>,
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
        }))
    }

    /// Brings every channel's pointer up to its log. Channels this workspace's airlock.toml
    /// does not name (another desktop added them) are left to the desktops that know their
    /// store.
    pub async fn publish_pointers(&self, state: &AppState) -> Result<Vec<PointerUpdate>> {
        let mut out = Vec::new();
        for channel in state.channels.keys() {
            if !self.config.channels.contains_key(channel) {
                continue;
            }
            if let Some(update) = self.publish_pointer(state, channel).await? {
                out.push(update);
            }
        }
        Ok(out)
    }

    async fn publish_pointer(
        &self,
        state: &AppState,
        channel: &str,
    ) -> Result<Option<PointerUpdate>> {
        let key = layout::pointer_key(&state.app, channel);
        let store = self.channel_store(channel)?.clone();
        let mut signed: Option<ChannelPointer> = None;
        for _ in 0..3 {
            let Some(pointer) = self.pointer_for(state, channel)? else {
                return Ok(None);
            };
            let existing = store.get(&key).await?;
            let stored = existing
                .as_ref()
                .and_then(|o| read_unverified(&o.bytes).ok());
            if let (Some(mine), Some(there)) = (&signed, &stored)
                && mine == there
            {
                // Our write landed but its reply was lost; the retry was refused (412).
                return Ok(Some(self.published(channel, key, mine).await?));
            }
            if stored.is_some_and(|p| p.seq >= pointer.seq) {
                return Ok(None);
            }
            let pinned = pointer.current.iter().map(|p| &p.version);
            for version in pinned.chain(pointer.rollout.iter().map(|r| &r.version)) {
                self.place_release(state, version, &store).await?;
            }
            let signer = self.signer().await?;
            let env =
                sign_envelope(signer.as_ref(), POINTER_PAYLOAD_TYPE, &pointer.to_payload()).await?;
            let expected = existing.as_ref().map(|o| o.etag.as_str());
            match store
                .replace(&key, &env.to_bytes(), expected, ObjectClass::Pointer)
                .await
            {
                Ok(()) => return Ok(Some(self.published(channel, key, &pointer).await?)),
                Err(Error::Conflict(_)) => signed = Some(pointer),
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(format!(
            "{key} kept changing while it was being written; run `airlock sync`"
        )))
    }

    /// Reports a written pointer, after invalidating its path in the channel's CDN.
    async fn published(
        &self,
        channel: &str,
        key: String,
        pointer: &ChannelPointer,
    ) -> Result<PointerUpdate> {
        let invalidation = self.invalidate(channel, &key).await?;
        Ok(PointerUpdate {
            channel: channel.to_string(),
            key,
            seq: pointer.seq,
            expires_at: pointer.expires_at.to_string(),
            invalidation,
        })
    }

    /// Invalidates the pointer's path in the channel's CDN, if it has one. Never fails the
    /// command: the pointer is published; a failure is in the report.
    async fn invalidate(&self, channel: &str, key: &str) -> Result<Option<Invalidation>> {
        let Some(cdn) = self.config.channel(channel)?.cdn.clone() else {
            return Ok(None);
        };
        // The CDN path of the key: after `path-prefix`, else the object's path in the
        // bucket (an origin pointing at the bucket root).
        let path = match (&cdn.path_prefix, self.channel_store(channel)?.as_s3()) {
            (Some(prefix), _) => format!("{}/{key}", prefix.trim_end_matches('/')),
            (None, Some(s3)) => s3.object_key(key),
            (None, None) => key.to_string(),
        };
        let path = format!("/{}", path.trim_start_matches('/'));
        let aws = self
            .aws
            .as_ref()
            .expect("AWS settings load when a channel has a CDN");
        Ok(Some(
            cloudfront::invalidate(aws, &cdn.distribution, vec![path], cdn.wait).await,
        ))
    }
}
