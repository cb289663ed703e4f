//! The window's size and place, saved soon after each change (by the window-state plugin,
//! which otherwise writes only when the window closes normally), so a crash, a killed process
//! or a logout still reopens the console where it was left.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tauri::{Manager, Runtime, Window, WindowEvent};
use tauri_plugin_window_state::{AppHandleExt, StateFlags};

/// How long the window must stay still before it is saved (a drag sends many events).
const SETTLE: Duration = Duration::from_millis(400);

static CHANGES: AtomicU64 = AtomicU64::new(0);

/// For `Builder::on_window_event`: saves the state once a resize or move has settled.
pub fn on_event<R: Runtime>(window: &Window<R>, event: &WindowEvent) {
    if !matches!(event, WindowEvent::Resized(_) | WindowEvent::Moved(_)) {
        return;
    }
    let n = CHANGES.fetch_add(1, Ordering::SeqCst) + 1;
    let app = window.app_handle().clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(SETTLE).await;
        if CHANGES.load(Ordering::SeqCst) == n {
            // Remembering the size is a convenience: a failed write changes nothing else.
            let _ = app.save_window_state(StateFlags::all());
        }
    });
}
