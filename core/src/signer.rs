//! Signing log entries, release statements, channel pointers and key sets. A [`Signer`]
//! holds one key; the local signer keeps its private half only in the OS keychain (created
//! only by `airlock init` or `airlock keys create`, RSA-2048, never silently on first use),
//! so it belongs to one desktop — teams share a KMS key instead. [`sign_envelope`] checks
//! the 4096-byte limit and verifies every signature against the public key before it is
//! returned, so a wrong key or algorithm fails loudly before anything is written.

use crate::error::{Error, Result};
use crate::keychain::Keychain;
use crate::secret::Sensitive;
use airlock_protocol::dsse::{self, Envelope};
use airlock_protocol::keys::PublicKey;
use async_trait::async_trait;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use std::sync::Arc;

#[async_trait]
pub trait Signer: Send + Sync + std::fmt::Debug {
    fn public_key(&self) -> &PublicKey;
    /// Signs `message` (the DSSE PAE bytes) with the key's algorithm.
    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>>;
    /// A short description for status output (never secret).
    fn describe(&self) -> String;
}

/// Builds a DSSE envelope over `payload`, verified before it is returned.
pub async fn sign_envelope(
    signer: &dyn Signer,
    payload_type: &str,
    payload: &[u8],
) -> Result<Envelope> {
    let pae = dsse::pae(payload_type, payload);
    if pae.len() >= dsse::MAX_SIGNED_BYTES {
        return Err(Error::InvalidInput(format!(
            "the signed message would be {} bytes; it must stay under {} (shorten the \
             description)",
            pae.len(),
            dsse::MAX_SIGNED_BYTES
        )));
    }
    let sig = signer.sign(&pae).await?;
    let key = signer.public_key();
    if !key.verify(&pae, &sig) {
        return Err(Error::Signer(format!(
            "{} produced a signature that does not verify with its own public key {}; \
             nothing was written",
            signer.describe(),
            key.keyid()
        )));
    }
    Ok(Envelope::new(
        payload_type,
        payload,
        key.keyid().to_string(),
        &sig,
    ))
}

/// Like [`sign_envelope`], with one signature by each of `signers` (during a key rotation
/// the new key and the old one both sign).
pub async fn sign_envelope_by(
    signers: &[Arc<dyn Signer>],
    payload_type: &str,
    payload: &[u8],
) -> Result<Envelope> {
    let (first, rest) = signers
        .split_first()
        .ok_or_else(|| Error::Signer("no signer is configured".into()))?;
    let mut env = sign_envelope(first.as_ref(), payload_type, payload).await?;
    for s in rest {
        let extra = sign_envelope(s.as_ref(), payload_type, payload).await?;
        env.signatures.extend(extra.signatures);
    }
    Ok(env)
}

const SERVICE: &str = "airlock";

/// An RSA key whose private half lives in the OS keychain under `airlock` /
/// `local-signing-key:<name>` as PKCS#8 DER.
#[derive(Debug)]
pub struct LocalSigner {
    name: String,
    key: Sensitive<Arc<RsaKeyPair>>,
    public: PublicKey,
}

/// The keychain account of the local key `name`.
pub fn local_key_account(name: &str) -> String {
    format!("local-signing-key:{name}")
}

impl LocalSigner {
    /// Loads the named key from the keychain; `None` if this keychain has none.
    pub fn load(keychain: &dyn Keychain, name: &str) -> Result<Option<Self>> {
        let account = local_key_account(name);
        keychain
            .get(SERVICE, &account)?
            .map(|der| Self::from_pkcs8(name, &account, der.expose()))
            .transpose()
    }

    /// Loads the named key, generating and storing it if the keychain has none. Only
    /// `airlock init` and `airlock keys create` call this: a missing key anywhere else is an
    /// error, never a new key that devices would not trust.
    pub fn load_or_create(keychain: &dyn Keychain, name: &str) -> Result<Self> {
        let account = local_key_account(name);
        let pkcs8 = match keychain.get(SERVICE, &account)? {
            Some(der) => der,
            None => {
                let pair = RsaKeyPair::generate(KeySize::Rsa2048)
                    .map_err(|_| Error::Signer("could not generate an RSA-2048 key".into()))?;
                let der = AsDer::<Pkcs8V1Der>::as_der(&pair)
                    .map_err(|_| Error::Signer("could not encode the new key".into()))?;
                keychain.set(SERVICE, &account, &Sensitive::new(der.as_ref().to_vec()))?;
                // Two processes creating the key at once both write; whichever wrote last is
                // the key, so use what the keychain holds rather than what this one made.
                keychain.get(SERVICE, &account)?.ok_or_else(|| {
                    Error::Keychain(format!(
                        "{SERVICE}/{account} vanished right after it was stored"
                    ))
                })?
            }
        };
        Self::from_pkcs8(name, &account, pkcs8.expose())
    }

    /// The private key as PKCS#8 DER, for `airlock keys export` (moving the key to another
    /// desktop of the same person or team).
    pub fn export_pkcs8(keychain: &dyn Keychain, name: &str) -> Result<Sensitive<Vec<u8>>> {
        let account = local_key_account(name);
        keychain.get(SERVICE, &account)?.ok_or_else(|| {
            Error::Signer(format!(
                "this desktop's keychain has no local signing key {name:?} ({SERVICE}/{account})"
            ))
        })
    }

    /// Stores a PKCS#8 key exported elsewhere; refuses to replace a different key.
    pub fn import_pkcs8(
        keychain: &dyn Keychain,
        name: &str,
        der: &Sensitive<Vec<u8>>,
    ) -> Result<Self> {
        let account = local_key_account(name);
        let signer = Self::from_pkcs8(name, &account, der.expose())?;
        if let Some(existing) = Self::load(keychain, name)? {
            if existing.public == signer.public {
                return Ok(existing);
            }
            return Err(Error::Refused(format!(
                "this keychain already holds a different local key {name:?} ({}); import under \
                 another name (`--name`)",
                existing.public.keyid()
            )));
        }
        keychain.set(SERVICE, &account, der)?;
        Ok(signer)
    }

    fn from_pkcs8(name: &str, account: &str, pkcs8: &[u8]) -> Result<Self> {
        let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| {
            Error::Signer(format!(
                "the keychain entry {SERVICE}/{account} is not a usable key: {e}"
            ))
        })?;
        let spki = AsDer::<PublicKeyX509Der>::as_der(pair.public_key())
            .map_err(|_| Error::Signer("could not encode the public key".into()))?;
        let public = PublicKey::from_spki_der(spki.as_ref())?;
        Ok(Self {
            name: name.to_string(),
            key: Sensitive::new(Arc::new(pair)),
            public,
        })
    }
}

#[async_trait]
impl Signer for LocalSigner {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let pair = self.key.expose();
        let mut sig = vec![0; pair.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut sig)
            .map_err(|_| Error::Signer(format!("local key {:?} failed to sign", self.name)))?;
        Ok(sig)
    }

    fn describe(&self) -> String {
        format!("local RSA key {:?} ({})", self.name, self.public.keyid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keychain::MemoryKeychain;

    #[tokio::test]
    async fn key_is_created_once_and_signatures_verify() {
        let keychain = MemoryKeychain::default();
        let a = LocalSigner::load_or_create(&keychain, "t").unwrap();
        let b = LocalSigner::load_or_create(&keychain, "t").unwrap();
        assert_eq!(
            a.public_key(),
            b.public_key(),
            "the second load must reuse the stored key"
        );
        let env = sign_envelope(&a, dsse::POINTER_PAYLOAD_TYPE, b"{}")
            .await
            .unwrap();
        let payload = env
            .verify(dsse::POINTER_PAYLOAD_TYPE, &[b.public_key().clone()])
            .unwrap();
        assert_eq!(payload, b"{}");
        assert!(
            !format!("{a:?}").contains("PRIVATE"),
            "Debug must not show the key"
        );
    }

    #[tokio::test]
    async fn oversized_messages_are_refused_before_signing() {
        let keychain = MemoryKeychain::default();
        let s = LocalSigner::load_or_create(&keychain, "t").unwrap();
        let err = sign_envelope(&s, dsse::RELEASE_PAYLOAD_TYPE, &[b'x'; 4096])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::InvalidInput);
    }
}
