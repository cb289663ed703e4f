//! Where the judge's numbers come from, behind one trait: Prometheus over its HTTP API
//! ([`super::prometheus`]), and an in-memory source for unit tests and simulations
//! ([`MemorySource`]). A source answers per version and per time bin of a window (the bin's
//! increase of a counter, or of a histogram's buckets), so the judge can condition each
//! bin's events on that bin's exposure. A version the source has nothing for is absent from
//! the answer: no data, which the judge treats as no evidence, never as a pass.

use super::histogram::Buckets;
use crate::error::{Error, Result};
use airlock_protocol::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A counter the devices (or the app's backend) export; docs/KPIS.md lists the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Counter {
    Sessions,
    CrashedSessions,
    JsErrorSessions,
    ApiRequests,
    ApiErrors,
    Downloads,
    DownloadFailures,
    SignatureFailures,
    DeviceRollbacks,
}

impl Counter {
    /// Its name (as serialised): also the name of its PromQL template and of its rows in
    /// the imported samples.
    pub fn key(self) -> &'static str {
        match self {
            Counter::Sessions => "sessions",
            Counter::CrashedSessions => "crashed-sessions",
            Counter::JsErrorSessions => "js-error-sessions",
            Counter::ApiRequests => "api-requests",
            Counter::ApiErrors => "api-errors",
            Counter::Downloads => "downloads",
            Counter::DownloadFailures => "download-failures",
            Counter::SignatureFailures => "signature-failures",
            Counter::DeviceRollbacks => "device-rollbacks",
        }
    }
}

/// A latency histogram the devices export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Latency {
    DownloadDuration,
    InstallDuration,
    FirstContentfulPaint,
    TimeToInteractive,
}

impl Latency {
    /// Its name (as serialised), also that of its PromQL template.
    pub fn key(self) -> &'static str {
        match self {
            Latency::DownloadDuration => "download-duration",
            Latency::InstallDuration => "install-duration",
            Latency::FirstContentfulPaint => "first-contentful-paint",
            Latency::TimeToInteractive => "time-to-interactive",
        }
    }
}

/// Whose numbers: an app's channel, for these versions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub app: String,
    pub channel: String,
    pub versions: Vec<String>,
    /// Only the devices of the channel's randomized holdout (their series carry
    /// `cohort="holdout"`; docs/KPIS.md, "The holdout"), not every device on these versions.
    pub holdout: bool,
}

/// A window cut into bins of `step_seconds`, the first starting at `from`. A last part
/// shorter than a step is left out (at most one step of the newest data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub from: Timestamp,
    pub to: Timestamp,
    pub step_seconds: i64,
}

impl Window {
    pub fn new(from: Timestamp, to: Timestamp, step_seconds: i64) -> Result<Self> {
        if step_seconds <= 0 {
            return Err(Error::InvalidInput(format!(
                "a KPI step must be a positive number of seconds, not {step_seconds}"
            )));
        }
        if to <= from {
            return Err(Error::InvalidInput(format!(
                "the window must end after it starts ({from} .. {to})"
            )));
        }
        Ok(Self {
            from,
            to,
            step_seconds,
        })
    }

    pub fn bins(&self) -> usize {
        usize::try_from((self.to.unix() - self.from.unix()) / self.step_seconds).unwrap_or(0)
    }

    /// When bin `i` ends (its values are the increase over the step before).
    pub fn bin_end(&self, i: usize) -> Timestamp {
        self.from.plus_seconds(self.step_seconds * (i as i64 + 1))
    }

    /// When the last whole bin ends; `None` when the window holds none.
    pub fn last_bin_end(&self) -> Option<Timestamp> {
        self.bins().checked_sub(1).map(|i| self.bin_end(i))
    }

    /// The window's length in hours, whole bins only.
    pub fn hours(&self) -> f64 {
        (self.bins() as f64 * self.step_seconds as f64) / 3600.0
    }
}

/// Per version, one value per bin.
pub type Counts = BTreeMap<String, Vec<f64>>;
/// Per version, one histogram (of that bin's observations) per bin.
pub type Histograms = BTreeMap<String, Vec<Buckets>>;

#[async_trait::async_trait]
pub trait KpiSource: Send + Sync + std::fmt::Debug {
    /// How much `what` increased in each bin of `window`, per version of `scope`.
    async fn counts(&self, what: Counter, scope: &Scope, window: &Window) -> Result<Counts>;
    /// Each bin's observations of `what`, per version.
    async fn histograms(&self, what: Latency, scope: &Scope, window: &Window)
    -> Result<Histograms>;
    /// Devices active per version, averaged over the hour before `at`.
    async fn active_devices(&self, scope: &Scope, at: Timestamp) -> Result<BTreeMap<String, f64>>;
    /// Devices active per version as last reported at `at` (not averaged: how far devices
    /// have moved by then). By default the hour's average.
    async fn active_devices_now(
        &self,
        scope: &Scope,
        at: Timestamp,
    ) -> Result<BTreeMap<String, f64>> {
        self.active_devices(scope, at).await
    }
    /// The channel's update checks over `window` (whole bins) and how many failed, summed
    /// over every version; `None` when the source has none.
    async fn update_checks(&self, _scope: &Scope, _window: &Window) -> Result<Option<(f64, f64)>> {
        Ok(None)
    }
}

/// Numbers held in memory: increments at instants, summed into whatever window is asked.
/// Made with [`MemorySource::of`], it holds one app's channel and answers nothing for any
/// other (as Prometheus would); the default answers every scope with the same numbers.
#[derive(Debug, Default)]
pub struct MemorySource {
    inner: Mutex<Memory>,
    only: Option<(String, String)>,
}

type Key<T> = (T, String);

/// What [`MemorySource::held`] appends to a version (a NUL: never part of a version).
const HELD: &str = "\u{0}holdout";

/// `v`'s active devices in `scope`: each name's samples within (from, at] reduced by `one`,
/// summed over the names (as `sum by (version)` would); `None` when no name has any.
fn active(
    m: &Memory,
    scope: &Scope,
    v: &str,
    (from, at): (Timestamp, Timestamp),
    one: impl Fn(Vec<&(Timestamp, f64)>) -> Option<f64>,
) -> Option<f64> {
    names(scope, v)
        .iter()
        .filter_map(|name| {
            let seen = m.active.get(name)?;
            one(seen.iter().filter(|(t, _)| *t > from && *t <= at).collect())
        })
        .reduce(|a, b| a + b)
}

/// The names a scope reads `v`'s numbers under: its holdout's alone, or all of them.
fn names(scope: &Scope, v: &str) -> Vec<String> {
    if scope.holdout {
        vec![MemorySource::held(v)]
    } else {
        vec![v.to_string(), MemorySource::held(v)]
    }
}

#[derive(Debug, Default)]
struct Memory {
    counts: BTreeMap<Key<Counter>, Vec<(Timestamp, f64)>>,
    histograms: BTreeMap<Key<Latency>, Vec<(Timestamp, Buckets)>>,
    active: BTreeMap<String, Vec<(Timestamp, f64)>>,
    /// Update checks at instants: (checks, failed).
    checks: Vec<(Timestamp, f64, f64)>,
}

/// Which bin of `w` an increment at `at` falls in: bins hold (start, end].
fn bin_of(w: &Window, at: Timestamp) -> Option<usize> {
    let offset = at.unix() - w.from.unix();
    if offset <= 0 {
        return None;
    }
    let i = usize::try_from((offset - 1) / w.step_seconds).ok()?;
    (i < w.bins()).then_some(i)
}

impl MemorySource {
    /// A source holding only `app`'s `channel`.
    pub fn of(app: &str, channel: &str) -> Self {
        Self {
            inner: Mutex::default(),
            only: Some((app.to_string(), channel.to_string())),
        }
    }

    fn holds(&self, scope: &Scope) -> bool {
        self.only
            .as_ref()
            .is_none_or(|(a, c)| *a == scope.app && *c == scope.channel)
    }

    /// The name under which numbers of `version`'s devices in the channel's holdout are
    /// added ([`MemorySource::add`] and the rest): a scope with `holdout` reads only these,
    /// one without reads them with the rest of `version`'s, as Prometheus would.
    pub fn held(version: &str) -> String {
        format!("{version}{HELD}")
    }

    /// `what` of `version` increased by `by` at `at`.
    pub fn add(&self, what: Counter, version: &str, at: Timestamp, by: f64) {
        let mut m = self.inner.lock().expect("memory source poisoned");
        m.counts
            .entry((what, version.to_string()))
            .or_default()
            .push((at, by));
    }

    /// `version` made the observations `buckets` (cumulative, ending `+Inf`) at `at`.
    pub fn observe(&self, what: Latency, version: &str, at: Timestamp, buckets: Buckets) {
        let mut m = self.inner.lock().expect("memory source poisoned");
        m.histograms
            .entry((what, version.to_string()))
            .or_default()
            .push((at, buckets));
    }

    /// `checks` update checks, `failed` of which failed, at `at`.
    pub fn add_update_checks(&self, at: Timestamp, checks: f64, failed: f64) {
        let mut m = self.inner.lock().expect("memory source poisoned");
        m.checks.push((at, checks, failed));
    }

    /// `n` devices ran `version` at `at`.
    pub fn set_active(&self, version: &str, at: Timestamp, n: f64) {
        let mut m = self.inner.lock().expect("memory source poisoned");
        m.active
            .entry(version.to_string())
            .or_default()
            .push((at, n));
    }
}

#[async_trait::async_trait]
impl KpiSource for MemorySource {
    async fn counts(&self, what: Counter, scope: &Scope, window: &Window) -> Result<Counts> {
        let m = self.inner.lock().expect("memory source poisoned");
        let mut out = Counts::new();
        if !self.holds(scope) {
            return Ok(out);
        }
        for v in &scope.versions {
            let items: Vec<&(Timestamp, f64)> = names(scope, v)
                .into_iter()
                .filter_map(|n| m.counts.get(&(what, n)))
                .flatten()
                .collect();
            if items.is_empty() {
                continue;
            }
            let mut bins = vec![0.0; window.bins()];
            for (at, by) in items {
                if let Some(i) = bin_of(window, *at) {
                    bins[i] += by;
                }
            }
            out.insert(v.clone(), bins);
        }
        Ok(out)
    }

    async fn histograms(
        &self,
        what: Latency,
        scope: &Scope,
        window: &Window,
    ) -> Result<Histograms> {
        let m = self.inner.lock().expect("memory source poisoned");
        let mut out = Histograms::new();
        if !self.holds(scope) {
            return Ok(out);
        }
        for v in &scope.versions {
            let items: Vec<&(Timestamp, Buckets)> = names(scope, v)
                .into_iter()
                .filter_map(|n| m.histograms.get(&(what, n)))
                .flatten()
                .collect();
            if items.is_empty() {
                continue;
            }
            let mut bins: Vec<Vec<Buckets>> = vec![Vec::new(); window.bins()];
            for (at, b) in items {
                if let Some(i) = bin_of(window, *at) {
                    bins[i].push(b.clone());
                }
            }
            out.insert(
                v.clone(),
                bins.iter().map(|h| super::histogram::sum(h)).collect(),
            );
        }
        Ok(out)
    }

    async fn active_devices(&self, scope: &Scope, at: Timestamp) -> Result<BTreeMap<String, f64>> {
        let m = self.inner.lock().expect("memory source poisoned");
        let from = at.plus_seconds(-3600);
        let mut out = BTreeMap::new();
        if !self.holds(scope) {
            return Ok(out);
        }
        for v in &scope.versions {
            // The hour's average.
            let average = |seen: Vec<&(Timestamp, f64)>| {
                (!seen.is_empty())
                    .then(|| seen.iter().map(|(_, n)| n).sum::<f64>() / seen.len() as f64)
            };
            if let Some(n) = active(&m, scope, v, (from, at), average) {
                out.insert(v.clone(), n);
            }
        }
        Ok(out)
    }

    async fn active_devices_now(
        &self,
        scope: &Scope,
        at: Timestamp,
    ) -> Result<BTreeMap<String, f64>> {
        let m = self.inner.lock().expect("memory source poisoned");
        let mut out = BTreeMap::new();
        if !self.holds(scope) {
            return Ok(out);
        }
        // The newest sample within five minutes, as Prometheus's lookback.
        let from = at.plus_seconds(-300);
        for v in &scope.versions {
            let newest = |seen: Vec<&(Timestamp, f64)>| {
                seen.into_iter().max_by_key(|(t, _)| *t).map(|(_, n)| *n)
            };
            if let Some(n) = active(&m, scope, v, (from, at), newest) {
                out.insert(v.clone(), n);
            }
        }
        Ok(out)
    }

    async fn update_checks(&self, scope: &Scope, window: &Window) -> Result<Option<(f64, f64)>> {
        let m = self.inner.lock().expect("memory source poisoned");
        if !self.holds(scope) || m.checks.is_empty() {
            return Ok(None);
        }
        let inside = m
            .checks
            .iter()
            .filter(|(at, ..)| bin_of(window, *at).is_some());
        Ok(Some(
            inside.fold((0.0, 0.0), |(n, f), (_, c, x)| (n + c, f + x)),
        ))
    }
}
