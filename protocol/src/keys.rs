//! Public keys that may sign Airlock documents, identified by the SHA-256 of their SPKI DER.
//!
//! Invariant: a [`PublicKey`] holds a strict-DER SubjectPublicKeyInfo that aws-lc accepted for
//! its algorithm, and is either RSA of 2048 to 8192 bits or ECDSA on P-256; its key id is the
//! hex SHA-256 of exactly those bytes, as `openssl pkey -pubin -outform DER | sha256sum` prints.

use std::fmt;

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::Error;
use crate::der::{self, Reader};
use crate::digest::sha256_hex;

const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const ID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const PRIME256V1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const MIN_RSA_BITS: usize = 2048;
const MAX_RSA_BITS: usize = 8192;

/// The signature algorithms Airlock accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, RSA of 2048 to 8192 bits.
    RsaPkcs1Sha256,
    /// ECDSA on P-256 with SHA-256; signatures are DER `Ecdsa-Sig-Value` (as AWS KMS returns).
    EcdsaP256Sha256,
}

impl KeyAlgorithm {
    /// `"rsa-pkcs1-sha256"` or `"ecdsa-p256-sha256"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyAlgorithm::RsaPkcs1Sha256 => "rsa-pkcs1-sha256",
            KeyAlgorithm::EcdsaP256Sha256 => "ecdsa-p256-sha256",
        }
    }

    fn verification(&self) -> &'static dyn VerificationAlgorithm {
        match self {
            KeyAlgorithm::RsaPkcs1Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            KeyAlgorithm::EcdsaP256Sha256 => &signature::ECDSA_P256_SHA256_ASN1,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Hex SHA-256 of a DER SubjectPublicKeyInfo: the `keyid` in DSSE signatures.
pub fn keyid_of(spki_der: &[u8]) -> String {
    sha256_hex(spki_der)
}

/// A trusted signing key (public half).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    spki_der: Vec<u8>,
    algorithm: KeyAlgorithm,
    keyid: String,
}

impl PublicKey {
    /// Reads a DER SubjectPublicKeyInfo, detecting the algorithm from its AlgorithmIdentifier.
    pub fn from_spki_der(spki_der: &[u8]) -> Result<Self, Error> {
        let algorithm = detect_algorithm(spki_der).map_err(Error::Key)?;
        UnparsedPublicKey::new(algorithm.verification(), spki_der)
            .parse()
            .map_err(|e| Error::Key(format!("{algorithm} key rejected by aws-lc: {e}")))?;
        Ok(PublicKey {
            spki_der: spki_der.to_vec(),
            algorithm,
            keyid: keyid_of(spki_der),
        })
    }

    /// Reads every `-----BEGIN PUBLIC KEY-----` block in `text` (in order). Any other PEM block
    /// is an error, and so is finding no block at all.
    pub fn from_pem(text: &str) -> Result<Vec<Self>, Error> {
        let mut keys = Vec::new();
        let mut lines = text.lines().map(str::trim);
        while let Some(line) = lines.next() {
            let Some(label) = line
                .strip_prefix("-----BEGIN ")
                .and_then(|l| l.strip_suffix("-----"))
            else {
                continue;
            };
            if label != "PUBLIC KEY" {
                return Err(Error::Key(wrong_pem_label(label)));
            }
            let mut body = String::new();
            loop {
                match lines.next() {
                    Some("-----END PUBLIC KEY-----") => break,
                    Some(line) => body.push_str(line),
                    None => return Err(Error::malformed("PEM", "BEGIN PUBLIC KEY without END")),
                }
            }
            let der = STANDARD
                .decode(body)
                .map_err(|e| Error::malformed("PEM", e))?;
            keys.push(Self::from_spki_der(&der)?);
        }
        if keys.is_empty() {
            return Err(Error::Key(
                "no -----BEGIN PUBLIC KEY----- block found".into(),
            ));
        }
        Ok(keys)
    }

    /// PEM text: one `PUBLIC KEY` block with 64-column base64 lines, ending in a newline.
    pub fn to_pem(&self) -> String {
        let encoded = STANDARD.encode(&self.spki_der);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for chunk in encoded.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// Hex SHA-256 of [`PublicKey::spki_der`].
    pub fn keyid(&self) -> &str {
        &self.keyid
    }

    /// Whether `signature` is this key's signature over `message` (SHA-256 is applied here).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(self.algorithm.verification(), &self.spki_der)
            .verify(message, signature)
            .is_ok()
    }
}

fn wrong_pem_label(label: &str) -> String {
    let hint = if label.contains("PRIVATE") {
        "this is a private key: pass only the public half (openssl pkey -in KEY -pubout)"
    } else {
        "convert it with: openssl pkey -pubin -in KEY (for RSA PUBLIC KEY: openssl rsa \
         -RSAPublicKey_in -in KEY -pubout)"
    };
    format!(
        "found a {label:?} PEM block, but only \"PUBLIC KEY\" (SubjectPublicKeyInfo) is \
         accepted; {hint}"
    )
}

/// Reads `SEQUENCE { SEQUENCE { OID, params }, BIT STRING }` and checks the key's parameters.
fn detect_algorithm(spki: &[u8]) -> Result<KeyAlgorithm, String> {
    let bad = |e: String| format!("not a DER SubjectPublicKeyInfo: {e}");
    let mut outer = Reader::new(spki);
    let mut body = Reader::new(outer.read(der::SEQUENCE).map_err(bad)?);
    if !outer.is_empty() {
        return Err(bad("trailing bytes after the key".into()));
    }
    let mut alg_id = Reader::new(body.read(der::SEQUENCE).map_err(bad)?);
    let bit_string = body.read(der::BIT_STRING).map_err(bad)?;
    let oid = alg_id.read(der::OID).map_err(bad)?;
    let Some((0, key)) = bit_string.split_first().map(|(u, k)| (*u, k)) else {
        return Err(bad("the key BIT STRING must have no unused bits".into()));
    };
    if !body.is_empty() {
        return Err(bad("trailing fields after the key".into()));
    }
    match oid {
        RSA_ENCRYPTION => {
            if alg_id.peek_tag() == Some(der::NULL) {
                alg_id.read(der::NULL).map_err(bad)?;
            }
            if !alg_id.is_empty() {
                return Err("rsaEncryption parameters must be NULL".into());
            }
            let mut rsa = Reader::new(Reader::new(key).read(der::SEQUENCE).map_err(bad)?);
            let bits =
                der::positive_integer_bits(rsa.read(der::INTEGER).map_err(bad)?).map_err(bad)?;
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                return Err(format!(
                    "RSA key has {bits} bits; {MIN_RSA_BITS} to {MAX_RSA_BITS} bits are required"
                ));
            }
            Ok(KeyAlgorithm::RsaPkcs1Sha256)
        }
        ID_EC_PUBLIC_KEY => {
            let curve = alg_id
                .read(der::OID)
                .map_err(|_| "EC key without a named curve")?;
            if curve != PRIME256V1 {
                return Err(format!(
                    "EC curve {} is not supported; only P-256 (prime256v1, 1.2.840.10045.3.1.7)",
                    der::oid_to_string(curve)
                ));
            }
            if key.len() != 65 || key[0] != 0x04 {
                return Err("P-256 keys must be an uncompressed point (65 bytes, 0x04...)".into());
            }
            Ok(KeyAlgorithm::EcdsaP256Sha256)
        }
        other => Err(format!(
            "key algorithm {} is not supported; only rsaEncryption (1.2.840.113549.1.1.1) and \
             id-ecPublicKey (1.2.840.10045.2.1) on P-256",
            der::oid_to_string(other)
        )),
    }
}
