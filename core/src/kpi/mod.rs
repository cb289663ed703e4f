//! KPIs and the canary gate: the numbers a rollout is judged on, and the judge.
//!
//! - [`source`]: where numbers come from ([`source::KpiSource`]; in memory for tests);
//!   [`prometheus`]: a Prometheus-compatible HTTP API; [`samples`]: crash-tool exports
//!   imported into SQLite; [`cdn_logs`]: CloudFront access logs read into per-minute counts
//!   (stored beside the imports by ops/cdn_logs.rs); [`layered`]: Prometheus first, the
//!   stored samples for what it has nothing on.
//! - [`policy`]: the KPIs, their default limits and the `[kpi]` settings.
//! - [`judge`]: candidate against baseline over a window → a [`judge::Verdict`];
//!   [`stats`] and [`histogram`]: the anytime-valid statistics it rests on;
//!   [`words`]: how its numbers read.
//! - [`synthetic`]: numbers with known rates, for tests and the gate benchmark;
//!   [`fleet`]: simulated devices following the real pointer (`airlock simulate`).
//!
//! `Workspace::analyze` (ops/analyze.rs) asks the question a rollout poses: its version
//! against the channel's current, from the start of its current step.

pub mod cdn_logs;
pub mod fleet;
pub mod histogram;
pub mod judge;
pub mod layered;
pub mod policy;
pub mod prometheus;
pub mod samples;
pub mod source;
pub mod stats;
pub mod synthetic;
pub mod words;
