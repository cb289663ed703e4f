//! The console's state, set up once: the open workspace (swapped whole when another is
//! opened or the settings change), how workspaces are opened (the OS keychain, or a test's),
//! the last-used workspace file, and the cancel signals of publishes in flight.

use crate::error::{CommandError, CommandResult};
use airlock_core::cancel::Cancel;
use airlock_core::{ErrorKind, Services, Workspace};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::RwLock;

/// How this console makes the services of a workspace (the keychain is the OS one unless a
/// test supplies another).
pub type ServicesFn = Arc<dyn Fn() -> Services + Send + Sync>;

/// What the native dialog is asked for.
#[derive(Clone, Debug)]
pub enum Pick {
    Folder,
    /// A `.zip` or `.tar.gz` bundle.
    Archive,
    /// Where to save a Markdown file, suggesting this name.
    SaveMarkdown(String),
}

/// Opens the native dialog; answers `None` when the user cancels. Set up with the app.
pub type Picker =
    Box<dyn Fn(Pick) -> tokio::sync::oneshot::Receiver<Option<PathBuf>> + Send + Sync>;

pub struct Console {
    pub picker: std::sync::OnceLock<Picker>,
    workspace: RwLock<Option<Arc<Workspace>>>,
    services: ServicesFn,
    /// Where the last-opened workspace is remembered (`None`: not remembered).
    recent_file: Option<PathBuf>,
    /// Where "Try the demo" puts its workspace.
    pub data_dir: PathBuf,
    /// The actor a test or `--actor` names, over the workspace's `actor` setting.
    pub actor: Option<String>,
    publishes: Mutex<HashMap<String, Cancel>>,
    /// Why the workspace named at start could not be opened, for the first-run screen.
    startup_error: Mutex<Option<airlock_core::error::ErrorReport>>,
    /// Bumped on every open, so a background sync of an old workspace stops.
    pub generation: std::sync::atomic::AtomicU64,
    /// The canary gate's switch and last pass (src-tauri/src/gate.rs).
    pub gate: crate::gate::Gate,
    /// Read-only chosen when opening ("Open read-only", `--viewer`): the workspace opens as
    /// a viewer's whatever its airlock.toml says, and stays so when settings reopen it.
    viewer: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl Console {
    pub fn new(services: ServicesFn, data_dir: PathBuf, recent_file: Option<PathBuf>) -> Self {
        Self {
            picker: std::sync::OnceLock::new(),
            workspace: RwLock::new(None),
            services,
            recent_file,
            data_dir,
            actor: None,
            publishes: Mutex::default(),
            startup_error: Mutex::default(),
            generation: Default::default(),
            gate: Default::default(),
            viewer: Default::default(),
        }
    }

    /// Whether workspaces open read-only from now on (see [`Console::open_as`]).
    pub fn set_viewer(&self, viewer: bool) {
        self.viewer
            .store(viewer, std::sync::atomic::Ordering::SeqCst);
    }

    /// Opens `dir`, read-only if `viewer` (chosen in the window), else as its airlock.toml
    /// says.
    pub async fn open_as(&self, dir: &Path, viewer: bool) -> CommandResult<Arc<Workspace>> {
        self.set_viewer(viewer);
        self.open(dir).await
    }

    /// The workspace in brief, with the actor this console acts as (`--actor` or
    /// `AIRLOCK_ACTOR` over the workspace's setting).
    pub fn info(&self, ws: &Workspace) -> airlock_core::views::WorkspaceInfo {
        let mut info = ws.info();
        if let Some(actor) = &self.actor {
            info.actor = Some(actor.clone());
        }
        info
    }

    pub fn services(&self) -> Services {
        (self.services)()
    }

    /// The open workspace, or `not_found` when none is open (the first-run screen).
    pub async fn workspace(&self) -> CommandResult<Arc<Workspace>> {
        self.workspace.read().await.clone().ok_or_else(|| {
            CommandError::shell(
                ErrorKind::NotFound,
                "no workspace is open; open or create one",
            )
        })
    }

    pub async fn current(&self) -> Option<Arc<Workspace>> {
        self.workspace.read().await.clone()
    }

    /// Opens the workspace in `dir` and makes it the console's, remembering it.
    pub async fn open(&self, dir: &Path) -> CommandResult<Arc<Workspace>> {
        let ws = if self.viewer.load(std::sync::atomic::Ordering::SeqCst) {
            Workspace::open_as_viewer(dir, self.services()).await?
        } else {
            Workspace::open(dir, self.services()).await?
        };
        let ws = Arc::new(ws);
        // The gate acts for the workspace a person turned it on for, never for the next:
        // off before the swap, then bound to the new generation.
        self.gate.reset(u64::MAX);
        *self.workspace.write().await = Some(ws.clone());
        let generation = self
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        self.gate.reset(generation);
        if let Some(file) = &self.recent_file {
            if let Some(parent) = file.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            // Remembering is a convenience: a failure to write it must not fail the open.
            let _ = std::fs::write(file, dir.to_string_lossy().as_bytes());
        }
        Ok(ws)
    }

    /// Opens the demo workspace in the data folder, creating it the first time.
    pub async fn open_demo(&self) -> CommandResult<Arc<Workspace>> {
        let root = self.data_dir.join("demo");
        let dir = root.join("workspace");
        if !dir.join(airlock_core::config::FILE_NAME).exists() {
            let _ = std::fs::remove_dir_all(&root);
            airlock_core::demo::create(&root, self.services()).await?;
        }
        self.open(&dir).await
    }

    /// The workspace opened last time, if it is still there.
    pub fn recent(&self) -> Option<PathBuf> {
        let dir = PathBuf::from(std::fs::read_to_string(self.recent_file.as_ref()?).ok()?);
        dir.join(airlock_core::config::FILE_NAME)
            .exists()
            .then_some(dir)
    }

    pub fn set_startup_error(&self, e: airlock_core::error::ErrorReport) {
        *self.startup_error.lock().expect("lock poisoned") = Some(e);
    }

    pub fn startup_error(&self) -> Option<airlock_core::error::ErrorReport> {
        self.startup_error.lock().expect("lock poisoned").clone()
    }

    pub fn start_publish(&self, id: &str) -> Cancel {
        let cancel = Cancel::new();
        self.publishes
            .lock()
            .expect("publishes lock poisoned")
            .insert(id.to_string(), cancel.clone());
        cancel
    }

    pub fn end_publish(&self, id: &str) {
        self.publishes
            .lock()
            .expect("publishes lock poisoned")
            .remove(id);
    }

    /// Cancels the publish `id`; false when it is not running (finished or unknown).
    pub fn cancel_publish(&self, id: &str) -> bool {
        match self
            .publishes
            .lock()
            .expect("publishes lock poisoned")
            .get(id)
        {
            Some(c) => {
                c.cancel();
                true
            }
            None => false,
        }
    }
}
