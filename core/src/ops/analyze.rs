//! `airlock analyze`: the question a rollout poses, put to the judge. By default the
//! candidate is the channel's rollout version, the baseline its current release, and the
//! window runs from the start of the rollout's current step to now; any of them can be
//! given instead (an explicit window is judged as given, even one before the rollout began:
//! a backtest). The answer depends only on the log and the KPI source, so every desktop and
//! CI job asking it over the same window gets the same verdict.

use crate::error::{Error, Result};
use crate::kpi::imports::{self, Removal, RemovalReport};
use crate::kpi::judge::{self, Question, Verdict};
use crate::kpi::layered::Layered;
use crate::kpi::policy::GatePolicy;
use crate::kpi::prometheus::PrometheusSource;
use crate::kpi::samples::{self, ImportReport, ImportRequest, SampleSource};
use crate::kpi::source::{KpiSource, Window};
use crate::state::Rollout;
use crate::workspace::Workspace;
use airlock_protocol::bucketing::FULL;
use airlock_protocol::layout;
use airlock_protocol::time::Timestamp;

#[derive(Clone, Debug, Default)]
pub struct AnalyzeRequest {
    pub app: String,
    pub channel: String,
    pub candidate: Option<String>,
    pub baseline: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

impl Workspace {
    /// The KPI source: the Prometheus `[kpi.prometheus]` configures (credentials from the
    /// keychain), with the samples stored in this registry (crash-tool exports from
    /// `airlock kpi import`, CDN logs from `airlock kpi ingest`) for the metrics it has
    /// nothing on; without a Prometheus, those samples alone.
    pub async fn kpi_source(&self) -> Result<Box<dyn KpiSource>> {
        let kpi = self.config.kpi.clone().unwrap_or_default();
        let Some(prom) = &kpi.prometheus else {
            if self.registry.has_kpi_samples().await? {
                return Ok(Box::new(SampleSource::new(self.registry.clone())));
            }
            return Err(Error::Config(
                "no KPI source: add `[kpi.prometheus]` with `url = \"http://…\"` to airlock.toml, \
                 import a crash tool's export with `airlock kpi import`, or read CDN logs with \
                 `airlock kpi ingest` (docs/KPIS.md)"
                    .into(),
            ));
        };
        let keychain = match prom.auth {
            Some(_) => Some(self.keychain()?),
            None => None,
        };
        let prometheus = Box::new(PrometheusSource::new(
            prom,
            &kpi.queries,
            keychain.as_deref(),
        )?);
        if !self.registry.has_kpi_samples().await? {
            return Ok(prometheus);
        }
        Ok(Box::new(Layered::new(
            prometheus,
            Box::new(SampleSource::new(self.registry.clone())),
        )))
    }

    /// Imports a crash tool's export into this registry (all or nothing; once per file; its
    /// rows replace what earlier imports stored for the same release and bucket).
    pub async fn import_kpi(&self, req: &ImportRequest) -> Result<ImportReport> {
        layout::validate_app_name(&req.app)?;
        self.config.channel(&req.channel)?;
        samples::import(&self.registry, req, self.now()).await
    }

    /// Removes crash-tool imports for `app` in `channel`: one named by its file or SHA-256,
    /// or all of them (their numbers and their records; see kpi/imports.rs).
    pub async fn remove_kpi_imports(
        &self,
        app: &str,
        channel: &str,
        which: &Removal,
    ) -> Result<RemovalReport> {
        layout::validate_app_name(app)?;
        self.config.channel(channel)?;
        imports::remove(&self.registry, app, channel, which).await
    }

    /// `channel`'s gate: its KPIs, limits, windows and what it may do alone, from `[kpi]`.
    pub fn gate_policy(&self, channel: &str) -> Result<GatePolicy> {
        self.config.kpi.clone().unwrap_or_default().policy(channel)
    }

    /// How long `r`'s current step is observed in `channel`, and how much of it has passed
    /// (both in seconds).
    pub(crate) fn step_window(
        &self,
        channel: &str,
        r: &Rollout,
        policy: &GatePolicy,
    ) -> Result<(i64, i64)> {
        let window = policy.window_seconds(r.step, self.config.channel(channel)?.protected);
        Ok((window, self.now().unix() - r.step_started_at.unix()))
    }

    /// Judges `req` on `source`'s numbers under the channel's gate policy.
    pub async fn analyze(&self, req: &AnalyzeRequest, source: &dyn KpiSource) -> Result<Verdict> {
        self.config.channel(&req.channel)?;
        let state = self.load(&req.app).await?;
        let channel = state.channel(&req.channel);
        let rollout = channel.rollout.as_ref();
        let candidate = match (&req.candidate, rollout) {
            (Some(v), _) => v.clone(),
            (None, Some(r)) => r.version.clone(),
            (None, None) => {
                return Err(Error::InvalidInput(format!(
                    "{} has no rollout in {}; name the release to judge with --candidate",
                    req.app, req.channel
                )));
            }
        };
        let baseline = match (&req.baseline, &channel.current) {
            (Some(v), _) => v.clone(),
            (None, Some(v)) => v.clone(),
            (None, None) => {
                return Err(Error::InvalidInput(format!(
                    "{} has no current release in {} to compare with; name one with --baseline",
                    req.app, req.channel
                )));
            }
        };
        if candidate == baseline {
            return Err(Error::InvalidInput(format!(
                "the candidate and the baseline are both {candidate}; a release cannot be judged \
                 against itself"
            )));
        }
        for v in [&candidate, &baseline] {
            state.release(v)?;
        }
        // The rollout's numbers apply only when it is the candidate being judged.
        let judged = rollout.filter(|r| r.version == candidate);
        let from = match (req.from, judged) {
            (Some(t), _) => t,
            (None, Some(r)) => r.started_at,
            (None, None) => {
                return Err(Error::InvalidInput(format!(
                    "{candidate} is not rolling out in {}; give the window with --from",
                    req.channel
                )));
            }
        };
        // The channel's current release against the release its holdout keeps: the
        // holdout's devices alone are the baseline, and only while the holdout lasts.
        let held = channel.holdout.as_ref().filter(|h| {
            judged.is_none()
                && channel.current.as_deref() == Some(candidate.as_str())
                && h.version == baseline
                && req.from.is_none_or(|f| f < h.until)
        });
        let mut to = req.to.unwrap_or_else(|| self.now());
        if let Some(h) = held {
            to = to.min(h.until);
        }
        let policy = self.gate_policy(&req.channel)?;
        let window = Window::new(from, to, policy.step_seconds)?;
        let share = |bp: u32| f64::from(bp) / f64::from(FULL);
        let question = Question {
            app: req.app.clone(),
            channel: req.channel.clone(),
            candidate,
            baseline,
            window,
            rollout_share: judged
                .map(|r| share(r.basis_points))
                .or(held.map(|h| 1.0 - share(h.basis_points))),
            next_share: judged.map(|r| share(r.next_step())),
            alpha_share: if judged.is_some() {
                judge::ROLLOUT_ALPHA
            } else {
                judge::STAY_ALPHA
            },
            holdout: held.is_some(),
        };
        judge::judge(source, &question, &policy).await
    }
}
