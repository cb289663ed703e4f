//! A workspace: a folder holding `airlock.toml` and the registry database `airlock.db`, and
//! the services the engine needs — the home store (event log and approvals), each channel's
//! store, the signer (a keychain key or KMS), the AWS settings, the clock. The command line
//! and the desktop shell open one and call its operations (`ops`); tests open one with
//! in-memory services. Every change is broadcast as a [`Change`] event.

use crate::aws::credentials::CredentialSource;
use crate::aws::kms::KmsSigner;
use crate::clock::{Clock, SystemClock};
use crate::config::{self, Config, StoreSpec};
use crate::error::{Error, Result};
use crate::keychain::{Keychain, SecretServiceKeychain};
use crate::registry::Registry;
use crate::signer::{LocalSigner, Signer};
use crate::store::{self, ObjectClass, PutOutcome, Store};
use crate::trust::{self, Pin};
use airlock_protocol::keyset::SignedKeySet;
use aws_config::SdkConfig;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{OnceCell, broadcast};

/// Who does something and why, and what the caller knows of the command: its idempotency
/// key and what it expects to find.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribution {
    pub actor: String,
    pub reason: Option<String>,
    /// The command's id (the entry's `command`), given by a caller that may retry: a retry
    /// that finds an entry with this id in the log reports it instead of acting again.
    pub command: Option<String>,
    /// Preconditions on the rollout a command acts on; a mismatch is a conflict.
    pub expect: Expectation,
}

/// What a caller saw before acting (`--expect-rollout`, `--expect-percent`): an automatic
/// action must not apply to a rollout that has moved on since.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expectation {
    pub rollout_id: Option<String>,
    /// In basis points.
    pub basis_points: Option<u32>,
    /// The rollout must be running, not paused (the gate's actions: a person's pause after
    /// the verdict was read wins).
    pub running: bool,
    /// The channel's current release must be this one, with no rollout in progress (the
    /// gate's rollback of a bad current release acts only on the release it judged).
    pub current: Option<String>,
    /// The release named by `current` has never been in this channel (the gate's promotion
    /// of a channel's current release: a person who promoted it there meanwhile, even one
    /// who has reverted it since, wins).
    pub never_in: Option<String>,
    /// The release named by `current` has been current since this seq (the same stay the
    /// gate judged), with no incident about it opened since.
    pub stay_since: Option<u64>,
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
            command: None,
            expect: Expectation::default(),
        })
    }

    /// With an idempotency key: 1–64 of `[A-Za-z0-9._-]`.
    pub fn with_command(mut self, id: &str) -> Result<Self> {
        if id.is_empty()
            || id.len() > 64
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(Error::InvalidInput(format!(
                "--command-id {id:?} must be 1–64 letters, digits, '.', '_' or '-'"
            )));
        }
        self.command = Some(id.to_string());
        Ok(self)
    }

    pub fn expecting(mut self, expect: Expectation) -> Self {
        self.expect = expect;
        self
    }
}

/// Something that changed what the console shows, announced as it happens (the desktop
/// shell forwards these as `registry://changed`): an entry committed here or found in the
/// store (a teammate's action), a pointer published or failed, a registry rebuilt from the
/// store, a CDN invalidation finished.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Change {
    pub app: String,
    pub channel: Option<String>,
    pub seq: Option<u64>,
    pub kind: ChangeKind,
    /// Who did it (for entries).
    pub actor: Option<String>,
    /// When: the entry's time, else this desktop's clock (RFC 3339, UTC).
    #[cfg_attr(feature = "specta", specta(type = String))]
    pub at: airlock_protocol::time::Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum ChangeKind {
    /// A log entry: committed by this workspace (`found: false`) or read from the store.
    #[serde(rename_all = "camelCase")]
    Entry {
        event: crate::log::entry::EventKind,
        found: bool,
    },
    PointerPublished,
    PointerFailed {
        error: String,
    },
    /// The local registry disagreed with the store and was rebuilt from it.
    RegistryRebuilt,
    InvalidationFinished {
        status: String,
    },
}

impl Change {
    pub(crate) fn entry(e: &crate::log::LogEntry, found: bool) -> Self {
        Self {
            app: e.app.clone(),
            channel: e.event.channel().map(str::to_string),
            seq: Some(e.seq),
            kind: ChangeKind::Entry {
                event: e.event.kind_typed(),
                found,
            },
            actor: Some(e.actor.clone()),
            at: e.at,
        }
    }
}

/// What `init` did: the settings it saved and the key set it started or joined.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Initialized {
    pub config: Config,
    pub keys: crate::ops::keys::KeySetReport,
}

/// Services to use instead of the real ones (tests, or the desktop shell's own).
#[derive(Default)]
pub struct Services {
    /// The home store.
    pub store: Option<Arc<dyn Store>>,
    /// Other stores, by URL (a channel's store not given here is opened from its URL).
    pub stores: BTreeMap<String, Arc<dyn Store>>,
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
    /// The home store: event log and approvals.
    pub(crate) store: Arc<dyn Store>,
    /// Each channel's store (the home store unless the channel names another).
    pub(crate) channel_stores: BTreeMap<String, Arc<dyn Store>>,
    pub(crate) aws: Option<SdkConfig>,
    pub(crate) registry: Registry,
    pub(crate) clock: Arc<dyn Clock>,
    keychain: Option<Arc<dyn Keychain>>,
    /// The configured signer and co-signer, loaded once (not yet checked against the set).
    pub(crate) signers: OnceCell<Vec<Arc<dyn Signer>>>,
    /// The trusted key set, read from the store and checked against the pin once.
    pub(crate) key_set: std::sync::Mutex<Option<Arc<SignedKeySet>>>,
    changes: broadcast::Sender<Change>,
}

impl Workspace {
    /// Writes `airlock.toml` in `dir` after checking that the store works and honours
    /// create-only writes. Refuses to overwrite an existing configuration.
    /// `config` is usually [`Config::new`] with options set.
    /// `actor` is recorded as who started the key set, if this init starts it.
    pub async fn init(
        dir: &Path,
        config: Config,
        services: Services,
        actor: &str,
    ) -> Result<Initialized> {
        let path = dir.join(config::FILE_NAME);
        if path.exists() {
            return Err(Error::InvalidInput(format!(
                "{} already exists; edit it or remove it first",
                path.display()
            )));
        }
        SignerSpec::parse(&config.signer)?;
        config.validate()?;
        let aws = load_aws(&config, services.keychain.clone()).await?;
        let (home, channels) = open_stores(&config, aws.as_ref(), services.store, services.stores)?;
        check_all(&distinct(&home, &channels)).await?;
        let registry = match services.registry {
            Some(r) => r,
            None => Registry::in_memory().await?,
        };
        let mut ws = Self::assemble(
            dir,
            config,
            aws,
            home,
            channels,
            registry,
            services.clock,
            services.keychain,
        );
        let keys = ws.adopt_key_set(actor, true).await?;
        ws.config.save(dir)?;
        Ok(Initialized {
            config: ws.config,
            keys,
        })
    }

    /// Checks every store of this workspace (the console's connection test), and how far
    /// this desktop's clock is from each store's.
    pub async fn check_stores(&self) -> Result<Vec<StoreCheck>> {
        check_all(&self.all_stores()).await
    }

    pub async fn open(dir: &Path, services: Services) -> Result<Self> {
        let config = Config::load(dir)?;
        Self::with_config(dir, config, services).await
    }

    /// Opens the workspace in `dir` read-only whatever its airlock.toml says (a product
    /// lead's "open as viewer"): every change is refused in core, as with `role = "viewer"`.
    /// Nothing is written to airlock.toml.
    pub async fn open_as_viewer(dir: &Path, services: Services) -> Result<Self> {
        let mut config = Config::load(dir)?;
        config.role = crate::config::Role::Viewer;
        Self::with_config(dir, config, services).await
    }

    pub async fn with_config(dir: &Path, config: Config, services: Services) -> Result<Self> {
        config.validate()?;
        SignerSpec::parse(&config.signer)?;
        if let Some(co) = &config.co_signer {
            SignerSpec::parse(co)?;
        }
        let aws = load_aws(&config, services.keychain.clone()).await?;
        let (store, channel_stores) =
            open_stores(&config, aws.as_ref(), services.store, services.stores)?;
        let registry = match services.registry {
            Some(r) => r,
            None => Registry::open(&dir.join(config::DATABASE_NAME)).await?,
        };
        Ok(Self::assemble(
            dir,
            config,
            aws,
            store,
            channel_stores,
            registry,
            services.clock,
            services.keychain,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        dir: &Path,
        config: Config,
        aws: Option<SdkConfig>,
        store: Arc<dyn Store>,
        channel_stores: ChannelStores,
        registry: Registry,
        clock: Option<Arc<dyn Clock>>,
        keychain: Option<Arc<dyn Keychain>>,
    ) -> Self {
        Self {
            dir: dir.to_path_buf(),
            config,
            store,
            channel_stores,
            aws,
            registry,
            clock: clock.unwrap_or_else(|| Arc::new(SystemClock)),
            keychain,
            signers: OnceCell::new(),
            key_set: std::sync::Mutex::new(None),
            changes: broadcast::channel(256).0,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The workspace clock's time (the system clock outside tests).
    pub fn now(&self) -> airlock_protocol::time::Timestamp {
        self.clock.now()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The home store (event log and approvals).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The store holding `channel`'s pointer and releases.
    pub fn channel_store(&self, channel: &str) -> Result<&Arc<dyn Store>> {
        self.config.channel(channel)?;
        Ok(self
            .channel_stores
            .get(channel)
            .expect("every configured channel has a store"))
    }

    /// Every distinct store, the home store first.
    pub fn all_stores(&self) -> Vec<Arc<dyn Store>> {
        distinct(&self.store, &self.channel_stores)
    }

    /// The AWS settings, when any store, the signer or a CDN uses AWS.
    pub fn aws(&self) -> Option<&SdkConfig> {
        self.aws.as_ref()
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

    /// Whether this workspace is a viewer's (`role = "viewer"`): it reads, never writes.
    pub fn read_only(&self) -> bool {
        self.config.role == crate::config::Role::Viewer
    }

    /// Refuses a change when this workspace is a viewer's.
    pub(crate) fn may_change(&self, what: &str) -> Result<()> {
        if self.read_only() {
            return Err(Error::Refused(format!(
                "this workspace is read-only (role = \"viewer\", set in airlock.toml or chosen \
                 when it was opened), so it cannot {what}; ask a release manager, or change the \
                 role if you are one"
            )));
        }
        Ok(())
    }

    /// The primary signer, checked to be one of the trusted keys.
    pub async fn signer(&self) -> Result<Arc<dyn Signer>> {
        Ok(self.signers().await?.remove(0))
    }

    /// Every key that signs for this workspace now: the signer, then (during a rotation) the
    /// co-signer while it is still trusted. A signer outside the trusted set is refused before
    /// anything is written.
    pub async fn signers(&self) -> Result<Vec<Arc<dyn Signer>>> {
        let loaded = self.loaded_signers().await?;
        let set = self.key_set().await?;
        let mut out = Vec::new();
        for (i, s) in loaded.iter().enumerate() {
            if set.set.active().any(|k| k.keyid == s.public_key().keyid()) {
                out.push(s.clone());
            } else if i == 0 {
                return Err(Error::Signer(format!(
                    "{} is not one of this workspace's trusted keys ({}); devices would refuse \
                     what it signs, so nothing was written. Sign with a trusted key: set \
                     `signer` in airlock.toml to the team's KMS key, or on the desktop that \
                     holds the local key run `airlock keys export --private` and here `airlock \
                     keys import`; or have a key holder run `airlock keys rotate --to ...`",
                    s.describe(),
                    describe_keys(&set)
                )));
            }
        }
        Ok(out)
    }

    /// The configured signers as loaded, before any trust check.
    pub(crate) async fn loaded_signers(&self) -> Result<Vec<Arc<dyn Signer>>> {
        let signers = self
            .signers
            .get_or_try_init(|| async {
                let mut out = vec![self.open_signer(&self.config.signer, false).await?];
                if let Some(co) = &self.config.co_signer {
                    out.push(self.open_signer(co, false).await?);
                }
                Ok::<_, Error>(out)
            })
            .await?;
        Ok(signers.clone())
    }

    /// Opens the signer `spec`. A local key is created only when `create` is set (`init`,
    /// `keys create`); otherwise a keychain without it is an error that says what to do.
    pub(crate) async fn open_signer(&self, spec: &str, create: bool) -> Result<Arc<dyn Signer>> {
        let name = match SignerSpec::parse(spec)? {
            SignerSpec::Local(name) => name,
            SignerSpec::Kms(key) => {
                let aws = self.aws.as_ref().expect("loaded for a KMS signer");
                let signer = KmsSigner::connect(aws, &key).await?;
                return Ok(Arc::new(signer) as Arc<dyn Signer>);
            }
        };
        let given = self.keychain.clone();
        let signer = tokio::task::spawn_blocking(move || {
            // Reaching the OS keychain may wait on D-Bus (or on the user unlocking it).
            let keychain: Arc<dyn Keychain> = match given {
                Some(k) => k,
                None => Arc::new(SecretServiceKeychain::connect()?),
            };
            if create {
                return LocalSigner::load_or_create(keychain.as_ref(), &name);
            }
            LocalSigner::load(keychain.as_ref(), &name)?.ok_or_else(|| {
                Error::Signer(format!(
                    "this desktop's keychain has no local signing key {name:?}, and Airlock \
                     never makes one silently (devices would not trust it). Use the team's KMS \
                     key (`signer = \"kms:...\"` in airlock.toml), or on the desktop that holds \
                     the key run `airlock keys export --private` and here `airlock keys import`; \
                     nothing was written"
                ))
            })
        })
        .await
        .map_err(|e| Error::Signer(format!("signer set-up failed: {e}")))??;
        Ok(Arc::new(signer) as Arc<dyn Signer>)
    }

    /// The keychain in use (the OS one unless a test gave one).
    pub(crate) fn keychain(&self) -> Result<Arc<dyn Keychain>> {
        match &self.keychain {
            Some(k) => Ok(k.clone()),
            None => Ok(Arc::new(SecretServiceKeychain::connect()?)),
        }
    }

    /// The trusted key set (read and checked once, then cached).
    pub async fn key_set(&self) -> Result<Arc<SignedKeySet>> {
        let cached = self.key_set.lock().expect("not poisoned").clone();
        match cached {
            Some(k) => Ok(k),
            None => self.refresh_key_set().await,
        }
    }

    /// Reads the key set from the store again and checks it against the pin.
    pub async fn refresh_key_set(&self) -> Result<Arc<SignedKeySet>> {
        let pin = self.config.key_pin.as_deref().ok_or_else(|| {
            Error::Config(
                "this workspace has pinned no trusted key set (airlock.toml has no `key-pin`); \
                 run `airlock keys join` to pin the store's key set (or start one with this \
                 desktop's signer)"
                    .into(),
            )
        })?;
        let pin = Pin::parse(pin)?;
        let versions = trust::read_versions(self.store.as_ref()).await?;
        let set = Arc::new(trust::newest_from_pin(&versions, &pin)?);
        self.check_seen_key_set(&versions, &set).await?;
        *self.key_set.lock().expect("not poisoned") = Some(set.clone());
        Ok(set)
    }
}

/// The active keys of a set, for messages: `keyid (source)`.
pub(crate) fn describe_keys(set: &SignedKeySet) -> String {
    set.set
        .active()
        .map(|k| format!("{} ({})", k.keyid, k.source))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A signer setting: `local`, `local:<name>` or `kms:<key id, ARN or alias>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignerSpec {
    Local(String),
    Kms(String),
}

impl SignerSpec {
    pub fn parse(signer: &str) -> Result<Self> {
        match signer.split_once(':') {
            None if signer == "local" => Ok(Self::Local("default".into())),
            Some(("local", name))
                if !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
            {
                Ok(Self::Local(name.into()))
            }
            Some(("kms", key))
                if !key.is_empty()
                    && key.len() <= 2048
                    && !key.chars().any(|c| c.is_whitespace() || c.is_control()) =>
            {
                Ok(Self::Kms(key.into()))
            }
            _ => Err(Error::Config(format!(
                "signer {signer:?} is not understood; use \"local\", \"local:<name>\" or \
                 \"kms:<key id, ARN or alias>\""
            ))),
        }
    }
}

/// Loads the AWS settings if anything in `config` uses AWS; otherwise never touches them
/// (nor the keychain).
async fn load_aws(
    config: &Config,
    keychain: Option<Arc<dyn Keychain>>,
) -> Result<Option<SdkConfig>> {
    let mut specs = vec![config.home_store()?];
    for c in config.channels.keys() {
        specs.push(config.channel_store(c)?);
    }
    // Where the CDN writes its access logs (`airlock kpi ingest` reads them).
    if let Some(logs) = config.kpi.as_ref().and_then(|k| k.cdn_logs.as_ref()) {
        specs.push(config.resolve_store(&logs.store)?);
    }
    let uses_aws = specs.iter().any(store::needs_aws)
        || matches!(SignerSpec::parse(&config.signer)?, SignerSpec::Kms(_))
        || config
            .co_signer
            .as_deref()
            .map(SignerSpec::parse)
            .transpose()?
            .is_some_and(|s| matches!(s, SignerSpec::Kms(_)))
        || config.channels.values().any(|c| c.cdn.is_some());
    if !uses_aws {
        return Ok(None);
    }
    let source = CredentialSource::parse(config.credentials.as_deref())?;
    let sdk = crate::aws::load_sdk_config(
        &source,
        config.aws_endpoint.as_deref(),
        config.aws_region.as_deref(),
        keychain,
    )
    .await?;
    Ok(Some(sdk))
}

type ChannelStores = BTreeMap<String, Arc<dyn Store>>;

/// Opens the home store and each channel's, each distinct store once (by
/// [`store::store_id`]). `given` stores (tests, or the desktop shell's own) replace the
/// store at their URL; `home`, if given, replaces the home store.
fn open_stores(
    config: &Config,
    aws: Option<&SdkConfig>,
    home: Option<Arc<dyn Store>>,
    mut given: BTreeMap<String, Arc<dyn Store>>,
) -> Result<(Arc<dyn Store>, ChannelStores)> {
    let home_spec = config.home_store()?;
    if let Some(h) = home {
        given.insert(home_spec.url.clone(), h);
    }
    let mut opened: BTreeMap<String, Arc<dyn Store>> = BTreeMap::new();
    let mut open = |spec: &StoreSpec| -> Result<Arc<dyn Store>> {
        if let Some(s) = given.get(&spec.url) {
            return Ok(s.clone());
        }
        let id = store::store_id(spec, aws);
        if let Some(s) = opened.get(&id) {
            return Ok(s.clone());
        }
        let s = store::open(spec, aws)?;
        opened.insert(id, s.clone());
        Ok(s)
    };
    let home = open(&home_spec)?;
    let mut channels = BTreeMap::new();
    for name in config.channels.keys() {
        channels.insert(name.clone(), open(&config.channel_store(name)?)?);
    }
    Ok((home, channels))
}

/// The distinct stores among the home store and the channels', the home store first.
fn distinct(home: &Arc<dyn Store>, channels: &ChannelStores) -> Vec<Arc<dyn Store>> {
    let mut out = vec![home.clone()];
    for s in channels.values() {
        if !out.iter().any(|o| o.id() == s.id()) {
            out.push(s.clone());
        }
    }
    out
}

/// What the connection test found about one store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct StoreCheck {
    pub store: String,
    /// This desktop's clock minus the store's (from the probe object's last-modified time),
    /// when the store reports one.
    pub clock_skew_seconds: Option<i64>,
    /// Set when the clocks differ by more than [`MAX_CLOCK_SKEW_SECONDS`]: entries and
    /// pointer expiry are stamped with this desktop's clock.
    pub warning: Option<String>,
}

/// How far this desktop's clock may be from a store's before the check warns.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 60;

/// Probes each store with [`check_create_only`].
async fn check_all(stores: &[Arc<dyn Store>]) -> Result<Vec<StoreCheck>> {
    let mut out = Vec::new();
    for s in stores {
        out.push(check_create_only(s.as_ref()).await?);
    }
    Ok(out)
}

/// Refuses a store that does not honour create-only writes or compare-and-swap (some
/// S3-compatible services ignore `If-None-Match` or `If-Match`), since the event log's and
/// the pointers' safety depend on them. Writes and rewrites a probe object under
/// `airlock-probe/`, then deletes it (a store that forbids deleting keeps it; harmless).
/// Also compares this desktop's clock with the store's, from the probe's last-modified time.
pub async fn check_create_only(store: &dyn Store) -> Result<StoreCheck> {
    let nonce = airlock_protocol::digest::sha256_hex(
        format!("{:?}{:?}", std::time::SystemTime::now(), std::process::id()).as_bytes(),
    );
    let key = format!("airlock-probe/{nonce}");
    let refuse = |what: &str| {
        Error::Config(format!(
            "store {} does not honour {what} (probed with {key}); Airlock's event log and \
             pointers would not be safe there",
            store.url()
        ))
    };
    let first = store.put_new(&key, b"1", ObjectClass::Log).await?;
    let written = store.modified(&key).await?;
    let here = SystemClock.now();
    let skew = written.map(|t| here.unix() - t.unix());
    let second = store.put_new(&key, b"2", ObjectClass::Log).await?;
    let kept = store
        .get(&key, airlock_protocol::limits::Cap::LOG_ENTRY)
        .await?;
    if first != PutOutcome::Created
        || second != PutOutcome::AlreadyExists
        || kept.as_ref().map(|o| o.bytes.as_slice()) != Some(b"1")
    {
        let _ = store.delete(&key).await;
        return Err(refuse(
            "create-only writes (a second write was not refused)",
        ));
    }
    let stale = kept.map(|o| o.etag).unwrap_or_default();
    store
        .replace(&key, b"3", Some(&stale), ObjectClass::Log)
        .await?;
    let lost = store
        .replace(&key, b"4", Some(&stale), ObjectClass::Log)
        .await;
    let now = store
        .get(&key, airlock_protocol::limits::Cap::LOG_ENTRY)
        .await?
        .map(|o| o.bytes);
    let _ = store.delete(&key).await;
    match lost {
        Err(e) if e.kind() == crate::error::ErrorKind::Conflict && now.as_deref() == Some(b"3") => {
            Ok(StoreCheck {
                store: store.id().to_string(),
                clock_skew_seconds: skew,
                warning: skew.filter(|s| s.abs() > MAX_CLOCK_SKEW_SECONDS).map(|s| {
                    format!(
                        "this desktop's clock is {} s {} {}'s; log times and pointer expiry \
                         use this clock: set it right (NTP)",
                        s.abs(),
                        if s > 0 { "ahead of" } else { "behind" },
                        store.url()
                    )
                }),
            })
        }
        Err(e) => Err(e),
        Ok(()) => Err(refuse(
            "compare-and-swap writes (a write with a stale etag was not refused)",
        )),
    }
}
