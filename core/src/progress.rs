//! Progress reports for long work (reading, hashing, uploading). The engine calls a
//! [`Progress`] sink; the command line draws a bar from it and the desktop shell forwards it
//! over an IPC channel. Reports are cheap and may be dropped by the sink.

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "phase", rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum ProgressEvent {
    /// A named step began (e.g. "checking policy gates").
    Step { name: String },
    /// Hashing the bundle's files.
    #[serde(rename_all = "camelCase")]
    Hashing {
        files_done: u64,
        files_total: u64,
        bytes_done: u64,
        bytes_total: u64,
    },
    /// Uploading blobs; `skipped` counts files already in the store.
    #[serde(rename_all = "camelCase")]
    Uploading {
        files_done: u64,
        files_total: u64,
        bytes_done: u64,
        bytes_total: u64,
        skipped: u64,
    },
}

pub trait Progress: Send + Sync {
    fn report(&self, event: ProgressEvent);
}

/// A sink that ignores every report.
#[derive(Debug, Default)]
pub struct Silent;

impl Progress for Silent {
    fn report(&self, _event: ProgressEvent) {}
}

impl<F: Fn(ProgressEvent) + Send + Sync> Progress for F {
    fn report(&self, event: ProgressEvent) {
        self(event)
    }
}
