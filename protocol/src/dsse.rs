//! DSSE envelopes: how releases and pointers are signed and checked.
//!
//! Invariant: a payload is only handed out by [`Envelope::verify`] when its declared type is the
//! expected one and a signature from a trusted key verifies over its PAE; signatures are always
//! over the PAE, never over the raw payload, so a payload cannot be replayed as another type.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::keys::PublicKey;
use crate::limits::{Cap, MAX_ENVELOPE_BYTES, MAX_SIGNATURES};

/// Payload type of release statements.
pub const RELEASE_PAYLOAD_TYPE: &str = "application/vnd.airlock.release+json";
/// Payload type of channel pointers.
pub const POINTER_PAYLOAD_TYPE: &str = "application/vnd.airlock.pointer+json";
/// Payload type of event-log entries (the publisher's own history; devices never read it).
pub const LOG_PAYLOAD_TYPE: &str = "application/vnd.airlock.log-entry+json";
/// A PAE must be strictly shorter than this (the AWS KMS limit for RAW messages).
pub const MAX_SIGNED_BYTES: usize = 4096;

/// Pre-Authentication Encoding: `"DSSEv1" SP len(type) SP type SP len(payload) SP payload`,
/// lengths in ASCII decimal bytes. These are the bytes that get signed.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let header = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    );
    let mut out = Vec::with_capacity(header.len() + payload.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(payload);
    out
}

/// Whether the PAE of this payload is small enough for every supported signer.
pub fn check_signable(what: &'static str, payload_type: &str, payload: &[u8]) -> Result<(), Error> {
    let size = pae(payload_type, payload).len();
    if size >= MAX_SIGNED_BYTES {
        return Err(Error::TooLarge {
            what,
            size,
            limit: MAX_SIGNED_BYTES,
        });
    }
    Ok(())
}

/// One signature in an envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// Hex SHA-256 of the signer's DER SubjectPublicKeyInfo.
    pub keyid: String,
    /// Base64 (standard, padded) signature over the PAE.
    pub sig: String,
}

/// A DSSE envelope as stored in `*.dsse.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// One of [`RELEASE_PAYLOAD_TYPE`] or [`POINTER_PAYLOAD_TYPE`].
    pub payload_type: String,
    /// Base64 (standard, padded) payload bytes.
    pub payload: String,
    /// At least one signature for a valid envelope.
    pub signatures: Vec<Signature>,
}

impl Envelope {
    /// An envelope with one signature (`sig` is the raw signature over [`pae`]).
    pub fn new(payload_type: impl Into<String>, payload: &[u8], keyid: String, sig: &[u8]) -> Self {
        Envelope {
            payload_type: payload_type.into(),
            payload: STANDARD.encode(payload),
            signatures: vec![Signature {
                keyid,
                sig: STANDARD.encode(sig),
            }],
        }
    }

    /// Adds another signature over the same PAE (e.g. during a key rotation).
    pub fn add_signature(&mut self, keyid: String, sig: &[u8]) {
        self.signatures.push(Signature {
            keyid,
            sig: STANDARD.encode(sig),
        });
    }

    /// The canonical bytes: pretty-printed JSON (2-space indent) followed by `\n`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("an envelope always serialises");
        bytes.push(b'\n');
        bytes
    }

    /// Parses envelope JSON (signatures are not checked here). An envelope over
    /// [`MAX_ENVELOPE_BYTES`] or with more than [`MAX_SIGNATURES`] signatures is refused
    /// before any signature is looked at.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        Cap::new("DSSE envelope", MAX_ENVELOPE_BYTES).check("envelope", bytes.len() as u64)?;
        let env: Self =
            serde_json::from_slice(bytes).map_err(|e| Error::malformed("DSSE envelope", e))?;
        if env.signatures.len() > MAX_SIGNATURES {
            return Err(Error::malformed(
                "DSSE envelope",
                format!(
                    "it carries {} signatures; at most {MAX_SIGNATURES} are accepted",
                    env.signatures.len()
                ),
            ));
        }
        Ok(env)
    }

    /// The decoded payload, unverified.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, Error> {
        STANDARD
            .decode(&self.payload)
            .map_err(|e| Error::malformed("DSSE envelope", format!("payload is not base64: {e}")))
    }

    /// The payload, if the type is `expected_type` and at least one signature whose keyid is a
    /// trusted key's keyid verifies under that key over the PAE. Other signatures are ignored.
    pub fn verify(&self, expected_type: &str, trusted: &[PublicKey]) -> Result<Vec<u8>, Error> {
        if self.payload_type != expected_type {
            return Err(Error::Signature(format!(
                "payload type is {:?}, expected {expected_type:?}",
                self.payload_type
            )));
        }
        if self.signatures.len() > MAX_SIGNATURES {
            return Err(Error::malformed(
                "DSSE envelope",
                format!("more than {MAX_SIGNATURES} signatures"),
            ));
        }
        let payload = self.payload_bytes()?;
        let message = pae(&self.payload_type, &payload);
        let mut tried = Vec::new();
        for signature in &self.signatures {
            for key in trusted.iter().filter(|k| k.keyid() == signature.keyid) {
                tried.push(key.keyid());
                let Ok(raw) = STANDARD.decode(&signature.sig) else {
                    continue;
                };
                if key.verify(&message, &raw) {
                    return Ok(payload);
                }
            }
        }
        Err(Error::Signature(if tried.is_empty() {
            let ids: Vec<&str> = self.signatures.iter().map(|s| s.keyid.as_str()).collect();
            format!(
                "no signature is by a trusted key (signed by: [{}])",
                ids.join(", ")
            )
        } else {
            format!(
                "the signature by trusted key {} does not verify",
                tried.join(", ")
            )
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // From the DSSE protocol document (secure-systems-lab/dsse, protocol.md).
        let expected = b"DSSEv1 29 http://example.com/HelloWorld 11 hello world";
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            expected
        );
        assert_eq!(
            pae("", b""),
            b"DSSEv1 0  0 ",
            "empty type and payload keep both spaces"
        );
    }

    #[test]
    fn payload_types_have_the_documented_length() {
        assert_eq!(RELEASE_PAYLOAD_TYPE.len(), 36);
        assert_eq!(POINTER_PAYLOAD_TYPE.len(), 36);
        assert_eq!(LOG_PAYLOAD_TYPE.len(), 38);
        assert_eq!(crate::keyset::KEYS_PAYLOAD_TYPE.len(), 33);
    }

    #[test]
    fn signable_limit_is_exclusive() {
        let header = pae(POINTER_PAYLOAD_TYPE, &[b'x'; 4000]).len() - 4000;
        let fits = vec![b'x'; MAX_SIGNED_BYTES - 1 - header];
        assert!(check_signable("pointer", POINTER_PAYLOAD_TYPE, &fits).is_ok());
        let too_big = vec![b'x'; MAX_SIGNED_BYTES - header];
        let err = check_signable("pointer", POINTER_PAYLOAD_TYPE, &too_big).unwrap_err();
        assert!(
            matches!(
                err,
                Error::TooLarge {
                    size: MAX_SIGNED_BYTES,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn envelope_round_trips_and_refuses_untrusted() {
        let env = Envelope::new(POINTER_PAYLOAD_TYPE, b"{}", "ab".into(), b"sig");
        assert_eq!(Envelope::from_bytes(&env.to_bytes()).unwrap(), env);
        assert_eq!(env.payload, "e30=");
        assert_eq!(env.payload_bytes().unwrap(), b"{}");
        let err = env.verify(RELEASE_PAYLOAD_TYPE, &[]).unwrap_err();
        assert!(
            err.to_string().contains("payload type"),
            "type is checked first: {err}"
        );
        let err = env.verify(POINTER_PAYLOAD_TYPE, &[]).unwrap_err();
        assert!(
            err.to_string().contains("no signature is by a trusted key"),
            "{err}"
        );
    }
}
