//! The engine's one error type. Every failure carries a typed [`ErrorKind`] so the command
//! line can pick an exit code and the desktop UI can branch on `kind` — never on message text.
//! Messages are written for a release manager: they name the app, version, channel, store
//! key or file involved, and say what to do next where there is something to do.

use crate::bundle::policy::Violation;
use serde::Serialize;

/// What sort of failure this is; stable, serialised in snake_case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum ErrorKind {
    /// The arguments or the input (bundle, version, name) cannot be used.
    InvalidInput,
    /// `airlock.toml` is missing or wrong.
    Config,
    /// The bundle failed one or more policy gates.
    Gate,
    /// A promotion into a protected channel lacks an approval.
    ApprovalMissing,
    /// Someone else wrote first; re-read and try again.
    Conflict,
    /// The request breaks a rollout rule (e.g. expanding a paused rollout).
    Refused,
    /// The app, release or channel does not exist.
    NotFound,
    /// Stored data does not match what was signed or logged.
    Integrity,
    /// The store's log or key set went backwards or forked from what this desktop has seen
    /// (entries removed, a seen entry replaced, a key-set version removed): refused as
    /// tampering until a key holder runs `airlock recover`.
    Tampered,
    /// The store (bucket or folder) failed.
    Store,
    /// Signing failed or produced a signature that does not verify.
    Signer,
    /// The OS keychain is unreachable or refused.
    Keychain,
    /// The local registry database failed.
    Database,
    /// The KPI source (Prometheus) could not be reached or answered with an error.
    Metrics,
    /// The operation was cancelled before its commit: nothing was logged or pointed at
    /// (uploaded blobs stay, and a later publish reuses them).
    Cancelled,
    /// The command's log entry was appended (it happened), but something after it — a
    /// pointer, the registry — is still pending. Do not retry the command; `airlock sync`
    /// (or any later command) completes it. Exit code 4.
    Committed,
}

impl ErrorKind {
    /// True when the failure is a rule saying no (exit code 1), as opposed to unusable input
    /// (exit code 2) or a failing environment (exit code 3).
    pub fn is_refusal(self) -> bool {
        matches!(
            self,
            Self::Gate
                | Self::ApprovalMissing
                | Self::Conflict
                | Self::Refused
                | Self::Integrity
                | Self::Tampered
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    Config(String),
    #[error("{} failed {} policy gate(s); nothing was written:\n{}",
        .bundle, .violations.len(),
        .violations.iter().map(|v| format!("  - {v}")).collect::<Vec<_>>().join("\n"))]
    Gates {
        bundle: String,
        violations: Vec<Violation>,
    },
    #[error(
        "{app} {version} needs an approval for {channel} from someone other than its author \
         ({author}) before it can be promoted there; ask a reviewer to run \
         `airlock approve {app} {version} --channel {channel}`"
    )]
    ApprovalMissing {
        app: String,
        version: String,
        channel: String,
        author: String,
    },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    NotFound(String),
    #[error("integrity check failed: {0}")]
    Integrity(String),
    /// `app`'s log (or the store's key set, with `app` empty) went back from what this
    /// desktop has seen at `seq`.
    #[error("{}", tampered_message(.app, .detail))]
    Tampered {
        app: String,
        seq: u64,
        detail: String,
    },
    #[error("store {store}: {op} {key}: {detail}")]
    Store {
        store: String,
        op: &'static str,
        key: String,
        detail: String,
    },
    #[error("signer: {0}")]
    Signer(String),
    #[error("keychain: {0}")]
    Keychain(String),
    #[error("registry database: {0}")]
    Database(String),
    #[error("KPI source: {0}")]
    Metrics(String),
    #[error("{0}")]
    Protocol(#[from] airlock_protocol::Error),
    #[error("{0}")]
    Cancelled(String),
    #[error(
        "committed as seq {seq} of {app} (command {command}); {} pending: {}. Run `airlock \
         sync` to complete it; retrying the command is safe only with `--command-id {command}`",
        .pending.iter().map(|p| p.what.as_str()).collect::<Vec<_>>().join(", "),
        .pending.iter().map(|p| format!("{} ({})", p.what, p.cause)).collect::<Vec<_>>().join("; ")
    )]
    Committed {
        app: String,
        seq: u64,
        command: String,
        pending: Vec<Pending>,
    },
}

fn tampered_message(app: &str, detail: &str) -> String {
    if app.is_empty() {
        return format!(
            "TAMPERING: {detail}. Refused: nothing is signed with this store's keys until a \
             person checks the key set (`airlock keys show`) (docs/PROTOCOL.md, \"Trusted keys\")"
        );
    }
    format!(
        "TAMPERING: {detail}. Refused: nothing is signed for {app} from this store, and it is \
         never \"rebuilt\" from what the store has now, until a key holder who knows what \
         happened runs `airlock recover {app} --reason ...` (docs/PROTOCOL.md, \"A tampered \
         log\")"
    )
}

/// Something a committed command still has to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pending {
    pub what: String,
    pub cause: String,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidInput(_) => ErrorKind::InvalidInput,
            Self::Config(_) => ErrorKind::Config,
            Self::Gates { .. } => ErrorKind::Gate,
            Self::ApprovalMissing { .. } => ErrorKind::ApprovalMissing,
            Self::Conflict(_) => ErrorKind::Conflict,
            Self::Refused(_) => ErrorKind::Refused,
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::Integrity(_) => ErrorKind::Integrity,
            Self::Protocol(airlock_protocol::Error::OverCap { .. }) => ErrorKind::Integrity,
            Self::Tampered { .. } => ErrorKind::Tampered,
            Self::Protocol(_) => ErrorKind::InvalidInput,
            Self::Store { .. } => ErrorKind::Store,
            Self::Signer(_) => ErrorKind::Signer,
            Self::Keychain(_) => ErrorKind::Keychain,
            Self::Database(_) => ErrorKind::Database,
            Self::Metrics(_) => ErrorKind::Metrics,
            Self::Committed { .. } => ErrorKind::Committed,
            Self::Cancelled(_) => ErrorKind::Cancelled,
        }
    }

    pub(crate) fn io(what: &str, path: &std::path::Path, err: std::io::Error) -> Self {
        Self::InvalidInput(format!("cannot {what} {}: {err}", path.display()))
    }
}

/// An error as a front end receives it: its kind to branch on, its message to show, and the
/// structured facts where the error has them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ErrorReport {
    pub kind: ErrorKind,
    pub message: String,
    /// Gate failures: each violation in words, naming its file.
    pub violations: Vec<String>,
    pub app: Option<String>,
    pub version: Option<String>,
    pub channel: Option<String>,
    /// `committed`: the entry's seq and command id, and what is still pending.
    pub seq: Option<u64>,
    pub command: Option<String>,
    pub pending: Vec<String>,
    /// `store`: the store that failed (its URL) and the object.
    pub store: Option<String>,
    pub key: Option<String>,
    /// `store`: the store answered "access denied" to this action (e.g. `s3:PutObject`):
    /// the credentials in use may not do it there (read-only credentials, by design for a
    /// viewer's desktop, or a missing IAM permission).
    pub denied_action: Option<String>,
}

impl From<&Error> for ErrorReport {
    fn from(e: &Error) -> Self {
        let mut r = Self {
            kind: e.kind(),
            message: e.to_string(),
            violations: Vec::new(),
            app: None,
            version: None,
            channel: None,
            seq: None,
            command: None,
            pending: Vec::new(),
            store: None,
            key: None,
            denied_action: None,
        };
        match e {
            Error::Gates { violations, .. } => {
                r.message = format!(
                    "the bundle failed {} policy gate(s); nothing was written",
                    violations.len()
                );
                r.violations = violations.iter().map(ToString::to_string).collect();
            }
            Error::ApprovalMissing {
                app,
                version,
                channel,
                ..
            } => {
                r.app = Some(app.clone());
                r.version = Some(version.clone());
                r.channel = Some(channel.clone());
            }
            Error::Committed {
                app,
                seq,
                command,
                pending,
            } => {
                r.app = Some(app.clone());
                r.seq = Some(*seq);
                r.command = Some(command.clone());
                r.pending = pending
                    .iter()
                    .map(|p| format!("{}: {}", p.what, p.cause))
                    .collect();
            }
            Error::Tampered { app, seq, .. } => {
                r.app = Some(app.clone());
                r.seq = Some(*seq);
            }
            Error::Store {
                store, key, detail, ..
            } => {
                r.store = Some(store.clone());
                r.key = Some(key.clone());
                r.denied_action = crate::aws::denied_action(detail);
            }
            _ => {}
        }
        r
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        Self::Database(err.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        Self::Database(format!("migration failed: {err}"))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
