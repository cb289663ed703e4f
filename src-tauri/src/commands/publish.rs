//! Publishing a bundle from the window: progress streams over an IPC channel (at most ~20
//! updates a second, every step and every phase's last update always sent), and the
//! publish can be cancelled until its log entry is written.

use super::attribution;
use crate::error::CommandResult;
use crate::state::Console;
use airlock_core::ops::release::{ReleaseOutcome, ReleaseRequest};
use airlock_core::progress::{Progress, ProgressEvent};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tauri::State;
use tauri::ipc::Channel;

/// The shortest gap between two progress updates of the same phase.
const MIN_GAP: Duration = Duration::from_millis(50);

/// Forwards progress to the window, dropping updates that come faster than [`MIN_GAP`].
pub struct Throttled {
    channel: Channel<ProgressEvent>,
    last: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Throttled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttled").finish_non_exhaustive()
    }
}

impl Throttled {
    pub fn new(channel: Channel<ProgressEvent>) -> Self {
        Self {
            channel,
            last: Mutex::new(None),
        }
    }
}

fn is_phase_end(e: &ProgressEvent) -> bool {
    match e {
        ProgressEvent::Step { .. } => true,
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
    }
}

impl Progress for Throttled {
    fn report(&self, event: ProgressEvent) {
        let mut last = self.last.lock().expect("progress lock poisoned");
        let now = Instant::now();
        if !is_phase_end(&event) && last.is_some_and(|t| now - t < MIN_GAP) {
            return;
        }
        *last = Some(now);
        // A window that went away cannot take progress; the publish goes on regardless.
        let _ = self.channel.send(event);
    }
}

/// Publishes `request` (into Staging by default); `id` names it for `cancel_publish`.
#[tauri::command]
#[specta::specta]
pub async fn publish(
    console: State<'_, Console>,
    request: ReleaseRequest,
    id: String,
    progress: Channel<ProgressEvent>,
) -> CommandResult<ReleaseOutcome> {
    let ws = console.workspace().await?;
    let by = attribution(&console, &ws, None)?;
    let cancel = console.start_publish(&id);
    let sink = Throttled::new(progress);
    let outcome = ws.release_cancellable(&by, &request, &sink, &cancel).await;
    console.end_publish(&id);
    Ok(outcome?)
}

/// Cancels the publish `id`: true if it was running (it stops before its log entry).
#[tauri::command]
#[specta::specta]
pub fn cancel_publish(console: State<'_, Console>, id: String) -> bool {
    console.cancel_publish(&id)
}
