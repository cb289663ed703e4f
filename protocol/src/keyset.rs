//! The trusted-key document: which keys may sign for a workspace. It lives in the home store
//! as a chain of immutable, signed versions (`keys/<version as 20 digits>.json`), each a DSSE
//! envelope of type [`KEYS_PAYLOAD_TYPE`].
//!
//! Invariant: a version is trusted only by a pin (its exact bytes' SHA-256, which a desktop
//! records when it creates or joins the set) or by a chain from a trusted version — it names
//! the previous version's hash and is signed by a key active in that version. So someone who
//! can write the bucket but holds no trusted key cannot add a key of their own.

use crate::Error;
use crate::digest::sha256_hex;
use crate::dsse::Envelope;
use crate::keys::PublicKey;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Payload type of trusted-key documents.
pub const KEYS_PAYLOAD_TYPE: &str = "application/vnd.airlock.keys+json";
/// The only `formatVersion` this crate reads.
pub const KEYS_FORMAT_VERSION: u32 = 1;
/// At most this many keys (active and retired) in one document.
pub const MAX_KEYS: usize = 32;

/// One key in the set, with where it came from (for people; never secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrustedKey {
    /// Hex SHA-256 of the DER SubjectPublicKeyInfo.
    pub keyid: String,
    /// `rsa-pkcs1-sha256` or `ecdsa-p256-sha256`.
    pub algorithm: String,
    /// The public key as PEM (`-----BEGIN PUBLIC KEY-----`).
    pub public_key: String,
    /// The signer setting that holds the private half, e.g. `local:default` or `kms:alias/x`.
    pub source: String,
    pub added_at: Timestamp,
    pub added_by: String,
    /// When the key stopped being trusted; `None` while it is active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<Timestamp>,
    /// Who retired it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_by: Option<String>,
    /// Where each app's log stood when the key was retired (app → seq of its newest entry):
    /// entries it signed at or before that position stay valid history, nothing after it
    /// counts, whatever time an entry claims. An app not listed had no entry then, so
    /// nothing of it signed by this key counts. `None` on keys retired before positions were
    /// recorded (then the retirement time decides, see [`KeySet::trusted_for`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_after: Option<std::collections::BTreeMap<String, u64>>,
}

/// One version of the trusted-key document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeySet {
    pub format_version: u32,
    /// 1 for the first document, +1 for each change.
    pub version: u64,
    /// Hex SHA-256 of the previous version's stored bytes; `None` for version 1.
    pub previous: Option<String>,
    pub issued_at: Timestamp,
    pub keys: Vec<TrustedKey>,
}

/// A document and the exact bytes it was stored as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedKeySet {
    pub set: KeySet,
    pub bytes: Vec<u8>,
    /// Hex SHA-256 of `bytes`: what a pin or the next version's `previous` names.
    pub hash: String,
}

impl TrustedKey {
    pub fn new(key: &PublicKey, source: &str, at: Timestamp, by: &str) -> Self {
        Self {
            keyid: key.keyid().to_string(),
            algorithm: key.algorithm().as_str().to_string(),
            public_key: key.to_pem(),
            source: source.to_string(),
            added_at: at,
            added_by: by.to_string(),
            retired_at: None,
            retired_by: None,
            retired_after: None,
        }
    }

    /// The parsed public key (checked against `keyid` and `algorithm`).
    pub fn public(&self) -> Result<PublicKey, Error> {
        let keys = PublicKey::from_pem(&self.public_key)?;
        let [key] = keys.as_slice() else {
            return Err(Error::malformed(
                "key set",
                "a key entry holds more than one key",
            ));
        };
        if key.keyid() != self.keyid || key.algorithm().as_str() != self.algorithm {
            return Err(Error::malformed(
                "key set",
                format!("key {} does not match its public key", self.keyid),
            ));
        }
        Ok(key.clone())
    }
}

impl KeySet {
    /// The next version of this set (issued at `now`, naming `hash`, this version's stored
    /// bytes' SHA-256), with the same keys for the caller to change.
    pub fn next(&self, hash: &str, now: Timestamp) -> Self {
        Self {
            version: self.version + 1,
            previous: Some(hash.to_string()),
            issued_at: now,
            ..self.clone()
        }
    }

    /// The canonical payload bytes (compact JSON).
    pub fn to_payload(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a key set always serialises")
    }

    /// Parses and checks a payload: known format, 1–[`MAX_KEYS`] keys with distinct ids that
    /// match their public keys, at least one active, and `previous` present exactly when
    /// `version` > 1.
    pub fn from_payload(bytes: &[u8]) -> Result<Self, Error> {
        let set: KeySet =
            serde_json::from_slice(bytes).map_err(|e| Error::malformed("key set", e))?;
        if set.format_version != KEYS_FORMAT_VERSION {
            return Err(Error::malformed(
                "key set",
                format!(
                    "formatVersion {} is not understood (this build reads {KEYS_FORMAT_VERSION}); \
                     upgrade Airlock",
                    set.format_version
                ),
            ));
        }
        if set.version == 0 || (set.version == 1) != set.previous.is_none() {
            return Err(Error::malformed(
                "key set",
                "version 1 has no previous; every later version names one",
            ));
        }
        if set.keys.is_empty() || set.keys.len() > MAX_KEYS {
            return Err(Error::malformed(
                "key set",
                format!("it must list 1 to {MAX_KEYS} keys"),
            ));
        }
        let mut ids = std::collections::BTreeSet::new();
        for k in &set.keys {
            k.public()?;
            if !ids.insert(k.keyid.as_str()) {
                return Err(Error::malformed(
                    "key set",
                    format!("key {} is listed twice", k.keyid),
                ));
            }
        }
        if set.active().next().is_none() {
            return Err(Error::malformed("key set", "no key is active"));
        }
        Ok(set)
    }

    /// The keys that may sign now.
    pub fn active(&self) -> impl Iterator<Item = &TrustedKey> {
        self.keys.iter().filter(|k| k.retired_at.is_none())
    }

    /// The public keys that may sign now (what devices and rollback targets trust).
    pub fn active_keys(&self) -> Vec<PublicKey> {
        self.active()
            .map(|k| k.public().expect("checked when parsed"))
            .collect()
    }

    /// The public keys whose signature counts for the log entry of `app` at `seq`: the active
    /// keys, and each retired key whose recorded position for `app` is at or after `seq`. A
    /// key retired before positions were recorded counts where the entry's own time (`at`,
    /// read before its signature is checked) is no later than its retirement: the older,
    /// weaker rule, kept so history signed before the upgrade still verifies.
    pub fn trusted_for(&self, app: &str, seq: u64, at: Option<Timestamp>) -> Vec<PublicKey> {
        self.keys
            .iter()
            .filter(|k| match (&k.retired_at, &k.retired_after) {
                (None, _) => true,
                (Some(_), Some(positions)) => positions.get(app).is_some_and(|last| seq <= *last),
                (Some(retired), None) => at.is_some_and(|at| at <= *retired),
            })
            .map(|k| k.public().expect("checked when parsed"))
            .collect()
    }

    /// The key with `keyid`, if listed (active or retired).
    pub fn get(&self, keyid: &str) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.keyid == keyid)
    }
}

impl SignedKeySet {
    /// Reads a stored document and checks its own signature: at least one of its own active
    /// keys signs it. Says nothing about whether to trust it; see [`Self::trusted_by_pin`]
    /// and [`Self::follows`].
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let env = Envelope::from_bytes(bytes)?;
        let set = KeySet::from_payload(&env.payload_bytes()?)?;
        env.verify(KEYS_PAYLOAD_TYPE, &set.active_keys())?;
        Ok(Self {
            set,
            bytes: bytes.to_vec(),
            hash: sha256_hex(bytes),
        })
    }

    /// This document, if its bytes hash to `pin`.
    pub fn trusted_by_pin(self, pin: &str) -> Result<Self, Error> {
        if self.hash != pin {
            return Err(Error::Signature(format!(
                "key set version {} hashes to {}, but this desktop pinned {pin}",
                self.set.version, self.hash
            )));
        }
        Ok(self)
    }

    /// Checks that `next` (stored bytes) extends this trusted version: the next version
    /// number, naming this one's hash, signed by a key active here.
    pub fn follows(&self, next: &[u8]) -> Result<Self, Error> {
        let doc = Self::parse(next)?;
        if doc.set.version != self.set.version + 1
            || doc.set.previous.as_deref() != Some(&self.hash)
        {
            return Err(Error::Signature(format!(
                "key set version {} does not extend version {} ({})",
                doc.set.version, self.set.version, self.hash
            )));
        }
        // Retirement is permanent: every key listed here is listed there, unchanged, except
        // that an active key may be retired.
        for old in &self.set.keys {
            let kept = doc.set.get(&old.keyid).is_some_and(|new| {
                if old.retired_at.is_some() {
                    new == old
                } else {
                    TrustedKey {
                        retired_at: None,
                        retired_by: None,
                        retired_after: None,
                        ..new.clone()
                    } == *old
                }
            });
            if !kept {
                return Err(Error::Signature(format!(
                    "key set version {} drops, changes or un-retires key {} of version {}; \
                     a key set only ever adds keys and retires them for good",
                    doc.set.version, old.keyid, self.set.version
                )));
            }
        }
        Envelope::from_bytes(next)?
            .verify(KEYS_PAYLOAD_TYPE, &self.set.active_keys())
            .map_err(|e| {
                Error::Signature(format!(
                    "key set version {} is not signed by a key of version {}: {e}",
                    doc.set.version, self.set.version
                ))
            })?;
        Ok(doc)
    }
}
