//! Progress reports for long work (reading, hashing, uploading, copying, checking, waiting
//! on a CDN) and the point of no return of every command (its log entry committed). The
//! engine calls a [`Progress`] sink; the command line draws a bar from it and the desktop
//! shell forwards it over an IPC channel. Reports are cheap and may be dropped by the sink.
//!
//! `release` takes its sink as an argument. Every other operation reports to the sink of the
//! [`reporting`] scope it runs in (a task-local, so no signature carries one), and reports
//! nothing outside such a scope.

use serde::Serialize;
use std::future::Future;
use std::sync::Arc;

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
    /// Counting through other long work; `subject` names what it is done to (a store, a
    /// release, an app's log).
    #[serde(rename_all = "camelCase")]
    Counting {
        task: Task,
        subject: String,
        done: u64,
        total: u64,
    },
    /// The command's log entry is in the store: it has happened, whatever follows (pointers,
    /// CDN). A cancel after this is ignored.
    #[serde(rename_all = "camelCase")]
    Committed { app: String, seq: u64 },
    /// Waiting for something outside Airlock (a CDN invalidation), `seconds` so far.
    #[serde(rename_all = "camelCase")]
    Waiting { what: String, seconds: u64 },
}

/// What a [`ProgressEvent::Counting`] counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum Task {
    /// A release's blobs copied into another channel's store (placement on promotion).
    Copying,
    /// A rollback target's statement, manifest and blobs checked before the pointer moves.
    Checking,
    /// New log entries read from the store (load, sync).
    Reading,
    /// Unreferenced blobs deleted (`gc`).
    Deleting,
    /// CDN access-log files read (`kpi ingest`).
    Ingesting,
}

impl ProgressEvent {
    /// Whether this closes a phase (a step, or the last update of a count), which a
    /// throttling sink must always pass on.
    pub fn ends_phase(&self) -> bool {
        match self {
            ProgressEvent::Step { .. }
            | ProgressEvent::Committed { .. }
            | ProgressEvent::Waiting { .. } => true,
            ProgressEvent::Hashing {
                files_done,
                files_total,
                ..
            }
            | ProgressEvent::Uploading {
                files_done,
                files_total,
                ..
            } => files_done == files_total,
            ProgressEvent::Counting { done, total, .. } => done == total,
        }
    }
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

tokio::task_local! {
    static SINK: Arc<dyn Progress>;
}

/// Runs `work` with `sink` taking the progress of every operation inside it.
pub async fn reporting<F: Future>(sink: Arc<dyn Progress>, work: F) -> F::Output {
    SINK.scope(sink, work).await
}

/// Reports `event` to the enclosing [`reporting`] scope's sink, if there is one.
pub(crate) fn report(event: ProgressEvent) {
    let _ = SINK.try_with(|sink| sink.report(event));
}

/// Reports a step by name to the enclosing scope.
pub(crate) fn step(name: impl Into<String>) {
    report(ProgressEvent::Step { name: name.into() });
}

/// Reports `done` of `total` for `task` on `subject` to the enclosing scope.
pub(crate) fn count(task: Task, subject: &str, done: u64, total: u64) {
    report(ProgressEvent::Counting {
        task,
        subject: subject.to_string(),
        done,
        total,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn reports_reach_the_enclosing_scope_only() {
        step("outside: nobody hears this");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let seen = seen.clone();
            move |e: ProgressEvent| seen.lock().unwrap().push(e)
        };
        reporting(Arc::new(sink), async {
            step("inside");
            count(Task::Reading, "shop", 1, 2);
        })
        .await;
        step("after: nobody hears this either");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(
            seen[0],
            ProgressEvent::Step {
                name: "inside".into()
            }
        );
        assert!(!seen[1].ends_phase(), "1 of 2 is mid-phase");
    }
}
