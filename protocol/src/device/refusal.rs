//! Why a device refused an update: one variant per rule, with a stable code.
//!
//! Invariant: codes are stable snake_case strings that devices report and dashboards count;
//! they never change meaning. Messages are for humans and may be reworded.

use std::fmt;

use crate::digest::ObjectRef;
use crate::time::Timestamp;

/// A reason to keep running what the device has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    PointerMissing {
        key: String,
    },
    PointerMalformed {
        detail: String,
    },
    PointerSignatureInvalid {
        detail: String,
    },
    WrongApp {
        expected: String,
        found: String,
    },
    WrongChannel {
        expected: String,
        found: String,
    },
    SeqRollback {
        last: u64,
        found: u64,
    },
    SeqReplayMismatch {
        seq: u64,
    },
    PointerExpired {
        expires_at: Timestamp,
        now: Timestamp,
    },
    StatementMissing {
        key: String,
    },
    StatementHashMismatch {
        expected: ObjectRef,
        found: ObjectRef,
    },
    StatementMalformed {
        detail: String,
    },
    StatementSignatureInvalid {
        detail: String,
    },
    StatementMismatch {
        field: &'static str,
        expected: String,
        found: String,
    },
    ManifestMissing {
        key: String,
    },
    ManifestHashMismatch {
        expected: ObjectRef,
        found: ObjectRef,
    },
    ManifestMalformed {
        detail: String,
    },
    ManifestMismatch {
        field: &'static str,
        expected: String,
        found: String,
    },
    NativeVersionUnknown {
        required: String,
    },
    NativeTooOld {
        required: String,
        native: String,
    },
    FileMissing {
        path: String,
        sha256: String,
    },
    FileHashMismatch {
        path: String,
        expected: String,
        found: String,
    },
    FileSizeMismatch {
        path: String,
        expected: u64,
        found: u64,
    },
    FetchFailed {
        key: String,
        detail: String,
    },
}

impl Refusal {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        use Refusal::*;
        match self {
            PointerMissing { .. } => "pointer_missing",
            PointerMalformed { .. } => "pointer_malformed",
            PointerSignatureInvalid { .. } => "pointer_signature_invalid",
            WrongApp { .. } => "wrong_app",
            WrongChannel { .. } => "wrong_channel",
            SeqRollback { .. } => "seq_rollback",
            SeqReplayMismatch { .. } => "seq_replay_mismatch",
            PointerExpired { .. } => "pointer_expired",
            StatementMissing { .. } => "statement_missing",
            StatementHashMismatch { .. } => "statement_hash_mismatch",
            StatementMalformed { .. } => "statement_malformed",
            StatementSignatureInvalid { .. } => "statement_signature_invalid",
            StatementMismatch { .. } => "statement_mismatch",
            ManifestMissing { .. } => "manifest_missing",
            ManifestHashMismatch { .. } => "manifest_hash_mismatch",
            ManifestMalformed { .. } => "manifest_malformed",
            ManifestMismatch { .. } => "manifest_mismatch",
            NativeVersionUnknown { .. } => "native_version_unknown",
            NativeTooOld { .. } => "native_too_old",
            FileMissing { .. } => "file_missing",
            FileHashMismatch { .. } => "file_hash_mismatch",
            FileSizeMismatch { .. } => "file_size_mismatch",
            FetchFailed { .. } => "fetch_failed",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Refusal::*;
        match self {
            PointerMissing { key } => write!(f, "no pointer at {key}"),
            PointerMalformed { detail } => write!(f, "the pointer is malformed: {detail}"),
            PointerSignatureInvalid { detail } => write!(f, "pointer not trusted: {detail}"),
            WrongApp { expected, found } => {
                write!(f, "the pointer is for app {found:?}, not {expected:?}")
            }
            WrongChannel { expected, found } => {
                write!(f, "the pointer is for channel {found:?}, not {expected:?}")
            }
            SeqRollback { last, found } => {
                write!(
                    f,
                    "pointer seq {found} is older than the accepted seq {last} (rollback)"
                )
            }
            SeqReplayMismatch { seq } => {
                write!(
                    f,
                    "pointer seq {seq} was accepted before with different bytes"
                )
            }
            PointerExpired { expires_at, now } => {
                write!(
                    f,
                    "the pointer expired at {expires_at} (now {now}); the store may be frozen"
                )
            }
            StatementMissing { key } => write!(f, "no release statement at {key}"),
            StatementHashMismatch { expected, found } => {
                write!(
                    f,
                    "the release statement is {found}, the pointer pins {expected}"
                )
            }
            StatementMalformed { detail } => {
                write!(f, "the release statement is malformed: {detail}")
            }
            StatementSignatureInvalid { detail } => {
                write!(f, "release statement not trusted: {detail}")
            }
            StatementMismatch {
                field,
                expected,
                found,
            } => {
                write!(
                    f,
                    "the release statement names {field} {found:?}, expected {expected:?}"
                )
            }
            ManifestMissing { key } => write!(f, "no manifest at {key}"),
            ManifestHashMismatch { expected, found } => {
                write!(f, "the manifest is {found}, the statement pins {expected}")
            }
            ManifestMalformed { detail } => write!(f, "the manifest is malformed: {detail}"),
            ManifestMismatch {
                field,
                expected,
                found,
            } => {
                write!(
                    f,
                    "the manifest has {field} {found:?}, expected {expected:?}"
                )
            }
            NativeVersionUnknown { required } => {
                write!(
                    f,
                    "the release needs native {required} or later; this version is unknown"
                )
            }
            NativeTooOld { required, native } => {
                write!(
                    f,
                    "the release needs native {required} or later; this is {native}"
                )
            }
            FileMissing { path, sha256 } => write!(f, "file {path} (blob {sha256}) is missing"),
            FileHashMismatch {
                path,
                expected,
                found,
            } => {
                write!(
                    f,
                    "file {path} hashes to {found}, the manifest says {expected}"
                )
            }
            FileSizeMismatch {
                path,
                expected,
                found,
            } => {
                write!(
                    f,
                    "file {path} is {found} bytes, the manifest says {expected}"
                )
            }
            FetchFailed { key, detail } => write!(f, "could not fetch {key}: {detail}"),
        }
    }
}
