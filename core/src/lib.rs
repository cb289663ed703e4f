//! airlock-core: the release engine behind the `airlock` command line and the desktop
//! console. It never depends on Tauri. Read it in this order:
//!
//! - [`workspace`]: a folder with `airlock.toml` + `airlock.db`, and the services in use.
//! - [`ops`]: every operation (release, promote, expand, pause, resume, revert, rollback,
//!   approve, quarantine, archive, resign, sync, status, gc, verify-as-device, analyze).
//! - [`log`] and [`state`]: the append-only event log and what it means; [`rules`]: what
//!   may follow what, checked on every commit and again on every fold.
//! - [`registry`] and [`status`]: the SQLite projection and the statuses people see;
//!   [`views`]: what the console's screens read from it, with no store request;
//!   [`detail`]: a release's page; [`charts`]: SVG charts drawn from the log.
//! - [`trust`]: the trusted keys (the signed key-set chain, from this desktop's pin).
//! - [`store`], [`signer`], [`keychain`], [`clock`]: the outside world, behind small traits;
//!   [`aws`]: the S3 store's settings, the KMS signer, CloudFront invalidation, credentials.
//! - [`bundle`]: reading a bundle and its policy gates.
//! - [`kpi`]: the numbers a rollout is judged on (Prometheus) and the canary judge.
//! - [`demo`]: the console's "Try the demo" workspace, made through the engine itself.
//! - [`config`] and [`settings`] (typed edits that keep the file's comments), [`error`], [`progress`], [`cancel`], [`secret`]: the plumbing.

pub mod aws;
pub mod bundle;
pub mod cancel;
pub mod charts;
pub mod clock;
pub mod config;
pub mod demo;
pub mod detail;
pub mod error;
pub mod keychain;
pub mod kpi;
pub mod log;
pub mod notify;
pub mod ops;
mod parallel;
pub mod progress;
pub mod registry;
pub mod rules;
pub mod secret;
pub mod settings;
pub mod signer;
pub mod state;
pub mod status;
pub mod store;
pub mod trust;
pub mod views;
pub mod workspace;

pub use error::{Error, ErrorKind, Result};
pub use workspace::{Attribution, Change, Expectation, Services, Workspace};
