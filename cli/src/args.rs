//! The command line's grammar. Verbs and flags here are a contract with CI pipelines: keep
//! them stable, add freely.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "airlock",
    version,
    about = "Ship OTA updates in stages, with a rollback you trust"
)]
pub struct Cli {
    /// The workspace folder (holds airlock.toml and airlock.db).
    #[arg(long, global = true, env = "AIRLOCK_WORKSPACE", default_value = ".")]
    pub workspace: PathBuf,
    /// Who is acting (recorded in the log); else AIRLOCK_ACTOR, else `actor` in airlock.toml.
    #[arg(long, global = true, env = "AIRLOCK_ACTOR")]
    pub actor: Option<String>,
    /// Why (recorded in the log with the event).
    #[arg(long, global = true)]
    pub reason: Option<String>,
    /// Print machine-readable JSON on standard output.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write airlock.toml in the workspace folder.
    Init(InitArgs),
    /// AWS credentials for this workspace: which source, and keys kept in the OS keychain.
    Credentials {
        #[command(subcommand)]
        command: CredentialsCommand,
    },
    /// Publish a bundle (folder, .zip or .tar.gz) into an unprotected channel.
    Release {
        app: String,
        bundle: PathBuf,
        #[arg(long)]
        version: String,
        #[arg(long)]
        channel: Option<String>,
        /// The lowest native app version that can run this bundle (X.Y.Z).
        #[arg(long = "min-native")]
        min_native: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Start a rollout of a release from one channel into another.
    Promote {
        app: String,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// Start at this percentage instead of the plan's first step.
        #[arg(long)]
        percent: Option<f64>,
        /// Promote this version instead of the source channel's current one.
        #[arg(long)]
        version: Option<String>,
    },
    /// Grow a rollout to the next step of the plan or to a percentage (100 completes it).
    Expand {
        app: String,
        channel: String,
        #[arg(long, conflicts_with = "next", required_unless_present = "next")]
        percent: Option<f64>,
        #[arg(long)]
        next: bool,
    },
    /// Hold a rollout where it is (expand is refused until resumed).
    Pause(AppChannel),
    /// Let a paused rollout grow again.
    Resume(AppChannel),
    /// End a partial rollout: everyone returns to the channel's current release.
    Revert(AppChannel),
    /// Re-sign a channel's unchanged pointer with a fresh expiry.
    Resign(AppChannel),
    /// Point the channel back at the last known-good release and quarantine the bad one.
    Rollback {
        app: String,
        channel: String,
        #[arg(long)]
        to: Option<String>,
    },
    /// Approve a release for a protected channel (the approver must not be its author).
    Approve {
        app: String,
        version: String,
        #[arg(long)]
        channel: String,
    },
    /// Never serve a release again (it must not be current or rolling out anywhere).
    Quarantine { app: String, version: String },
    /// Retire a rollback-ready or reverted release in a channel (status only).
    Archive {
        app: String,
        version: String,
        #[arg(long)]
        channel: String,
    },
    /// Channels, rollouts, pointer expiry and release statuses.
    Status { app: Option<String> },
    /// An app's event log, oldest first.
    Log { app: String },
    /// Rebuild the registry from the store and repair lagging pointers.
    Sync,
    /// Act as one device: what would it run from this channel, and why?
    Verify(VerifyArgs),
    /// Signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Test the connection: every store honours create-only writes, and the signer signs.
    Check,
    /// Delete blobs that no manifest references.
    Gc {
        /// List what would be deleted without deleting.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The home store (event log, approvals, and every channel's default):
    /// file:///absolute/dir or s3://bucket/prefix.
    #[arg(long)]
    pub store: String,
    /// A separate store for the Production channel (the usual production bucket).
    #[arg(long)]
    pub production_store: Option<String>,
    /// `local` (a key in this desktop's keychain), `local:<name>`, or
    /// `kms:<key id, ARN or alias>`.
    #[arg(long, default_value = "local")]
    pub signer: String,
    /// Where AWS credentials come from: chain (default), profile:<name> or keychain:<name>.
    #[arg(long)]
    pub credentials: Option<String>,
    /// An endpoint for every AWS service (S3-compatible storage, a test server).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Path-style S3 addressing (MinIO, most S3-compatible services, test servers).
    #[arg(long)]
    pub path_style: bool,
    /// The AWS region (default: the AWS settings', else us-east-1).
    #[arg(long)]
    pub region: Option<String>,
}

#[derive(Clone, Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Store AWS keys in the OS keychain and use them for this workspace. The secret access
    /// key is read from standard input (first line); with --session-token, a session token
    /// from the second line. Never pass secrets as arguments.
    Set {
        #[arg(long)]
        access_key_id: String,
        /// The keychain entry's name (several workspaces may share one).
        #[arg(long, default_value = "default")]
        name: String,
        /// Also read a session token (second line of standard input).
        #[arg(long)]
        session_token: bool,
    },
    /// Which credential source this workspace uses (never the secret).
    Show,
    /// Remove keys from the OS keychain; the workspace goes back to the AWS default chain.
    Delete {
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Use the AWS default chain (`chain`) or a profile (`profile:<name>`).
    Use { source: String },
}

#[derive(Debug, Args)]
pub struct AppChannel {
    pub app: String,
    pub channel: String,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    pub app: String,
    pub channel: String,
    #[arg(long = "install-id", default_value = "airlock-verify")]
    pub install_id: String,
    /// The device's native app version (X.Y.Z).
    #[arg(long)]
    pub native: Option<String>,
    /// PEM files with the public keys the device embeds (default: the workspace's key).
    #[arg(long = "key")]
    pub keys: Vec<PathBuf>,
    /// A JSON file holding the last pointer the device accepted; read, then updated.
    #[arg(long)]
    pub state: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print the public key as SPKI PEM, to embed in the app.
    Export,
}
