//! The KPI panels of a channel over a range (charts/panels.rs draws them): the range
//! settled (by default the current rollout, else the last 7 days; 1 hour to 30 days), the
//! numbers fetched once from the KPI source at the gate's step (coarser only where a range
//! would need more than [`MAX_FETCH_BINS`] bins), the log's rollout and markers folded in.
//! The console's KPI screen and `airlock chart` both come here.

use crate::charts::data::{self, ChartData};
use crate::charts::{KpiChart, Panel, Theme, panels};
use crate::error::{Error, Result};
use crate::kpi::source::{Counter, KpiSource, Latency, Scope};
use crate::workspace::Workspace;
use airlock_protocol::layout;
use airlock_protocol::time::Timestamp;

/// The shortest and longest range a chart draws.
pub const MIN_RANGE: i64 = 3600;
pub const MAX_RANGE: i64 = 30 * 86_400;
/// The most bins asked of the source per series (Prometheus answers at most 11,000 points).
pub const MAX_FETCH_BINS: i64 = 10_000;
/// The version label devices running their built-in bundle report (docs/KPIS.md).
pub const BUILT_IN: &str = "built-in";
/// The range when there is no rollout to show.
pub const DEFAULT_RANGE: i64 = 7 * 86_400;

#[derive(Clone, Debug)]
pub struct ChartRequest {
    pub app: String,
    pub channel: String,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub theme: Theme,
    pub width: u32,
}

impl Workspace {
    /// The numbers and history `req`'s panels are drawn from.
    pub async fn chart_data(
        &self,
        req: &ChartRequest,
        source: &dyn KpiSource,
    ) -> Result<ChartData> {
        layout::validate_app_name(&req.app)?;
        self.config().channel(&req.channel)?;
        let now = self.now().unix();
        // Nothing is drawn past now: there are no numbers there yet.
        let to = req.to.map_or(now, |t| t.unix().min(now));
        let entries = self.registry().entries(&req.app).await?;
        if entries.is_empty() {
            return Err(Error::NotFound(format!(
                "{} has no history in this workspace (sync it or check the name)",
                req.app
            )));
        }
        let from = match req.from {
            Some(f) => {
                let span = to - f.unix();
                if !(MIN_RANGE..=MAX_RANGE).contains(&span) {
                    return Err(Error::InvalidInput(format!(
                        "a chart covers 1 hour to 30 days; {} to {} is {}",
                        f,
                        Timestamp::from_unix(to).map_or_else(|_| to.to_string(), |t| t.to_string()),
                        span_words(span)
                    )));
                }
                f.unix()
            }
            None => {
                let (rolling, _, _) = data::from_log(&entries, &req.channel, to, to);
                let start = rolling
                    .filter(|r| r.ended.is_none())
                    .map_or(to - DEFAULT_RANGE, |r| r.started);
                start.clamp(to - MAX_RANGE, to - MIN_RANGE)
            }
        };
        let policy = self.gate_policy(&req.channel)?;
        let span = to - from;
        let base = policy.step_seconds.max(1);
        let per_bin = (span / base + MAX_FETCH_BINS - 1) / MAX_FETCH_BINS;
        let step = base * per_bin.max(1);
        let bins = usize::try_from(span / step).unwrap_or(0);
        if bins == 0 {
            return Err(Error::InvalidInput(format!(
                "a chart of {} holds no whole step of the KPI source ({step} s): widen the range",
                span_words(span)
            )));
        }
        let (rollout, mut versions, marks) = data::from_log(&entries, &req.channel, from, to);
        // Every release of the app (a device in the channel may run one the channel's log
        // never named: a release from a channel it left), from the registry (no store
        // request), and the devices' built-in bundle.
        if let Some((state, _)) = self.registry_state(&req.app).await? {
            for v in state.releases.keys() {
                if !versions.contains(v) {
                    versions.push(v.clone());
                }
            }
        }
        versions.push(BUILT_IN.to_string());
        let scope = Scope {
            app: req.app.clone(),
            channel: req.channel.clone(),
            versions,
            holdout: false,
        };
        let window = crate::kpi::source::Window::new(
            Timestamp::from_unix(from)?,
            Timestamp::from_unix(from + bins as i64 * step)?,
            step,
        )?;
        // What the gate reads, and what the delivery panels draw.
        let (counters, mut latencies) = crate::kpi::judge::reads(
            &policy,
            &[
                Counter::CrashedSessions,
                Counter::Downloads,
                Counter::DownloadFailures,
            ],
        );
        if !latencies.contains(&Latency::InstallDuration) {
            latencies.push(Latency::InstallDuration);
        }
        let mut d = ChartData {
            app: req.app.clone(),
            channel: req.channel.clone(),
            from,
            to: from + bins as i64 * step,
            step,
            bins,
            counts: Default::default(),
            histograms: Default::default(),
            policy,
            rollout,
            marks,
        };
        if scope.versions.is_empty() {
            return Ok(d);
        }
        for c in counters {
            d.counts.insert(c, source.counts(c, &scope, &window).await?);
        }
        for l in latencies {
            d.histograms
                .insert(l, source.histograms(l, &scope, &window).await?);
        }
        Ok(d)
    }

    /// `panels` of `req`'s channel, drawn from one fetch.
    pub async fn kpi_charts(
        &self,
        req: &ChartRequest,
        panels: &[Panel],
        source: &dyn KpiSource,
    ) -> Result<Vec<KpiChart>> {
        let d = self.chart_data(req, source).await?;
        panels::draw_all(&d, panels, req.theme, req.width)
    }
}

fn span_words(seconds: i64) -> String {
    if seconds.abs() >= 86_400 {
        format!("{:.1} days", seconds as f64 / 86_400.0)
    } else {
        format!("{:.1} hours", seconds as f64 / 3600.0)
    }
}
