//! KPIs and the canary gate: the numbers a rollout is judged on, and the judge.
//!
//! - [`source`]: where numbers come from ([`source::KpiSource`]; in memory for tests);
//!   [`prometheus`]: a Prometheus-compatible HTTP API; [`samples`]: crash-tool exports
//!   imported into SQLite.
//! - [`policy`]: the KPIs, their default limits and the `[kpi]` settings.
//! - [`judge`]: candidate against baseline over a window → a [`judge::Verdict`];
//!   [`stats`] and [`histogram`]: the anytime-valid statistics it rests on;
//!   [`words`]: how its numbers read.
//! - [`synthetic`]: numbers with known rates, for tests and the gate benchmark.
//!
//! `Workspace::analyze` (ops/analyze.rs) asks the question a rollout poses: its version
//! against the channel's current, from the start of its current step.

pub mod histogram;
pub mod judge;
pub mod policy;
pub mod prometheus;
pub mod samples;
pub mod source;
pub mod stats;
pub mod synthetic;
pub mod words;
