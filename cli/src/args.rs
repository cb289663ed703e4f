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
    /// An idempotency key for a state-changing verb (the log entry's `command`): a retry with
    /// the same id that finds its entry already logged reports it instead of acting again.
    #[arg(long = "command-id", global = true)]
    pub command_id: Option<String>,
    /// For expand, pause, resume and revert: refuse (as a conflict) unless the rollout in
    /// progress has this id.
    #[arg(long = "expect-rollout", global = true)]
    pub expect_rollout: Option<String>,
    /// For expand, pause, resume and revert: refuse (as a conflict) unless the rollout in
    /// progress is at this percentage.
    #[arg(long = "expect-percent", global = true)]
    pub expect_percent: Option<f64>,
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
        /// Say what it would do, and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Grow a rollout to the next step of the plan or to a percentage (100 completes it).
    Expand {
        app: String,
        channel: String,
        #[arg(long, conflicts_with = "next", required_unless_present = "next")]
        percent: Option<f64>,
        #[arg(long)]
        next: bool,
        /// Say what it would do, and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Hold a rollout where it is (expand is refused until resumed).
    Pause(AppChannel),
    /// Let a paused rollout grow again.
    Resume(AppChannel),
    /// End a partial rollout: everyone returns to the channel's current release.
    Revert {
        app: String,
        channel: String,
        /// Say what it would do, and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Resolve a log refused as tampered (a shorter log, another entry at a seen seq): write
    /// back the signed entries this desktop holds that the store lost, name what cannot be
    /// kept, and log a signed `recovered` entry (--reason is required) past every pointer's
    /// seq. Without --yes it only says what it would do.
    Recover {
        app: String,
        /// Carry it out (without it, nothing is written).
        #[arg(long)]
        yes: bool,
    },
    /// Re-sign a channel's unchanged pointer with a fresh expiry; with --all, every pointer
    /// that is missing or expires within --expiring-within (for schedulers).
    Resign {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        app: Option<String>,
        #[arg(required_unless_present = "all")]
        channel: Option<String>,
        #[arg(long)]
        all: bool,
        /// With --all: how soon a pointer must expire to be re-signed (e.g. 48h, 2d, 90m).
        #[arg(long = "expiring-within", default_value = "48h", value_parser = parse_duration)]
        expiring_within: i64,
    },
    /// Point the channel back at the last known-good release and quarantine the bad one.
    Rollback {
        app: String,
        channel: String,
        #[arg(long)]
        to: Option<String>,
        /// Say what it would do (the target's integrity is checked only when it runs), and
        /// write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Approve a release for a protected channel (the approver must not be its author).
    Approve {
        app: String,
        version: String,
        #[arg(long)]
        channel: String,
    },
    /// Turn a release down for a protected channel, saying why (--reason is required): it
    /// cannot be promoted there until someone approves it again.
    Reject {
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
    /// Judge a candidate release against a baseline on the KPIs, over one window (like a
    /// standalone canary analysis; docs/KPIS.md). Default: the channel's rollout against its
    /// current release, from the start of the rollout's current step to now. Exit code 0
    /// for pass, 1 for fail, 4 for inconclusive.
    Analyze {
        app: String,
        channel: String,
        /// The release judged (default: the channel's rollout version).
        #[arg(long)]
        candidate: Option<String>,
        /// The release it is compared with (default: the channel's current).
        #[arg(long)]
        baseline: Option<String>,
        /// The window's start, RFC 3339 in UTC (2026-11-23T10:00:00Z). Default: when the
        /// rollout's current step began. A window before the rollout is a backtest.
        #[arg(long)]
        from: Option<String>,
        /// The window's end (default: now).
        #[arg(long)]
        to: Option<String>,
    },
    /// Draw a KPI panel of CHANNEL as SVG or PNG (by the file's extension), from the same
    /// numbers the gate reads: adoption, download-success, install-time, crash-free (the
    /// rollout against the current release, with the judge's bands) or verdict (the gate's
    /// ratio and interval at every look). Default range: the current rollout, else 7 days.
    Chart {
        app: String,
        channel: String,
        #[arg(long, value_parser = ["adoption", "download-success", "install-time", "crash-free", "verdict"])]
        panel: String,
        /// The range's start, RFC 3339 in UTC; the range runs 1 hour to 30 days.
        #[arg(long)]
        from: Option<String>,
        /// The range's end (default: now).
        #[arg(long)]
        to: Option<String>,
        /// Where to write: FILE.svg or FILE.png.
        #[arg(short = 'o', long = "out")]
        out: std::path::PathBuf,
        /// Light (default) or dark.
        #[arg(long, default_value = "light", value_parser = ["light", "dark"])]
        theme: String,
        /// Width in pixels (default 880; the verdict panel grows one row per KPI).
        #[arg(long, default_value_t = 880)]
        width: u32,
    },
    /// Run the canary gate over every rollout in progress (of APP, of its CHANNEL): expand
    /// when a step's window is over and it passes, revert on a critical fail, pause on a
    /// fail or a warning; a rollout a person paused is left alone. Every decision is a
    /// `gatePassed` / `gateFailed` entry by `gate:<actor>`; several watchers on one store
    /// take each decision once.
    Watch {
        app: Option<String>,
        channel: Option<String>,
        /// One pass, then exit (for a CI job on a schedule).
        #[arg(long)]
        once: bool,
        /// Time between passes: `300`, `30s`, `5m`, `1h` (default 5m).
        #[arg(long, default_value = "5m")]
        interval: String,
    },
    /// The KPI sources: Prometheus credentials, crash-tool imports, CDN access logs.
    Kpi {
        #[command(subcommand)]
        command: KpiCommand,
    },
    /// How far each channel's current release has reached (its share of the active devices
    /// 1 h, 24 h and 72 h after 100 %) and how many update checks fail; warnings only.
    Adoption {
        app: String,
        channel: Option<String>,
    },
    /// Notifications to webhooks (Slack-compatible or signed JSON) for three audiences:
    /// engineering (every log entry), releases, incidents. URLs and signing secrets are read
    /// from standard input into the OS keychain, never from an argument.
    Notify {
        #[command(subcommand)]
        command: NotifyCommand,
    },
    /// Reports: `report weekly` writes the week's rollup as Markdown, HTML and an .eml
    /// message (releases, delivery and experience health against targets, adoption,
    /// incidents, what is staged next).
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Incidents: open one, list, show, tick or check the checklist, close, and write the
    /// postmortem (docs/KPIS.md, "Incidents").
    Incident {
        #[command(subcommand)]
        command: IncidentCommand,
    },
    /// Play a simulated fleet against a channel's real pointer and write what it would
    /// report: OpenMetrics history and CloudFront access logs (docs/KPIS.md, "A fleet to
    /// test against").
    Simulate(SimulateArgs),
    /// An app's event log, oldest first.
    Log { app: String },
    /// Read new log entries from the store into the registry and repair lagging pointers.
    Sync {
        /// Re-read every app's whole log and check every entry's chain link, signature and
        /// rules from seq 1 (finds an entry changed in the store behind the registry).
        #[arg(long)]
        full: bool,
    },
    /// Act as one device: what would it run from this channel, and why?
    Verify(VerifyArgs),
    /// The trusted signing keys: show, join, export/import, create, rotate, retire.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Test the connection: every store honours create-only writes, and the signer signs.
    Check {
        /// Instead: re-verify APP's releases (or VERSION) in every store they are placed
        /// in — statement, manifest and every blob hashed (exit 1 if any is not intact).
        #[arg(long, value_name = "APP")]
        deep: Option<String>,
        #[arg(requires = "deep")]
        version: Option<String>,
    },
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
pub enum KpiCommand {
    /// Credentials of `[kpi.prometheus]`, kept in the OS keychain.
    Auth {
        #[command(subcommand)]
        command: KpiAuthCommand,
    },
    /// Import a crash tool's export (CSV or JSON: per release and time bucket, sessions,
    /// crashed sessions, sessions with errors) for the judge; all or nothing, once per file;
    /// a release and bucket imported before is replaced, never added to. With --remove, take
    /// an import out again (docs/KPIS.md, "Importing crash-tool exports").
    Import {
        /// The export to import; with --remove, the import to remove: its file, or its
        /// SHA-256 (or a unique prefix of 8 or more hex digits).
        #[arg(required_unless_present = "all")]
        file: Option<PathBuf>,
        #[arg(long)]
        app: String,
        #[arg(long)]
        channel: String,
        /// `csv` or `json` (default: from the file's extension).
        #[arg(long, conflicts_with = "remove")]
        format: Option<String>,
        /// Which column holds what, over the defaults: `version=app_version,time=bucket_start,
        /// sessions=…,crashed=…,errors=…`.
        #[arg(long, default_value = "", conflicts_with = "remove")]
        columns: String,
        /// Each row's time bucket, in minutes (the time column is its start).
        #[arg(long, default_value_t = 60, conflicts_with = "remove")]
        bucket_minutes: u32,
        /// Remove an import instead (the numbers it still holds, and its record): FILE's, or
        /// with --all every one for --app in --channel.
        #[arg(long)]
        remove: bool,
        /// With --remove: every import for --app in --channel.
        #[arg(long, requires = "remove", conflicts_with = "file")]
        all: bool,
    },
    /// Read the CDN's access logs (`[kpi.cdn-logs]`) not read before: update checks per
    /// channel, downloads and download failures per release (docs/KPIS.md, "CDN access logs").
    Ingest,
}

#[derive(Clone, Debug, Args)]
pub struct SimulateArgs {
    pub app: String,
    pub channel: String,
    /// A TOML scenario (`devices`, `sessions-per-hour`, `seed`, `[default]`,
    /// `[versions."1.2.0"]`); the flags below override it.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// How many devices (default 2000).
    #[arg(long)]
    pub devices: Option<u32>,
    /// Sessions per device per hour, on average (default 1).
    #[arg(long = "sessions-per-hour")]
    pub sessions_per_hour: Option<f64>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// The devices' native app version (X.Y.Z), for releases that name a minimum.
    #[arg(long)]
    pub native: Option<String>,
    /// How a version behaves: `VERSION:crash=0.03,js-errors=0.01,install-seconds=2`
    /// (repeatable; `*:` for every version). Shares are 0 to 1.
    #[arg(long = "rates")]
    pub rates: Vec<String>,
    /// Start (RFC 3339) of a new fleet (default: an hour before --to).
    #[arg(long)]
    pub from: Option<String>,
    /// Play until (RFC 3339; default now).
    #[arg(long)]
    pub to: Option<String>,
    /// The fleet's state: played on from where it stopped if the file exists; written after.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Write the OpenMetrics history here (for `promtool tsdb create-blocks-from openmetrics`).
    #[arg(long)]
    pub openmetrics: Option<PathBuf>,
    /// Write gzipped CloudFront access logs here: a store URL, a `[stores]` name or a folder.
    #[arg(long = "cdn-logs")]
    pub cdn_logs: Option<String>,
    /// Write sessions, crashes and JS errors per hour and release as a crash tool's CSV
    /// export here (for `airlock kpi import`).
    #[arg(long = "crash-export")]
    pub crash_export: Option<PathBuf>,
}

#[derive(Clone, Debug, Subcommand)]
pub enum NotifyCommand {
    /// Read AUDIENCE's webhook URL (or, with --signing-secret, its Standard Webhooks
    /// secret) from standard input into the keychain.
    Set {
        audience: String,
        #[arg(long)]
        signing_secret: bool,
    },
    /// Forget AUDIENCE's URL and signing secret.
    Delete { audience: String },
    /// Send AUDIENCE a test message now and say what its receiver answered.
    Test { audience: String },
    /// Deliver what is due now (within --budget seconds, default 30).
    Send {
        #[arg(long, default_value_t = 30.0)]
        budget: f64,
    },
    /// Every message with each attempt: time, status code, latency.
    Log {
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Which audiences have a URL and a signing secret (never their values).
    Status,
}

#[derive(Clone, Debug, Subcommand)]
pub enum ReportCommand {
    /// The weekly rollup: rollup-YYYY-Www.md, .html and .eml in --out.
    Weekly {
        /// The ISO week (2026-W49); default: the last whole week.
        #[arg(long)]
        week: Option<String>,
        /// One app (default: every app).
        #[arg(long)]
        app: Option<String>,
        /// Where to write (default: the current folder).
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
}

#[derive(Clone, Debug, Subcommand)]
pub enum IncidentCommand {
    /// Open an incident by hand; --reason says what was seen.
    Open {
        app: String,
        /// Default: the channel of the app's one rollout in progress.
        #[arg(long)]
        channel: Option<String>,
        /// Default: the channel's rollout version, else its current release.
        #[arg(long)]
        version: Option<String>,
        /// 1: immediate rollback; 2: a rollback decision within an hour; 3: fix forward.
        #[arg(long = "sev")]
        severity: u8,
    },
    /// Open incidents (with --all, closed ones too), newest first.
    List {
        app: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// An incident's timeline, numbers and checklist.
    Show { app: String, number: u64 },
    /// Tick a checklist item by hand: support-notified, postmortem-scheduled (or one Airlock
    /// checks itself, saying how you know in --note).
    Tick {
        app: String,
        number: u64,
        item: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Run Airlock's checks of the checklist now (the watcher runs them on every pass).
    Check { app: String, number: u64 },
    /// Close an incident (with items unchecked, --reason says why).
    Close { app: String, number: u64 },
    /// A blameless postmortem in Markdown, prefilled from the incident's record.
    Postmortem {
        app: String,
        number: u64,
        /// Write it to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Clone, Debug, Subcommand)]
pub enum KpiAuthCommand {
    /// Store a bearer token (or, with --user, a basic-auth password), read from standard
    /// input, as keychain entry NAME; airlock.toml uses it with
    /// `[kpi.prometheus] auth = "keychain:NAME"`.
    Set {
        name: String,
        /// Basic authentication as this user instead of a bearer token.
        #[arg(long)]
        user: Option<String>,
    },
    /// Remove keychain entry NAME.
    Delete { name: String },
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
    /// The trusted key set this desktop pinned, and whether its signer is in it.
    Show,
    /// Pin the store's key set (shown with each key's id and source), or — if the store has
    /// none — start it with this desktop's signer.
    Join,
    /// Print the trusted public keys as SPKI PEM, to embed in the app. With --private, the
    /// local key itself (PKCS#8 PEM), to import on another desktop: keep it secret.
    Export {
        #[arg(long)]
        private: bool,
        /// The local key's name (with --private).
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Store a local key exported elsewhere (PKCS#8 PEM read from standard input).
    Import {
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Create a local key in this desktop's keychain (it signs nothing until `keys rotate`
    /// adds it to the set).
    Create {
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Add a new key to the set, signed by the current one, and sign with both until the old
    /// one is retired.
    Rotate {
        /// The new signer: `local:<name>` (see `keys create`) or `kms:<key>`.
        #[arg(long)]
        to: String,
    },
    /// Stop trusting a key (what it signed before stays valid history).
    Retire { keyid: String },
}

/// Seconds from `48h`, `2d`, `90m` or `3600s`.
fn parse_duration(text: &str) -> Result<i64, String> {
    let (number, unit) = text.split_at(text.trim_end_matches(char::is_alphabetic).len());
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 48h, 2d or 90m"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" | "" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit must be s, m, h or d")),
    };
    if n <= 0 || n > 365 * 86_400 {
        return Err(format!("{text:?} must be positive and at most a year"));
    }
    Ok(n * scale)
}
