//! Signing with an AWS KMS key (`signer = "kms:<key id, ARN or alias>"`): the private half
//! never leaves AWS. The algorithm follows the key: RSASSA_PKCS1_V1_5_SHA_256 for RSA keys,
//! ECDSA_SHA_256 for P-256 keys. The DSSE PAE bytes are signed as a `RAW` message (they stay
//! under 4096 bytes), so KMS hashes them itself. The public key comes from `GetPublicKey`;
//! [`crate::signer::sign_envelope`] verifies every signature against it before anything is
//! written, so a wrong or disabled key fails before publishing.

use super::{Failure, explain};
use crate::error::{Error, Result};
use crate::signer::Signer;
use airlock_protocol::keys::{KeyAlgorithm, PublicKey};
use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyState, KeyUsageType, MessageType, SigningAlgorithmSpec};

#[derive(Debug)]
pub struct KmsSigner {
    /// As the user wrote it (alias, id or ARN), for messages.
    name: String,
    /// The key's ARN, which every call uses.
    arn: String,
    algorithm: SigningAlgorithmSpec,
    public: PublicKey,
    client: Client,
}

impl KmsSigner {
    /// Looks the key up and checks it can sign: enabled, usage SIGN_VERIFY, and a spec the
    /// protocol accepts.
    pub async fn connect(sdk: &SdkConfig, key: &str) -> Result<Self> {
        if key.is_empty() {
            return Err(Error::Config(
                "signer \"kms:\" needs a key id, ARN or alias (kms:alias/airlock)".into(),
            ));
        }
        let client = Client::from_conf(
            aws_sdk_kms::config::Builder::from(sdk)
                .retry_partition(super::retry_partition())
                .build(),
        );
        let fail = |action: &str, e: String| Error::Signer(format!("KMS key {key}: {action}: {e}"));
        let meta = client
            .describe_key()
            .key_id(key)
            .send()
            .await
            .map_err(|e| match explain(&e, "kms:DescribeKey") {
                (Failure::NotFound, _) => Error::Signer(format!(
                    "KMS key {key} does not exist (check the alias or id, and the region or \
                     endpoint in use)"
                )),
                (_, d) => fail("describing the key failed", d),
            })?
            .key_metadata
            .ok_or_else(|| fail("describing the key failed", "no key metadata".into()))?;
        let arn = meta.arn().unwrap_or(meta.key_id()).to_string();
        if meta.key_state() != Some(&KeyState::Enabled) || !meta.enabled() {
            return Err(Error::Signer(format!(
                "KMS key {key} is {}, so it cannot sign; enable it (or choose another key) \
                 — nothing was published",
                meta.key_state()
                    .map_or("not enabled".to_string(), |s| s.as_str().to_lowercase())
            )));
        }
        if meta.key_usage() != Some(&KeyUsageType::SignVerify) {
            return Err(Error::Signer(format!(
                "KMS key {key} has key usage {}, not SIGN_VERIFY; Airlock needs a signing key \
                 (RSA or ECC_NIST_P256, usage SIGN_VERIFY)",
                meta.key_usage().map_or("unknown", |u| u.as_str())
            )));
        }
        // Older services (and the test server) report only the deprecated field.
        #[allow(deprecated)]
        let spec = meta
            .key_spec()
            .map(|s| s.as_str().to_string())
            .or_else(|| {
                meta.customer_master_key_spec()
                    .map(|s| s.as_str().to_string())
            })
            .unwrap_or_default();
        let algorithm = match KeySpec::from(spec.as_str()) {
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
                SigningAlgorithmSpec::RsassaPkcs1V15Sha256
            }
            KeySpec::EccNistP256 => SigningAlgorithmSpec::EcdsaSha256,
            _ => {
                return Err(Error::Signer(format!(
                    "KMS key {key} is {spec}; Airlock signs with RSA (2048–4096) or \
                     ECC_NIST_P256 keys"
                )));
            }
        };
        let der = client
            .get_public_key()
            .key_id(&arn)
            .send()
            .await
            .map_err(|e| {
                fail(
                    "reading its public key failed",
                    explain(&e, "kms:GetPublicKey").1,
                )
            })?
            .public_key
            .ok_or_else(|| fail("reading its public key failed", "no key returned".into()))?;
        let public = PublicKey::from_spki_der(der.as_ref())
            .map_err(|e| fail("its public key is not usable", e.to_string()))?;
        let expected = match algorithm {
            SigningAlgorithmSpec::EcdsaSha256 => KeyAlgorithm::EcdsaP256Sha256,
            _ => KeyAlgorithm::RsaPkcs1Sha256,
        };
        if public.algorithm() != expected {
            return Err(fail(
                "its public key does not match its spec",
                format!("{spec} but the key is {}", public.algorithm().as_str()),
            ));
        }
        Ok(Self {
            name: key.to_string(),
            arn,
            algorithm,
            public,
            client,
        })
    }
}

#[async_trait]
impl Signer for KmsSigner {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let out = self
            .client
            .sign()
            .key_id(&self.arn)
            .message(Blob::new(message))
            .message_type(MessageType::Raw)
            .signing_algorithm(self.algorithm.clone())
            .send()
            .await
            .map_err(|e| {
                Error::Signer(format!(
                    "KMS key {} could not sign: {} — nothing was published",
                    self.name,
                    explain(&e, "kms:Sign").1
                ))
            })?;
        let sig = out
            .signature
            .map(Blob::into_inner)
            .ok_or_else(|| Error::Signer(format!("KMS key {} returned no signature", self.name)))?;
        if self.public.algorithm() == airlock_protocol::keys::KeyAlgorithm::EcdsaP256Sha256 {
            // KMS returns either of an ECDSA signature's two valid forms; write one.
            return airlock_protocol::ecdsa::to_low_s(&sig).map_err(|e| {
                Error::Signer(format!(
                    "KMS key {} returned a bad signature: {e}",
                    self.name
                ))
            });
        }
        Ok(sig)
    }

    fn describe(&self) -> String {
        format!(
            "KMS key {} ({}, {})",
            self.name,
            self.arn,
            self.algorithm.as_str()
        )
    }
}
