//! Progress bars for long work, drawn on standard error only when it is a terminal and
//! JSON output was not asked for, so CI logs and pipes stay clean.

use airlock_core::progress::{Progress, ProgressEvent, Task};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

pub struct Bar {
    bar: ProgressBar,
    bytes: ProgressStyle,
    count: ProgressStyle,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("the template is valid")
        .progress_chars("=> ")
}

/// Bytes hashed or uploaded.
const BYTES: &str = "{msg:<24} [{bar:30}] {bytes}/{total_bytes}";
/// Objects or entries counted (the count is in the message).
const COUNT: &str = "{msg:<24} [{bar:30}]";

impl Bar {
    pub fn new(enabled: bool) -> Self {
        let target = if enabled && std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(style(BYTES));
        Self {
            bar,
            bytes: style(BYTES),
            count: style(COUNT),
        }
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
            ProgressEvent::Committed { app, seq } => {
                self.bar.set_message(format!("committed {app} seq {seq}"));
                return;
            }
            ProgressEvent::Waiting { what, seconds } => {
                self.bar
                    .set_message(format!("waiting for {what} ({seconds} s)"));
                return;
            }
            ProgressEvent::Counting {
                task,
                subject,
                done,
                total,
            } => {
                self.bar.set_style(self.count.clone());
                self.bar.set_length(total);
                self.bar.set_position(done);
                self.bar
                    .set_message(format!("{} {subject} {done}/{total}", task_word(task)));
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
        self.bar.set_style(self.bytes.clone());
        self.bar.set_length(total);
        self.bar.set_position(done);
        self.bar
            .set_message(format!("{phase} {files_done}/{files_total}"));
    }
}

fn task_word(task: Task) -> &'static str {
    match task {
        Task::Copying => "copying",
        Task::Checking => "checking",
        Task::Reading => "reading",
        Task::Deleting => "deleting",
        Task::Ingesting => "reading logs in",
    }
}
