//! The engine's operations, as methods on [`Workspace`](crate::workspace::Workspace). Every
//! state change follows one path ([`commit`]): read the log, validate against the folded
//! state, append one entry create-only (on a lost race: re-read, re-validate, retry), then
//! bring the channel pointers up to date. The log append is the commit; a pointer that lags
//! its log is repaired by any later command or by `sync`.

pub mod action;
pub mod adoption;
pub mod analyze;
pub mod cdn_logs;
pub mod check;
pub mod commit;
pub mod curation;
pub mod deep_check;
pub mod device;
pub mod gc;
pub mod incident;
pub mod incident_checks;
pub mod keys;
pub mod kpi_charts;
pub mod kpi_screen;
pub mod notify;
pub mod placement;
pub mod pointer;
pub mod preview;
pub mod recover_log;
pub mod recovery;
pub mod release;
pub mod rollout;
pub mod rollup;
pub mod seen;
pub mod simulate;
pub mod sync;
pub mod watch;
pub mod watch_current;
pub mod watch_promote;

pub use commit::Committed;
pub use pointer::PointerUpdate;
