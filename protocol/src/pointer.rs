//! The channel pointer: the small signed file devices poll to learn what to run.
//!
//! Invariant: a pointer that passes [`ChannelPointer::validate`] has valid names and versions,
//! hash-shaped pins, `basisPoints` within 0..=10000, an expiry after its issue time, and a PAE
//! under [`crate::dsse::MAX_SIGNED_BYTES`]. Its JSON field order is fixed by the struct order.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::bucketing::FULL;
use crate::digest::{ObjectRef, is_sha256_hex};
use crate::dsse::{POINTER_PAYLOAD_TYPE, check_signable};
use crate::layout::{validate_app_name, validate_channel_name, validate_version};
use crate::time::Timestamp;

/// How long a pointer stays valid by default: 7 days.
pub const DEFAULT_TTL_SECONDS: i64 = 7 * 24 * 3600;
/// The longest rollout id, in bytes.
pub const MAX_ROLLOUT_ID_BYTES: usize = 128;

/// A release every device on the channel runs (unless it is in the rollout).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleasePin {
    /// The release version.
    pub version: String,
    /// Pin on that version's `release.dsse.json` bytes.
    pub release: ObjectRef,
}

/// A release a fraction of devices run, chosen by [`crate::bucketing`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolloutPin {
    /// The release version.
    pub version: String,
    /// Pin on that version's `release.dsse.json` bytes.
    pub release: ObjectRef,
    /// Share of devices in the rollout, in 1/100 of a percent (0..=10000).
    pub basis_points: u32,
    /// Salt for bucketing; a new id reshuffles which devices are in.
    pub rollout_id: String,
}

/// The largest holdout: half the devices (5000 basis points).
pub const MAX_HOLDOUT_BASIS_POINTS: u32 = FULL / 2;

/// The previous release, kept for a randomized share of devices for a while after a new
/// release became current, so the new one can be compared with a group chosen by lot rather
/// than with the devices that have not updated yet ([`crate::bucketing::in_holdout`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HoldoutPin {
    /// The release the held devices keep running.
    pub version: String,
    /// Pin on that version's `release.dsse.json` bytes.
    pub release: ObjectRef,
    /// Share of devices held back, in 1/100 of a percent (1..=5000).
    pub basis_points: u32,
    /// Salt for bucketing: the held devices are the *last* `basisPoints` of this id's
    /// buckets. For a completed rollout it is the rollout's id, so no device that had the new
    /// release at an earlier step is sent back.
    pub holdout_id: String,
    /// From this instant the held devices run `current` like everyone else.
    pub until: Timestamp,
}

/// Payload of `apps/<app>/channels/<channel>/pointer.dsse.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChannelPointer {
    /// The app, e.g. `shop-ios`.
    pub app: String,
    /// The channel, e.g. `production`.
    pub channel: String,
    /// Seq of the log entry that produced this pointer; never decreases.
    pub seq: u64,
    /// Hex SHA-256 of that log entry's bytes.
    pub log_head: String,
    /// When the pointer was signed.
    pub issued_at: Timestamp,
    /// After this instant devices refuse the pointer (freeze protection).
    pub expires_at: Timestamp,
    /// The release everyone runs; `null` until a rollout completes at 100 %.
    pub current: Option<ReleasePin>,
    /// The release being rolled out, if any.
    pub rollout: Option<RolloutPin>,
    /// The previous release, kept for a randomized share of devices (never with a rollout).
    /// Omitted when absent, so pointers without one keep their earlier bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<HoldoutPin>,
}

impl ChannelPointer {
    /// The payload bytes: compact JSON in field order.
    pub fn to_payload(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a pointer always serialises")
    }

    /// Parses a payload. Only the shape is checked here; call [`ChannelPointer::validate`].
    pub fn from_payload(bytes: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(bytes).map_err(|e| Error::malformed("channel pointer", e))
    }

    /// Checks names, versions, hash shapes, basis points, times and the signing size limit.
    pub fn validate(&self) -> Result<(), Error> {
        let malformed = |detail: String| Err(Error::malformed("channel pointer", detail));
        validate_app_name(&self.app)?;
        validate_channel_name(&self.channel)?;
        if !is_sha256_hex(&self.log_head) {
            return malformed("logHead must be 64 lowercase hex digits".into());
        }
        if self.expires_at <= self.issued_at {
            return malformed(format!(
                "expiresAt {} is not after issuedAt {}",
                self.expires_at, self.issued_at
            ));
        }
        if let Some(current) = &self.current {
            check_pin("current", &current.version, &current.release)?;
        }
        if let Some(rollout) = &self.rollout {
            check_pin("rollout", &rollout.version, &rollout.release)?;
            if rollout.basis_points > FULL {
                return malformed(format!(
                    "basisPoints {} exceeds {FULL}",
                    rollout.basis_points
                ));
            }
            check_id("rolloutId", &rollout.rollout_id)?;
        }
        if let Some(holdout) = &self.holdout {
            check_pin("holdout", &holdout.version, &holdout.release)?;
            if self.rollout.is_some() {
                return malformed("a holdout cannot be set while a rollout is".into());
            }
            if self
                .current
                .as_ref()
                .is_none_or(|c| c.version == holdout.version)
            {
                return malformed(
                    "a holdout needs a current release other than the one it keeps".into(),
                );
            }
            if !(1..=MAX_HOLDOUT_BASIS_POINTS).contains(&holdout.basis_points) {
                return malformed(format!(
                    "holdout basisPoints {} must be 1 to {MAX_HOLDOUT_BASIS_POINTS}",
                    holdout.basis_points
                ));
            }
            check_id("holdoutId", &holdout.holdout_id)?;
        }
        check_signable("channel pointer", POINTER_PAYLOAD_TYPE, &self.to_payload())
    }
}

fn check_id(field: &str, id: &str) -> Result<(), Error> {
    if id.is_empty() || id.len() > MAX_ROLLOUT_ID_BYTES || id.chars().any(char::is_control) {
        return Err(Error::malformed(
            "channel pointer",
            format!("{field} must be 1 to {MAX_ROLLOUT_ID_BYTES} bytes without control characters"),
        ));
    }
    Ok(())
}

fn check_pin(field: &str, version: &str, release: &ObjectRef) -> Result<(), Error> {
    validate_version(version)?;
    if !is_sha256_hex(&release.sha256) {
        let detail = format!("{field}.release.sha256 must be 64 lowercase hex digits");
        return Err(Error::malformed("channel pointer", detail));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256_hex;

    fn sample() -> ChannelPointer {
        let issued_at = Timestamp::parse("2026-11-23T10:20:00Z").unwrap();
        ChannelPointer {
            app: "shop-ios".into(),
            channel: "production".into(),
            seq: 7,
            log_head: sha256_hex(b"entry"),
            issued_at,
            expires_at: issued_at.plus_seconds(DEFAULT_TTL_SECONDS),
            current: None,
            rollout: None,
            holdout: None,
        }
    }

    #[test]
    fn nulls_are_explicit_and_order_is_fixed() {
        let p = sample();
        let text = String::from_utf8(p.to_payload()).unwrap();
        let expected = format!(
            concat!(
                r#"{{"app":"shop-ios","channel":"production","seq":7,"logHead":"{}","#,
                r#""issuedAt":"2026-11-23T10:20:00Z","expiresAt":"2026-11-30T10:20:00Z","#,
                r#""current":null,"rollout":null}}"#
            ),
            p.log_head
        );
        assert_eq!(text, expected);
        assert_eq!(ChannelPointer::from_payload(text.as_bytes()).unwrap(), p);
        p.validate().unwrap();
    }

    #[test]
    fn validate_refuses_bad_fields() {
        let rollout = RolloutPin {
            version: "1.4.0".into(),
            release: ObjectRef::of(b"r"),
            basis_points: FULL,
            rollout_id: "r1".into(),
        };
        let ok = ChannelPointer {
            rollout: Some(rollout.clone()),
            ..sample()
        };
        ok.validate().expect("100 % is a valid rollout");
        let over = RolloutPin {
            basis_points: FULL + 1,
            ..rollout.clone()
        };
        assert!(
            ChannelPointer {
                rollout: Some(over),
                ..sample()
            }
            .validate()
            .is_err()
        );
        let no_id = RolloutPin {
            rollout_id: String::new(),
            ..rollout.clone()
        };
        assert!(
            ChannelPointer {
                rollout: Some(no_id),
                ..sample()
            }
            .validate()
            .is_err()
        );
        let long_id = RolloutPin {
            rollout_id: "\"".repeat(MAX_ROLLOUT_ID_BYTES),
            ..rollout
        };
        ChannelPointer {
            rollout: Some(long_id),
            ..sample()
        }
        .validate()
        .expect("fits in 4096");
        let p = sample();
        let backwards = ChannelPointer {
            expires_at: p.issued_at,
            ..p
        };
        assert!(
            backwards.validate().is_err(),
            "expiry must come after issue"
        );
        let bad_version = ReleasePin {
            version: "1.0".into(),
            release: ObjectRef::of(b""),
        };
        assert!(
            ChannelPointer {
                current: Some(bad_version),
                ..sample()
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn a_holdout_is_omitted_when_absent_and_checked_when_present() {
        let current = ReleasePin {
            version: "1.4.0".into(),
            release: ObjectRef::of(b"new"),
        };
        let holdout = HoldoutPin {
            version: "1.3.0".into(),
            release: ObjectRef::of(b"old"),
            basis_points: 500,
            holdout_id: "r1".into(),
            until: Timestamp::parse("2026-11-26T10:20:00Z").unwrap(),
        };
        let held = ChannelPointer {
            current: Some(current.clone()),
            holdout: Some(holdout.clone()),
            ..sample()
        };
        held.validate()
            .expect("a 5 % holdout of the previous release");
        let text = String::from_utf8(held.to_payload()).unwrap();
        assert!(
            text.contains(r#""rollout":null,"holdout":{"version":"1.3.0","release":"#),
            "{text}"
        );
        assert_eq!(ChannelPointer::from_payload(text.as_bytes()).unwrap(), held);
        let refused = |p: ChannelPointer| p.validate().is_err();
        assert!(refused(ChannelPointer {
            current: None,
            ..held.clone()
        }));
        let same = HoldoutPin {
            version: "1.4.0".into(),
            ..holdout.clone()
        };
        assert!(refused(ChannelPointer {
            holdout: Some(same),
            ..held.clone()
        }));
        for bp in [0, MAX_HOLDOUT_BASIS_POINTS + 1] {
            let h = HoldoutPin {
                basis_points: bp,
                ..holdout.clone()
            };
            assert!(refused(ChannelPointer {
                holdout: Some(h),
                ..held.clone()
            }));
        }
        let no_id = HoldoutPin {
            holdout_id: String::new(),
            ..holdout.clone()
        };
        assert!(refused(ChannelPointer {
            holdout: Some(no_id),
            ..held.clone()
        }));
        let rollout = RolloutPin {
            version: "1.5.0".into(),
            release: ObjectRef::of(b"r"),
            basis_points: 500,
            rollout_id: "r2".into(),
        };
        assert!(refused(ChannelPointer {
            rollout: Some(rollout),
            ..held
        }));
    }
}
