//! A workspace: a folder holding `airlock.toml` and the registry database `airlock.db`, and
//! the services the engine needs — the store, the keychain-backed signer, the clock. The
//! command line and the desktop shell open one and call its operations (`ops`); tests open
//! one with in-memory services. Every change is broadcast as a [`Change`] event.

use crate::clock::{Clock, SystemClock};
use crate::config::{self, Config};
use crate::error::{Error, Result};
use crate::keychain::{Keychain, SecretServiceKeychain};
use crate::registry::Registry;
use crate::signer::{LocalSigner, Signer};
use crate::store::{self, ObjectClass, PutOutcome, Store};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{OnceCell, broadcast};

/// Who does something, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribution {
    pub actor: String,
    pub reason: Option<String>,
}

impl Attribution {
    pub fn new(actor: &str, reason: Option<&str>) -> Result<Self> {
        let actor = actor.trim();
        if actor.is_empty() || actor.len() > 128 || actor.chars().any(char::is_control) {
            return Err(Error::InvalidInput(
                "the actor must be a name of 1–128 printable characters (set --actor, \
                 AIRLOCK_ACTOR or `actor` in airlock.toml)"
                    .into(),
            ));
        }
        Ok(Self {
            actor: actor.to_string(),
            reason: reason.map(str::to_string),
        })
    }
}

/// A change to an app's registry, announced after it is committed (`registry://changed`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub app: String,
    pub seq: u64,
    pub kind: String,
}

/// Services to use instead of the real ones (tests, or the desktop shell's own).
#[derive(Default)]
pub struct Services {
    pub store: Option<Arc<dyn Store>>,
    pub keychain: Option<Arc<dyn Keychain>>,
    pub clock: Option<Arc<dyn Clock>>,
    pub registry: Option<Registry>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub struct Workspace {
    pub(crate) dir: PathBuf,
    pub(crate) config: Config,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) registry: Registry,
    pub(crate) clock: Arc<dyn Clock>,
    keychain: Option<Arc<dyn Keychain>>,
    signer: OnceCell<Arc<dyn Signer>>,
    changes: broadcast::Sender<Change>,
}

impl Workspace {
    /// Writes `airlock.toml` in `dir` after checking that the store works and honours
    /// create-only writes. Refuses to overwrite an existing configuration.
    pub async fn init(dir: &Path, store_url: &str, signer: &str) -> Result<Config> {
        let path = dir.join(config::FILE_NAME);
        if path.exists() {
            return Err(Error::InvalidInput(format!(
                "{} already exists; edit it or remove it first",
                path.display()
            )));
        }
        parse_signer(signer)?;
        let config = Config::new(store_url, signer);
        config.validate()?;
        check_create_only(store::open(store_url)?.as_ref()).await?;
        config.save(dir)?;
        Ok(config)
    }

    pub async fn open(dir: &Path, services: Services) -> Result<Self> {
        let config = Config::load(dir)?;
        Self::with_config(dir, config, services).await
    }

    pub async fn with_config(dir: &Path, config: Config, services: Services) -> Result<Self> {
        config.validate()?;
        parse_signer(&config.signer)?;
        let store = match services.store {
            Some(s) => s,
            None => store::open(&config.store)?,
        };
        let registry = match services.registry {
            Some(r) => r,
            None => Registry::open(&dir.join(config::DATABASE_NAME)).await?,
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            config,
            store,
            registry,
            clock: services.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            keychain: services.keychain,
            signer: OnceCell::new(),
            changes: broadcast::channel(256).0,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    pub(crate) fn announce(&self, change: Change) {
        // No listener is fine: the change is already committed to the log.
        let _ = self.changes.send(change);
    }

    /// The workspace's signer, loading (or on first use creating) the key in the keychain.
    pub async fn signer(&self) -> Result<Arc<dyn Signer>> {
        let signer = self
            .signer
            .get_or_try_init(|| async {
                let name = parse_signer(&self.config.signer)?;
                let keychain = self.keychain.clone();
                let signer = tokio::task::spawn_blocking(move || {
                    let keychain: Arc<dyn Keychain> = match keychain {
                        Some(k) => k,
                        None => Arc::new(SecretServiceKeychain::connect()?),
                    };
                    LocalSigner::load_or_create(keychain.as_ref(), &name)
                })
                .await
                .map_err(|e| Error::Signer(format!("signer set-up failed: {e}")))??;
                Ok::<_, Error>(Arc::new(signer) as Arc<dyn Signer>)
            })
            .await?;
        Ok(signer.clone())
    }
}

/// The local key's name from a signer setting (`local` or `local:<name>`).
fn parse_signer(signer: &str) -> Result<String> {
    match signer.split_once(':') {
        None if signer == "local" => Ok("default".into()),
        Some(("local", name))
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
        {
            Ok(name.into())
        }
        Some(("kms", _)) => Err(Error::Config(
            "KMS signing is not supported by this build yet; use signer = \"local\"".into(),
        )),
        _ => Err(Error::Config(format!(
            "signer {signer:?} is not understood; use \"local\" or \"local:<name>\""
        ))),
    }
}

/// Refuses a store that does not honour create-only writes (some S3-compatible services
/// ignore `If-None-Match`), since the event log's safety depends on it.
pub async fn check_create_only(store: &dyn Store) -> Result<()> {
    let nonce = airlock_protocol::digest::sha256_hex(
        format!("{:?}{:?}", std::time::SystemTime::now(), std::process::id()).as_bytes(),
    );
    let key = format!("airlock-probe/{nonce}");
    let first = store.put_new(&key, b"1", ObjectClass::Log).await?;
    let second = store.put_new(&key, b"2", ObjectClass::Log).await?;
    let kept = store.get(&key).await?.map(|o| o.bytes);
    store.delete(&key).await?;
    if first != PutOutcome::Created
        || second != PutOutcome::AlreadyExists
        || kept.as_deref() != Some(b"1")
    {
        return Err(Error::Config(format!(
            "store {} does not honour create-only writes (a second write to {key} was not \
             refused); Airlock's event log would not be safe there",
            store.url()
        )));
    }
    Ok(())
}
