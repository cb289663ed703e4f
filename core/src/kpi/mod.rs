//! KPIs and the canary gate: the numbers a rollout is judged on, and the judge.
//!
//! - [`source`]: where numbers come from ([`source::KpiSource`]; in memory for tests);
//!   [`prometheus`]: a Prometheus-compatible HTTP API; [`samples`]: crash-tool exports
//!   imported into SQLite ([`imports`]: stored, a later import replacing an earlier one's
//!   numbers, removable); [`cdn_logs`]: CloudFront access logs read into per-minute counts
//!   (stored beside the imports by ops/cdn_logs.rs); [`layered`]: Prometheus first, the
//!   stored samples for what it has nothing on.
//! - [`policy`]: the KPIs, their default limits and the `[kpi]` settings.
//! - [`judge`]: candidate against baseline over a window → a [`judge::Verdict`];
//!   [`boundary`]: each KPI's one boundary between safe and harmful, fixed per rollout;
//!   [`stats`] and [`histogram`]: the anytime-valid statistics it rests on;
//!   [`words`]: how its numbers read.
//! - [`synthetic`]: numbers with known rates, for tests; [`rollouts`]: whole rollouts on
//!   adversarial simulated fleets, judged as the watcher does (rate tests, benchmark);
//!   [`fleet`]: simulated devices following the real pointer (`airlock simulate`).
//!
//! `Workspace::analyze` (ops/analyze.rs) asks the question a rollout poses: its version
//! against the channel's current, from the start of the rollout (one test per rollout).

pub mod boundary;
pub mod cdn_logs;
pub mod compare;
pub mod fleet;
pub mod histogram;
pub mod imports;
pub mod judge;
pub mod layered;
pub mod policy;
pub mod prometheus;
pub mod rollouts;
pub mod samples;
pub mod source;
pub mod stats;
pub mod synthetic;
pub mod words;
