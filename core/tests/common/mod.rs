//! Shared set-up for the integration tests: one store folder, an in-memory keychain and a
//! manual clock that any number of "consoles" (workspaces with their own registries) share,
//! small bundles written to temporary folders, read-only views of the store (its files, the
//! folded log, the stored pointers), and a simulated fleet of devices that runs the
//! protocol's reference check against the store exactly as a phone would.
//!
//! Invariant: nothing here writes to the store except through a [`Workspace`], so whatever a
//! test observes in the store was put there by the engine under test.

#![allow(dead_code)]

use airlock_core::clock::ManualClock;
use airlock_core::config::Config;
use airlock_core::keychain::MemoryKeychain;
use airlock_core::log::reader;
use airlock_core::ops::device::StoreSource;
use airlock_core::ops::pointer::read_unverified;
use airlock_core::ops::release::{ReleaseOutcome, ReleaseRequest};
use airlock_core::ops::rollout::PromoteRequest;
use airlock_core::progress::Silent;
use airlock_core::registry::{Registry, StatusRow};
use airlock_core::state::AppState;
use airlock_core::store::Store;
use airlock_core::store::local::LocalStore;
use airlock_core::{Attribution, Error, ErrorKind, Result, Services, Workspace};
use airlock_protocol::device::{AcceptedPointer, DeviceRequest, Outcome, Via, verify_update};
use airlock_protocol::keys::PublicKey;
use airlock_protocol::layout;
use airlock_protocol::pointer::ChannelPointer;
use airlock_protocol::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tempfile::TempDir;

pub const APP: &str = "shop";
pub const STAGING: &str = "Staging";
pub const PRODUCTION: &str = "Production";
/// The manual clock's starting point (2027-01-15).
pub const START: i64 = 1_800_000_000;

/// One store, one signing key and one clock, shared by every console a test opens.
pub struct Env {
    pub store_dir: TempDir,
    pub work: TempDir,
    pub keychain: Arc<MemoryKeychain>,
    pub clock: Arc<ManualClock>,
    pub config: Config,
}

impl Env {
    pub fn new() -> Self {
        Self::build(Arc::new(MemoryKeychain::default()), |_| {})
    }

    /// A fresh store that signs with the same key as `other` (saves generating an RSA key).
    pub fn sharing_key(other: &Env) -> Self {
        Self::build(other.keychain.clone(), |_| {})
    }

    pub fn with_config(edit: impl FnOnce(&mut Config)) -> Self {
        Self::build(Arc::new(MemoryKeychain::default()), edit)
    }

    pub fn build(keychain: Arc<MemoryKeychain>, edit: impl FnOnce(&mut Config)) -> Self {
        let store_dir = tempfile::tempdir().expect("a temporary store folder");
        let work = tempfile::tempdir().expect("a temporary workspace folder");
        let mut config = Config::new(&format!("file://{}", store_dir.path().display()), "local");
        edit(&mut config);
        let clock = Arc::new(ManualClock::new(
            Timestamp::from_unix(START).expect("valid time"),
        ));
        Self {
            store_dir,
            work,
            keychain,
            clock,
            config,
        }
    }

    pub fn now(&self) -> Timestamp {
        use airlock_core::clock::Clock;
        self.clock.now()
    }

    /// The real store, opened on its own (as a device's CDN would read it).
    pub fn store(&self) -> Arc<dyn Store> {
        let path = self
            .store_dir
            .path()
            .to_str()
            .expect("temporary paths are UTF-8");
        Arc::new(LocalStore::open(path).expect("the store folder opens"))
    }

    /// A console with its own in-memory registry on the shared store.
    pub async fn console(&self) -> Workspace {
        self.console_with(None, None).await
    }

    /// A console using `store` instead of the real one and/or a given registry.
    pub async fn console_with(
        &self,
        store: Option<Arc<dyn Store>>,
        registry: Option<Registry>,
    ) -> Workspace {
        let wrapped = store.is_some();
        let registry = match registry {
            Some(r) => r,
            None => Registry::in_memory()
                .await
                .expect("an in-memory registry opens"),
        };
        let services = Services {
            store,
            keychain: Some(self.keychain.clone()),
            clock: Some(self.clock.clone()),
            registry: Some(registry),
            ..Services::default()
        };
        if wrapped {
            // The key set is started through the real store, so a wrapped store (faults,
            // rendezvous) sees only the writes of the operations under test.
            Box::pin(self.console_with(None, None)).await;
        }
        let mut ws = Workspace::with_config(self.work.path(), self.config.clone(), services)
            .await
            .expect("the workspace opens with in-memory services");
        // As `airlock init` does: start the store's key set with this keychain's key, or
        // join the one another console started.
        ws.adopt_key_set("test", true)
            .await
            .expect("the console starts or joins the store's key set");
        ws
    }

    /// Every file under the store folder (objects, lock files, anything), as relative paths,
    /// but for the trusted-key document that opening a console writes (as `airlock init`
    /// does) before any command runs.
    pub fn store_files(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        walk(self.store_dir.path(), self.store_dir.path(), &mut out);
        out.retain(|f| !f.starts_with("keys/"));
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("a readable folder entry").path();
        if path.is_dir() {
            walk(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).expect("under the root");
            out.insert(rel.to_string_lossy().into_owned());
        }
    }
}

pub fn by(actor: &str) -> Attribution {
    Attribution::new(actor, None).expect("a valid actor name")
}

/// Writes `files` (relative path, content) into a new temporary folder.
pub fn bundle(files: &[(&str, &[u8])]) -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary bundle folder");
    for (path, bytes) in files {
        let target = dir.path().join(path);
        std::fs::create_dir_all(target.parent().expect("files have a parent"))
            .expect("bundle sub-folders can be created");
        std::fs::write(&target, bytes).expect("bundle files can be written");
    }
    dir
}

/// A small app bundle whose content depends on `version`, plus one asset every version shares.
pub fn app_bundle(version: &str) -> TempDir {
    let js = format!("console.log('shop {version}');\n");
    let html = format!("<html><body data-version=\"{version}\"></body></html>\n");
    bundle(&[
        ("index.html", html.as_bytes()),
        ("main.js", js.as_bytes()),
        (
            "assets/logo.svg",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n",
        ),
    ])
}

pub fn release_request(app: &str, version: &str, bundle: &Path) -> ReleaseRequest {
    ReleaseRequest {
        app: app.into(),
        bundle: bundle.to_path_buf(),
        version: version.into(),
        channel: None,
        min_native_version: None,
        description: None,
    }
}

/// Releases [`app_bundle`]`(version)` of `app` into the default channel (Staging).
pub async fn release(
    ws: &Workspace,
    actor: &str,
    app: &str,
    version: &str,
) -> Result<ReleaseOutcome> {
    let dir = app_bundle(version);
    ws.release(
        &by(actor),
        &release_request(app, version, dir.path()),
        &Silent,
    )
    .await
}

/// Releases the bundle at `path` under `version`.
pub async fn release_path(ws: &Workspace, version: &str, path: &Path) -> Result<ReleaseOutcome> {
    ws.release(&by("ana"), &release_request(APP, version, path), &Silent)
        .await
}

pub fn promotion(version: &str, percent: Option<f64>) -> PromoteRequest {
    PromoteRequest {
        app: APP.into(),
        from: STAGING.into(),
        to: PRODUCTION.into(),
        percent,
        version: Some(version.into()),
    }
}

/// `[kpi.channels.Staging] promote-to = "Production"`: Staging's gate promotes a release
/// shown safe there.
pub fn staging_promotes_to_production(kpi: &mut airlock_core::kpi::policy::KpiSettings) {
    kpi.channels.insert(
        STAGING.into(),
        airlock_core::kpi::policy::ChannelKpis {
            promote_to: Some(PRODUCTION.into()),
            ..Default::default()
        },
    );
}

/// Releases `version` (by ana), has ben approve it and promotes it to 100 % of Production.
pub async fn ship(ws: &Workspace, version: &str) {
    release(ws, "ana", APP, version)
        .await
        .expect("the release passes the gates");
    ws.approve(&by("ben"), APP, version, PRODUCTION)
        .await
        .expect("ben may approve ana's release");
    ws.promote(&by("ana"), &promotion(version, Some(100.0)))
        .await
        .expect("an approved release may be promoted");
}

/// Production at 1.0.0; 1.1.0 released into Staging and approved by ben.
pub async fn with_approved_candidate(ws: &Workspace) {
    ship(ws, "1.0.0").await;
    release(ws, "ana", APP, "1.1.0")
        .await
        .expect("1.1.0 passes the gates");
    ws.approve(&by("ben"), APP, "1.1.0", PRODUCTION)
        .await
        .expect("ben approves 1.1.0");
}

/// 1.0.0 current in Production, 1.1.0 approved and rolling out there at 5 %.
pub async fn rolling_out_at_5_percent(ws: &Workspace) {
    with_approved_candidate(ws).await;
    ws.promote(&by("ana"), &promotion("1.1.0", None))
        .await
        .expect("a rollout at 5 %");
}

/// The error's kind, or a panic that says what succeeded although it should not have.
pub fn kind_of<T: std::fmt::Debug>(what: &str, result: Result<T>) -> (ErrorKind, Error) {
    match result {
        Ok(v) => panic!("{what} must be refused, but it succeeded: {v:?}"),
        Err(e) => (e.kind(), e),
    }
}

/// The stored pointer of `channel`, read without checking its signature.
pub async fn stored_pointer(store: &dyn Store, app: &str, channel: &str) -> Option<ChannelPointer> {
    let obj = store
        .get(
            &layout::pointer_key(app, channel),
            airlock_protocol::limits::Cap::POINTER,
        )
        .await
        .expect("the store reads")?;
    Some(read_unverified(&obj.bytes).expect("a stored pointer parses"))
}

/// The app's state folded from the store's log alone (no registry, no writes), with the
/// default channels' protection.
pub async fn state_in_store(store: &dyn Store, app: &str) -> AppState {
    let versions = airlock_core::trust::read_versions(store)
        .await
        .expect("the key set reads");
    let keys = airlock_core::trust::newest_unpinned(&versions)
        .expect("the key set chains")
        .expect("the store has a key set");
    let entries = reader::read_after(store, app, None, &keys.set)
        .await
        .expect("the log chain reads")
        .entries;
    let protected = |c: &str| c == PRODUCTION;
    let policy = airlock_core::rules::Policy {
        protected: &protected,
    };
    AppState::fold(app, &entries, &policy).expect("the log folds")
}

/// Checks that `channel`'s pointer is exactly as new as the log says it should be.
pub async fn assert_pointer_current(store: &dyn Store, app: &str, channel: &str, when: &str) {
    let state = state_in_store(store, app).await;
    let served = state.channel(channel).served.map(|h| h.seq);
    let pointer = stored_pointer(store, app, channel).await.map(|p| p.seq);
    assert_eq!(
        pointer, served,
        "{when}: the {channel} pointer must carry the seq of the last log entry that changed \
         {channel}, or devices see a stale channel"
    );
}

/// Status rows of `app` sorted for comparison.
pub fn sorted_rows(mut rows: Vec<StatusRow>) -> Vec<StatusRow> {
    rows.sort_by(|a, b| (&a.channel, &a.version).cmp(&(&b.channel, &b.version)));
    rows
}

/// The status label of `version` in `channel`.
pub async fn status_label(ws: &Workspace, version: &str, channel: &str) -> Option<String> {
    let status = ws.status(APP).await.expect("status reads");
    status
        .releases
        .into_iter()
        .find(|r| r.version == version && r.channel == channel)
        .map(|r| r.status)
}

/// One simulated device: what it accepted last and what it runs now.
#[derive(Clone, Debug)]
pub struct Device {
    pub install_id: String,
    pub last_accepted: Option<AcceptedPointer>,
    /// `None`: the bundle built into the app.
    pub running: Option<String>,
    /// Where its last `Run` came from (`None` when the last check did not say run).
    pub via: Option<Via>,
}

pub fn fleet(n: usize) -> Vec<Device> {
    (0..n)
        .map(|i| Device {
            install_id: format!("device-{i}"),
            last_accepted: None,
            running: None,
            via: None,
        })
        .collect()
}

/// What a fleet check found.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Devices per version they run after the check (built-in bundles not counted).
    pub running: BTreeMap<String, usize>,
    pub built_in: usize,
    /// Devices told to run the rollout's release.
    pub via_rollout: usize,
    /// Devices the channel's holdout keeps on the previous release.
    pub via_holdout: usize,
    /// Refusal code → how many devices, and one message per code.
    pub refusals: BTreeMap<String, (usize, String)>,
}

impl Tally {
    pub fn running(&self, version: &str) -> usize {
        self.running.get(version).copied().unwrap_or(0)
    }

    pub fn assert_no_refusals(&self, when: &str) {
        assert!(
            self.refusals.is_empty(),
            "{when}: every device must accept what the store serves, but some refused: {:#?}",
            self.refusals
        );
    }
}

/// Runs the reference device check for every device against `store`, as devices following
/// `channel` of `app` that trust `key`, at `now`; updates each device's accepted pointer and
/// running version the way a device persists them.
pub async fn check_fleet(
    store: Arc<dyn Store>,
    channel: &str,
    key: &PublicKey,
    now: Timestamp,
    devices: &mut Vec<Device>,
) -> Tally {
    let source = StoreSource::new(store);
    let keys = vec![key.clone()];
    let channel = channel.to_string();
    let mut owned = std::mem::take(devices);
    let (owned, tally) = tokio::task::spawn_blocking(move || {
        let half = owned.len().div_ceil(2);
        let (left, right) = owned.split_at_mut(half);
        let (source, channel, keys) = (&source, channel.as_str(), keys.as_slice());
        let tallies = std::thread::scope(|s| {
            let other = s.spawn(move || check_devices(source, channel, keys, now, right));
            let mine = check_devices(source, channel, keys, now, left);
            let theirs = other
                .join()
                .expect("the device-check thread does not panic");
            [mine, theirs]
        });
        let mut tally = Tally::default();
        for t in tallies {
            for (v, n) in t.running {
                *tally.running.entry(v).or_default() += n;
            }
            tally.built_in += t.built_in;
            tally.via_rollout += t.via_rollout;
            tally.via_holdout += t.via_holdout;
            for (code, (n, msg)) in t.refusals {
                tally.refusals.entry(code).or_insert((0, msg)).0 += n;
            }
        }
        (owned, tally)
    })
    .await
    .expect("the device check runs");
    *devices = owned;
    tally
}

fn check_devices(
    source: &StoreSource,
    channel: &str,
    keys: &[PublicKey],
    now: Timestamp,
    devices: &mut [Device],
) -> Tally {
    let mut tally = Tally::default();
    for d in devices {
        let req = DeviceRequest {
            app: APP,
            channel,
            install_id: &d.install_id,
            native_version: None,
            trusted_keys: keys,
            last_accepted: d.last_accepted.as_ref(),
            now,
        };
        let decision = verify_update(&req, source);
        d.running = decision.version_to_run(d.running.as_deref());
        if let Some(accepted) = decision.accepted_pointer.clone() {
            d.last_accepted = Some(accepted);
        }
        d.via = None;
        match &decision.outcome {
            Outcome::Run { via, .. } => {
                d.via = Some(*via);
                if *via == Via::Rollout {
                    tally.via_rollout += 1;
                }
                if *via == Via::Holdout {
                    tally.via_holdout += 1;
                }
            }
            Outcome::KeepBuiltIn => {}
            Outcome::Refused { reason } => {
                let entry = tally.refusals.entry(reason.code().to_string());
                entry.or_insert((0, reason.to_string())).0 += 1;
            }
        }
        match &d.running {
            Some(v) => *tally.running.entry(v.clone()).or_default() += 1,
            None => tally.built_in += 1,
        }
    }
    tally
}

/// The path of a file inside a temporary folder.
pub fn path_in(dir: &TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

/// What another console does while a watcher reads its numbers.
pub type Act<'a> = Box<
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>
        + Send
        + Sync
        + 'a,
>;

/// A KPI source that, the first time a watcher reads its numbers, has another console act
/// (a person's pause, a release shipped): the verdict the watcher then holds is stale.
pub struct Meanwhile<'a> {
    inner: airlock_core::kpi::source::MemorySource,
    act: Act<'a>,
    done: std::sync::atomic::AtomicBool,
}

impl<'a> Meanwhile<'a> {
    pub fn new(inner: airlock_core::kpi::source::MemorySource, act: Act<'a>) -> Self {
        Self {
            inner,
            act,
            done: false.into(),
        }
    }
}

impl std::fmt::Debug for Meanwhile<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meanwhile").finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl airlock_core::kpi::source::KpiSource for Meanwhile<'_> {
    async fn counts(
        &self,
        what: airlock_core::kpi::source::Counter,
        scope: &airlock_core::kpi::source::Scope,
        window: &airlock_core::kpi::source::Window,
    ) -> Result<airlock_core::kpi::source::Counts> {
        if !self.done.swap(true, std::sync::atomic::Ordering::SeqCst) {
            (self.act)().await;
        }
        self.inner.counts(what, scope, window).await
    }
    async fn histograms(
        &self,
        what: airlock_core::kpi::source::Latency,
        scope: &airlock_core::kpi::source::Scope,
        window: &airlock_core::kpi::source::Window,
    ) -> Result<airlock_core::kpi::source::Histograms> {
        self.inner.histograms(what, scope, window).await
    }
    async fn active_devices(
        &self,
        scope: &airlock_core::kpi::source::Scope,
        at: Timestamp,
    ) -> Result<BTreeMap<String, f64>> {
        self.inner.active_devices(scope, at).await
    }
}
