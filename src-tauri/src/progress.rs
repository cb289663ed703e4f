//! Forwarding core's progress to the window over an IPC channel, at most ~20 updates a
//! second: an update that follows the previous one within [`MIN_GAP`] is dropped, unless it
//! ends a phase (a step, a commit, a count's last update), which is always sent.

use airlock_core::progress::{Progress, ProgressEvent};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tauri::ipc::Channel;

/// The shortest gap between two forwarded updates (any phase; a phase end always goes).
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

impl Progress for Throttled {
    fn report(&self, event: ProgressEvent) {
        let mut last = self.last.lock().expect("progress lock poisoned");
        let now = Instant::now();
        if !event.ends_phase() && last.is_some_and(|t| now - t < MIN_GAP) {
            return;
        }
        *last = Some(now);
        // A window that went away cannot take progress; the publish goes on regardless.
        let _ = self.channel.send(event);
    }
}
