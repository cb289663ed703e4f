//! Two sources as one: Prometheus asked live first, the samples kept in SQLite (crash-tool
//! imports, CDN logs) for whatever Prometheus has nothing on. Decided per family of
//! metrics that are judged together — sessions with crashed and JS-error sessions, downloads
//! with their failures, signature failures and device-side rollbacks, API requests with
//! their errors — never per metric or per release: a KPI's events and its exposure, and
//! both of its cohorts, always come from one system. (Prometheus answering sessions but no
//! crashed sessions means none crashed, not "ask the crash tool".)
//!
//! Which source owns a family over a scope and window is decided once and remembered: the
//! judge asks for each counter of a family in turn, and a family Prometheus lacks (downloads,
//! when they come from CDN logs) would otherwise cost a query per sibling per counter.

use super::source::{Counter, Counts, Histograms, KpiSource, Latency, Scope, Window};
use crate::error::Result;
use airlock_protocol::time::Timestamp;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug)]
pub struct Layered {
    first: Box<dyn KpiSource>,
    then: Box<dyn KpiSource>,
    /// Whether `first` owns a family over a scope and window, by (family, scope, window).
    owners: Mutex<BTreeMap<String, bool>>,
}

/// How many ownership answers are kept: a long-running watcher asks over new windows on
/// every pass, so older answers are dropped rather than kept for ever.
const OWNERS_KEPT: usize = 1024;

impl Layered {
    pub fn new(first: Box<dyn KpiSource>, then: Box<dyn KpiSource>) -> Self {
        Self {
            first,
            then,
            owners: Mutex::default(),
        }
    }

    /// Whether `first` has any of `what`'s family over `scope` and `window` (`first_what`:
    /// what it answered on `what` itself).
    async fn first_owns(
        &self,
        what: Counter,
        first_what: &Counts,
        scope: &Scope,
        window: &Window,
    ) -> Result<bool> {
        if !first_what.is_empty() {
            return Ok(true);
        }
        let key = format!("{:?}|{scope:?}|{window:?}", family(what));
        if let Some(owned) = self.owners.lock().expect("not poisoned").get(&key) {
            return Ok(*owned);
        }
        let mut owned = false;
        for other in family(what).iter().filter(|c| **c != what) {
            if !self.first.counts(*other, scope, window).await?.is_empty() {
                owned = true;
                break;
            }
        }
        let mut owners = self.owners.lock().expect("not poisoned");
        if owners.len() >= OWNERS_KEPT {
            owners.clear();
        }
        owners.insert(key, owned);
        Ok(owned)
    }
}

/// The counters judged together with `c` (its own family, `c` included).
fn family(c: Counter) -> &'static [Counter] {
    use Counter::*;
    match c {
        Sessions | CrashedSessions | JsErrorSessions => {
            &[Sessions, CrashedSessions, JsErrorSessions]
        }
        Downloads | DownloadFailures | SignatureFailures | DeviceRollbacks => &[
            Downloads,
            DownloadFailures,
            SignatureFailures,
            DeviceRollbacks,
        ],
        ApiRequests | ApiErrors => &[ApiRequests, ApiErrors],
    }
}

#[async_trait::async_trait]
impl KpiSource for Layered {
    async fn counts(&self, what: Counter, scope: &Scope, window: &Window) -> Result<Counts> {
        // The first source owns `what` if it has any of its family (a counter never
        // incremented has no series, and then counts zero).
        let first = self.first.counts(what, scope, window).await?;
        if self.first_owns(what, &first, scope, window).await? {
            return Ok(first);
        }
        self.then.counts(what, scope, window).await
    }

    async fn histograms(
        &self,
        what: Latency,
        scope: &Scope,
        window: &Window,
    ) -> Result<Histograms> {
        let first = self.first.histograms(what, scope, window).await?;
        if !first.is_empty() {
            return Ok(first);
        }
        self.then.histograms(what, scope, window).await
    }

    async fn active_devices(&self, scope: &Scope, at: Timestamp) -> Result<BTreeMap<String, f64>> {
        let first = self.first.active_devices(scope, at).await?;
        if !first.is_empty() {
            return Ok(first);
        }
        self.then.active_devices(scope, at).await
    }

    async fn active_devices_now(
        &self,
        scope: &Scope,
        at: Timestamp,
    ) -> Result<BTreeMap<String, f64>> {
        let first = self.first.active_devices_now(scope, at).await?;
        if !first.is_empty() {
            return Ok(first);
        }
        self.then.active_devices_now(scope, at).await
    }

    async fn update_checks(&self, scope: &Scope, window: &Window) -> Result<Option<(f64, f64)>> {
        match self.first.update_checks(scope, window).await? {
            Some(found) => Ok(Some(found)),
            None => self.then.update_checks(scope, window).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kpi::source::MemorySource;

    /// A source that counts the questions it is asked (in `asked`, shared with the test).
    #[derive(Debug, Default)]
    struct Counting {
        inner: MemorySource,
        asked: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    #[async_trait::async_trait]
    impl KpiSource for Counting {
        async fn counts(&self, what: Counter, scope: &Scope, window: &Window) -> Result<Counts> {
            self.asked
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.inner.counts(what, scope, window).await
        }
        async fn histograms(&self, w: Latency, s: &Scope, win: &Window) -> Result<Histograms> {
            self.inner.histograms(w, s, win).await
        }
        async fn active_devices(&self, s: &Scope, at: Timestamp) -> Result<BTreeMap<String, f64>> {
            self.inner.active_devices(s, at).await
        }
    }

    #[tokio::test]
    async fn who_owns_a_family_is_asked_once_per_window() {
        let t0 = Timestamp::from_unix(1_800_000_000).unwrap();
        let logs = MemorySource::default();
        logs.add(Counter::Downloads, "2.0.0", t0.plus_seconds(60), 4.0);
        let prom = Counting::default();
        let asked = prom.asked.clone();
        let l = Layered::new(Box::new(prom), Box::new(logs));
        let scope = Scope {
            app: "shop".into(),
            channel: "Production".into(),
            versions: vec!["2.0.0".into()],
            holdout: false,
        };
        let w = Window::new(t0, t0.plus_seconds(300), 300).unwrap();
        let family = [
            Counter::Downloads,
            Counter::DownloadFailures,
            Counter::SignatureFailures,
            Counter::DeviceRollbacks,
        ];
        for c in family {
            l.counts(c, &scope, &w).await.unwrap();
        }
        assert_eq!(
            asked.load(std::sync::atomic::Ordering::Relaxed),
            7,
            "each counter once, and its three siblings once for the family (not 16)"
        );
        assert_eq!(
            l.counts(Counter::Downloads, &scope, &w).await.unwrap()["2.0.0"],
            [4.0]
        );
    }

    #[tokio::test]
    async fn each_family_of_metrics_comes_whole_from_one_source() {
        let t0 = Timestamp::from_unix(1_800_000_000).unwrap();
        let (prom, logs) = (MemorySource::default(), MemorySource::default());
        prom.add(Counter::Sessions, "2.0.0", t0.plus_seconds(60), 100.0);
        logs.add(Counter::Sessions, "1.0.0", t0.plus_seconds(60), 900.0);
        logs.add(Counter::CrashedSessions, "2.0.0", t0.plus_seconds(60), 9.0);
        logs.add(Counter::Downloads, "1.0.0", t0.plus_seconds(60), 40.0);
        logs.add(Counter::Downloads, "2.0.0", t0.plus_seconds(60), 4.0);
        let l = Layered::new(Box::new(prom), Box::new(logs));
        let scope = Scope {
            app: "shop".into(),
            channel: "Production".into(),
            versions: vec!["2.0.0".into(), "1.0.0".into()],
            holdout: false,
        };
        let w = Window::new(t0, t0.plus_seconds(300), 300).unwrap();
        let sessions = l.counts(Counter::Sessions, &scope, &w).await.unwrap();
        assert_eq!(
            sessions.keys().collect::<Vec<_>>(),
            ["2.0.0"],
            "Prometheus has sessions: the logs' sessions of 1.0.0 must not be mixed in"
        );
        assert!(
            l.counts(Counter::CrashedSessions, &scope, &w)
                .await
                .unwrap()
                .is_empty(),
            "Prometheus owns the sessions family: no crash there means none, not the import's"
        );
        let downloads = l.counts(Counter::Downloads, &scope, &w).await.unwrap();
        assert_eq!(downloads["1.0.0"], [40.0]);
        assert_eq!(
            downloads["2.0.0"],
            [4.0],
            "Prometheus has no downloads: the logs answer"
        );
    }
}
