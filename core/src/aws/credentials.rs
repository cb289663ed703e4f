//! Where AWS credentials come from, chosen per workspace by `credentials` in airlock.toml:
//! the SDK's default chain (nothing configured: environment, shared config and profiles,
//! SSO, instance roles — the keychain is never touched), a named profile, or keys the user
//! typed into `airlock credentials set`, which live only in the OS keychain under
//! `airlock` / `aws-credentials:<name>`. Secrets stay wrapped in [`Sensitive`].

use crate::error::{Error, Result};
use crate::keychain::Keychain;
use crate::secret::Sensitive;
use serde::{Deserialize, Serialize};

const SERVICE: &str = "airlock";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialSource {
    /// The AWS SDK's default chain.
    Chain,
    /// A named profile from the shared AWS config (SSO profiles included).
    Profile(String),
    /// Keys kept in the OS keychain under this name.
    Keychain(String),
}

impl CredentialSource {
    pub fn parse(setting: Option<&str>) -> Result<Self> {
        let valid = |n: &str| {
            !n.is_empty()
                && n.len() <= 64
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        match setting.map(|s| s.split_once(':').unwrap_or((s, ""))) {
            None | Some(("chain", "")) => Ok(Self::Chain),
            Some(("profile", name)) if valid(name) => Ok(Self::Profile(name.into())),
            Some(("keychain", name)) if valid(name) => Ok(Self::Keychain(name.into())),
            Some(("keychain", "")) => Ok(Self::Keychain("default".into())),
            _ => Err(Error::Config(format!(
                "credentials {:?} is not understood; use \"chain\", \"profile:<name>\" or \
                 \"keychain:<name>\"",
                setting.unwrap_or_default()
            ))),
        }
    }

    /// The setting as written in airlock.toml.
    pub fn setting(&self) -> String {
        match self {
            Self::Chain => "chain".into(),
            Self::Profile(n) => format!("profile:{n}"),
            Self::Keychain(n) => format!("keychain:{n}"),
        }
    }

    /// What `airlock credentials show` says about this source (never a secret).
    pub fn describe(&self) -> String {
        match self {
            Self::Chain => "the AWS default chain (environment variables, shared config and \
                            profiles, SSO, instance or container roles)"
                .into(),
            Self::Profile(n) => format!("the AWS profile {n:?} from the shared config"),
            Self::Keychain(n) => format!("keys in the OS keychain (airlock/{})", account(n)),
        }
    }
}

fn account(name: &str) -> String {
    format!("aws-credentials:{name}")
}

/// Static AWS keys. Only the access key id may be shown.
#[derive(Clone, Debug)]
pub struct StaticKeys {
    pub access_key_id: String,
    pub secret_access_key: Sensitive<String>,
    pub session_token: Option<Sensitive<String>>,
}

/// The keychain's record; exists only for the moment of (de)serialising into the keychain.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session_token: Option<String>,
}

impl StaticKeys {
    pub fn new(access_key_id: &str, secret: String, token: Option<String>) -> Result<Self> {
        let id = access_key_id.trim();
        if id.len() < 4 || id.len() > 128 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Error::InvalidInput(
                "the access key id must be 4–128 letters and digits (like AKIA…)".into(),
            ));
        }
        let secret = secret.trim().to_string();
        if secret.is_empty() || secret.chars().any(char::is_whitespace) {
            return Err(Error::InvalidInput(
                "the secret access key (read from standard input) is empty or has spaces".into(),
            ));
        }
        let token = token
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        Ok(Self {
            access_key_id: id.to_string(),
            secret_access_key: Sensitive::new(secret),
            session_token: token.map(Sensitive::new),
        })
    }

    /// The access key id with all but its last four characters masked.
    pub fn masked_id(&self) -> String {
        let id = &self.access_key_id;
        let keep = id.len().saturating_sub(4);
        format!("{}{}", "*".repeat(keep.min(16)), &id[keep..])
    }
}

/// Stores keys under `name`, replacing any there.
pub fn save(keychain: &dyn Keychain, name: &str, keys: &StaticKeys) -> Result<()> {
    let stored = Stored {
        access_key_id: keys.access_key_id.clone(),
        secret_access_key: keys.secret_access_key.expose().clone(),
        session_token: keys.session_token.as_ref().map(|t| t.expose().clone()),
    };
    let bytes = Sensitive::new(serde_json::to_vec(&stored).expect("keys always serialise"));
    keychain.set(SERVICE, &account(name), &bytes)
}

/// Loads the keys stored under `name`, if any.
pub fn load(keychain: &dyn Keychain, name: &str) -> Result<Option<StaticKeys>> {
    let Some(bytes) = keychain.get(SERVICE, &account(name))? else {
        return Ok(None);
    };
    let stored: Stored = serde_json::from_slice(bytes.expose()).map_err(|_| {
        Error::Keychain(format!(
            "airlock/{} does not hold AWS keys Airlock can read; store them again with \
             `airlock credentials set`",
            account(name)
        ))
    })?;
    Ok(Some(StaticKeys {
        access_key_id: stored.access_key_id,
        secret_access_key: Sensitive::new(stored.secret_access_key),
        session_token: stored.session_token.map(Sensitive::new),
    }))
}

/// Removes the keys stored under `name`; returns whether there were any.
pub fn delete(keychain: &dyn Keychain, name: &str) -> Result<bool> {
    keychain.delete(SERVICE, &account(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keychain::MemoryKeychain;

    #[test]
    fn sources_parse_and_print_back() {
        for s in ["chain", "profile:sso-dev", "keychain:prod"] {
            assert_eq!(CredentialSource::parse(Some(s)).unwrap().setting(), s);
        }
        assert_eq!(
            CredentialSource::parse(None).unwrap(),
            CredentialSource::Chain
        );
        for bad in ["", "profile:", "vault:x", "keychain:a b", "chain:x"] {
            assert!(
                CredentialSource::parse(Some(bad)).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn keys_round_trip_and_never_show_the_secret() {
        let kc = MemoryKeychain::default();
        let keys = StaticKeys::new("AKIAEXAMPLE1234", "s3cr3t/value+X".into(), None).unwrap();
        save(&kc, "team", &keys).unwrap();
        let back = load(&kc, "team").unwrap().unwrap();
        assert_eq!(back.secret_access_key.expose(), "s3cr3t/value+X");
        assert_eq!(back.masked_id(), "***********1234");
        assert!(!format!("{back:?}").contains("s3cr3t"));
        assert!(delete(&kc, "team").unwrap());
        assert!(load(&kc, "team").unwrap().is_none());
        assert!(StaticKeys::new("AK", "x".into(), None).is_err());
        assert!(StaticKeys::new("AKIAEXAMPLE", " ".into(), None).is_err());
    }
}

/// Where a workspace's AWS credentials come from, for a screen: never a secret, only whether
/// keys are stored and the masked access key id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct CredentialsStatus {
    /// The setting: `chain`, `profile:<name>` or `keychain:<name>`.
    pub source: String,
    pub description: String,
    /// For `keychain:<name>`: whether keys are stored there.
    pub stored: bool,
    pub masked_access_key_id: Option<String>,
    pub session_token: bool,
}

/// The status of `setting` (an `airlock.toml` `credentials` value); reads the keychain only
/// for a `keychain:` source.
pub fn status(keychain: &dyn Keychain, setting: Option<&str>) -> Result<CredentialsStatus> {
    let source = CredentialSource::parse(setting)?;
    let keys = match &source {
        CredentialSource::Keychain(name) => load(keychain, name)?,
        _ => None,
    };
    Ok(CredentialsStatus {
        source: source.setting(),
        description: source.describe(),
        stored: keys.is_some(),
        masked_access_key_id: keys.as_ref().map(StaticKeys::masked_id),
        session_token: keys.is_some_and(|k| k.session_token.is_some()),
    })
}
