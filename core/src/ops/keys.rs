//! The trusted key set: starting it (`init`), joining it (`keys join`: pin what the store
//! has, shown with each key's id and source), rotating to a new key (added by a signature of
//! the old one; both sign during the overlap) and retiring a key. Local keys are created
//! only here, on request — never as a side effect of signing.
//!
//! Invariant: every new key-set version is signed by a key active in the version before, so
//! it chains to every desktop's pin; settings it changes (signer, co-signer, pin) are saved
//! to airlock.toml when the workspace has one.

use crate::config;
use crate::error::{Error, Result};
use crate::secret::Sensitive;
use crate::signer::{LocalSigner, Signer, sign_envelope_by};
use crate::store::{ObjectClass, PutOutcome};
use crate::trust::{self, Pin};
use crate::workspace::{SignerSpec, Workspace};
use airlock_protocol::keys::PublicKey;
use airlock_protocol::keyset::{
    KEYS_FORMAT_VERSION, KEYS_PAYLOAD_TYPE, KeySet, SignedKeySet, TrustedKey,
};
use airlock_protocol::layout;
use airlock_protocol::limits::Cap;
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// The key set a desktop now trusts, and how it got there.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeySetReport {
    pub version: u64,
    /// What airlock.toml pins (`key-pin`).
    pub pin: String,
    /// This desktop started the set (the store had none).
    pub created: bool,
    pub keys: Vec<TrustedKey>,
    /// The key id of this desktop's configured signer, if it could be loaded.
    pub signer_keyid: Option<String>,
    /// Whether that signer is one of the active keys (otherwise this desktop can read and
    /// verify, but every signing command refuses).
    pub signer_trusted: bool,
}

impl Workspace {
    /// Pins the store's key set, or — when the store has none — starts one with this
    /// desktop's signer (creating the local key if `create_local_key`). A workspace that
    /// already has a pin moves it forward only along a chain that verifies from it.
    pub async fn adopt_key_set(
        &mut self,
        actor: &str,
        create_local_key: bool,
    ) -> Result<KeySetReport> {
        let versions = trust::read_versions(self.store.as_ref()).await?;
        let pinned = match self.config.key_pin.as_deref() {
            Some(pin) => Some(trust::newest_from_pin(&versions, &Pin::parse(pin)?)?),
            None => trust::newest_unpinned(&versions)?,
        };
        let (doc, created) = match pinned {
            Some(doc) => (doc, false),
            None => {
                let signer = self
                    .open_signer(&self.config.signer, create_local_key)
                    .await?;
                let now = self.clock.now();
                let set = KeySet {
                    format_version: KEYS_FORMAT_VERSION,
                    version: 1,
                    previous: None,
                    issued_at: now,
                    keys: vec![TrustedKey::new(
                        signer.public_key(),
                        &self.config.signer,
                        now,
                        actor,
                    )],
                };
                match self.write_key_set(&[signer], &set).await {
                    Ok(doc) => (doc, true),
                    // Another desktop started it first: join theirs.
                    Err(e) if e.kind() == crate::ErrorKind::Conflict => {
                        let versions = trust::read_versions(self.store.as_ref()).await?;
                        let doc = trust::newest_unpinned(&versions)?.ok_or(e)?;
                        (doc, false)
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        self.pin(&doc)?;
        self.report(doc, created).await
    }

    /// The key set now trusted, for `airlock keys show`.
    pub async fn key_set_report(&self) -> Result<KeySetReport> {
        let doc = self.refresh_key_set().await?;
        self.report((*doc).clone(), false).await
    }

    /// Adds the key of `to` (a signer setting whose key exists) to the set, signed by the
    /// current key, and makes it the signer with the old one as co-signer until it is retired.
    pub async fn rotate_key(&mut self, actor: &str, to: &str) -> Result<KeySetReport> {
        self.may_change("rotate keys")?;
        SignerSpec::parse(to)?;
        let set = self.refresh_key_set().await?;
        let old = self.signers().await?;
        let new = self.open_signer(to, false).await?;
        let keyid = new.public_key().keyid().to_string();
        if set.set.get(&keyid).is_some() {
            return Err(Error::Refused(format!(
                "key {keyid} ({to}) is already in the key set (version {}); a retired key is \
                 never trusted again",
                set.set.version
            )));
        }
        let now = self.clock.now();
        let mut next = set.set.next(&set.hash, now);
        next.keys
            .push(TrustedKey::new(new.public_key(), to, now, actor));
        let mut by = vec![new];
        by.extend(old.iter().take(1).cloned());
        let doc = self.write_key_set(&by, &next).await?;
        let previous = self.config.signer.clone();
        self.config.signer = to.to_string();
        self.config.co_signer = Some(previous.clone());
        self.signers = OnceCell::new();
        self.save_setting("signer", Some(to))?;
        self.save_setting("co-signer", Some(&previous))?;
        self.pin(&doc)?;
        self.report(doc, false).await
    }

    /// Retires `keyid`: nothing it signs from now on is trusted (what it signed before stays
    /// valid history in the log). The signer's own key, or the last active one, cannot be
    /// retired.
    pub async fn retire_key(&mut self, actor: &str, keyid: &str) -> Result<KeySetReport> {
        self.may_change("retire keys")?;
        let set = self.refresh_key_set().await?;
        let signers = self.signers().await?;
        let Some(key) = set.set.active().find(|k| k.keyid == keyid) else {
            return Err(Error::NotFound(format!(
                "no active key {keyid} in the key set (version {})",
                set.set.version
            )));
        };
        if signers[0].public_key().keyid() == keyid {
            return Err(Error::Refused(format!(
                "{keyid} is this desktop's signer ({}); rotate to another key first \
                 (`airlock keys rotate --to ...`)",
                key.source
            )));
        }
        // Where every app's log stands now: the key's signature counts up to there and
        // never after, whatever time a later entry claims.
        let mut positions = std::collections::BTreeMap::new();
        for app in self.apps().await? {
            if let Some(head) = self.load(&app).await?.head {
                positions.insert(app, head.seq);
            }
        }
        let now = self.clock.now();
        let mut next = set.set.next(&set.hash, now);
        for k in next.keys.iter_mut().filter(|k| k.keyid == keyid) {
            k.retired_at = Some(now);
            k.retired_by = Some(actor.to_string());
            k.retired_after = Some(positions.clone());
        }
        let by: Vec<Arc<dyn Signer>> = signers
            .into_iter()
            .filter(|s| s.public_key().keyid() != keyid)
            .collect();
        let doc = self.write_key_set(&by, &next).await?;
        let co_retired = self
            .loaded_signers()
            .await?
            .get(1)
            .map(|s| s.public_key().keyid() == keyid);
        if co_retired == Some(true) {
            self.config.co_signer = None;
            self.signers = OnceCell::new();
            self.save_setting("co-signer", None)?;
        }
        self.pin(&doc)?;
        self.report(doc, false).await
    }

    /// Creates the local key `name` in this desktop's keychain (or loads it if it exists);
    /// returns its public key. It signs nothing until it is in the key set (`keys rotate`).
    pub async fn create_local_key(&self, name: &str) -> Result<PublicKey> {
        let signer = self.open_signer(&format!("local:{name}"), true).await?;
        Ok(signer.public_key().clone())
    }

    /// The local key `name` as PKCS#8 PEM, to import on another desktop.
    pub fn export_local_key(&self, name: &str) -> Result<Sensitive<String>> {
        let der = LocalSigner::export_pkcs8(self.keychain()?.as_ref(), name)?;
        Ok(Sensitive::new(pkcs8_pem(der.expose())))
    }

    /// Stores a local key exported elsewhere (PKCS#8 PEM) under `name`.
    pub fn import_local_key(&self, name: &str, pem: &Sensitive<String>) -> Result<PublicKey> {
        let der = Sensitive::new(parse_pkcs8_pem(pem.expose())?);
        let signer = LocalSigner::import_pkcs8(self.keychain()?.as_ref(), name, &der)?;
        Ok(signer.public_key().clone())
    }

    async fn write_key_set(&self, by: &[Arc<dyn Signer>], set: &KeySet) -> Result<SignedKeySet> {
        let env = sign_envelope_by(by, KEYS_PAYLOAD_TYPE, &set.to_payload()).await?;
        let bytes = env.to_bytes();
        let key = layout::keys_key(set.version);
        match self
            .store
            .put_new(&key, &bytes, ObjectClass::Immutable)
            .await?
        {
            PutOutcome::Created => Ok(SignedKeySet::parse(&bytes)?),
            PutOutcome::AlreadyExists => {
                // A rival desktop's version chains from the current one; anything else under
                // this name (planted bytes, nothing any trusted key signed) would block every
                // rotation and retirement for good, so it is replaced.
                let current = self.key_set().await?;
                let there = match self.store.get(&key, Cap::KEY_SET).await {
                    Ok(there) => there,
                    Err(Error::Protocol(airlock_protocol::Error::OverCap { .. })) => None,
                    Err(e) => return Err(e),
                };
                let rival = there
                    .as_ref()
                    .is_some_and(|o| set.version == 1 || current.follows(&o.bytes).is_ok());
                if rival {
                    return Err(Error::Conflict(format!(
                        "another desktop wrote key-set version {} first; check `airlock keys \
                         show` and try again",
                        set.version
                    )));
                }
                let etag = match there {
                    Some(o) => Some(o.etag),
                    None => self.store.etag(&key).await?,
                };
                self.store
                    .replace(&key, &bytes, etag.as_deref(), ObjectClass::Immutable)
                    .await?;
                Ok(SignedKeySet::parse(&bytes)?)
            }
        }
    }

    fn pin(&mut self, doc: &SignedKeySet) -> Result<()> {
        let pin = Pin::of(doc).to_string();
        self.save_setting("key-pin", Some(&pin))?;
        self.config.key_pin = Some(pin);
        *self.key_set.lock().expect("not poisoned") = Some(Arc::new(doc.clone()));
        Ok(())
    }

    /// Saves a setting to airlock.toml when this workspace has one (a workspace built from a
    /// configuration in memory keeps it in memory).
    fn save_setting(&self, key: &str, value: Option<&str>) -> Result<()> {
        if self.dir.join(config::FILE_NAME).exists() {
            config::Config::set_setting(&self.dir, key, value)?;
        }
        Ok(())
    }

    async fn report(&self, doc: SignedKeySet, created: bool) -> Result<KeySetReport> {
        let signer_keyid = self
            .loaded_signers()
            .await
            .ok()
            .map(|s| s[0].public_key().keyid().to_string());
        let signer_trusted = signer_keyid
            .as_ref()
            .is_some_and(|id| doc.set.active().any(|k| &k.keyid == id));
        Ok(KeySetReport {
            version: doc.set.version,
            pin: Pin::of(&doc).to_string(),
            created,
            keys: doc.set.keys.clone(),
            signer_keyid,
            signer_trusted,
        })
    }
}

const PKCS8_LABEL: &str = "PRIVATE KEY";

fn pkcs8_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {PKCS8_LABEL}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {PKCS8_LABEL}-----\n"));
    out
}

fn parse_pkcs8_pem(text: &str) -> Result<Vec<u8>> {
    use base64::Engine as _;
    let begin = format!("-----BEGIN {PKCS8_LABEL}-----");
    let end = format!("-----END {PKCS8_LABEL}-----");
    let body = text
        .split_once(&begin)
        .and_then(|(_, rest)| rest.split_once(&end))
        .map(|(body, _)| body.split_whitespace().collect::<String>())
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "the key to import is not PEM with a {begin} block (as `airlock keys export` \
                 writes)"
            ))
        })?;
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| Error::InvalidInput(format!("the key to import is not valid base64: {e}")))
}
