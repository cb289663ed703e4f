//! Progress bars for long work, drawn on standard error only when it is a terminal and
//! JSON output was not asked for, so CI logs and pipes stay clean.

use airlock_core::progress::{Progress, ProgressEvent};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    pub fn new(enabled: bool) -> Self {
        let target = if enabled && std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template("{msg:<24} [{bar:30}] {bytes}/{total_bytes}")
                .expect("the template is valid")
                .progress_chars("=> "),
        );
        Self { bar }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Bar {
    fn report(&self, event: ProgressEvent) {
        let (phase, done, total, files_done, files_total) = match event {
            ProgressEvent::Step { name } => {
                self.bar.set_message(name);
                return;
            }
            ProgressEvent::Hashing {
                bytes_done,
                bytes_total,
                files_done,
                files_total,
            } => ("hashing", bytes_done, bytes_total, files_done, files_total),
            ProgressEvent::Uploading {
                bytes_done,
                bytes_total,
                files_done,
                files_total,
                ..
            } => (
                "uploading",
                bytes_done,
                bytes_total,
                files_done,
                files_total,
            ),
        };
        self.bar.set_length(total);
        self.bar.set_position(done);
        self.bar
            .set_message(format!("{phase} {files_done}/{files_total}"));
    }
}
