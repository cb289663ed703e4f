//! How far a channel's current release has reached, and whether devices can reach it: its
//! share of the channel's active devices 1 h, 24 h and 72 h after it reached 100 % (targets
//! 20, 80 and 95 %), and the share of update checks that fail over the last day (target
//! under 1 %, judged on its confidence bound). Reported, with warnings, by `airlock
//! adoption`; they never stop a rollout.

use crate::error::Result;
use crate::kpi::source::{KpiSource, Scope, Window};
use crate::kpi::{stats, words};
use crate::state::Placement;
use crate::workspace::Workspace;
use airlock_protocol::time::Timestamp;
use serde::Serialize;

/// Hours after a release reaches 100 %, and the share of active devices it should be on.
pub const MILESTONES: [(u32, f64); 3] = [(1, 0.20), (24, 0.80), (72, 0.95)];
/// Update checks that fail, at most.
pub const UPDATE_CHECK_FAILURES: f64 = 0.01;
/// How far back update checks are counted, in hours.
const CHECK_HOURS: i64 = 24;
const ALPHA: f64 = 0.05;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AdoptionReport {
    pub app: String,
    pub channel: String,
    /// The current release, and when it became current (reached 100 %).
    pub version: Option<String>,
    #[cfg_attr(feature = "specta", specta(type = Option<String>))]
    pub current_since: Option<Timestamp>,
    pub milestones: Vec<Milestone>,
    pub update_checks: Option<UpdateChecks>,
    /// Targets missed, in words.
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Milestone {
    pub hours: u32,
    #[cfg_attr(feature = "specta", specta(type = String))]
    pub at: Timestamp,
    pub target: f64,
    /// Its share of the active devices then; `None`: not reached yet, or no numbers.
    pub share: Option<f64>,
    pub met: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct UpdateChecks {
    #[cfg_attr(feature = "specta", specta(type = String))]
    pub from: Timestamp,
    #[cfg_attr(feature = "specta", specta(type = String))]
    pub to: Timestamp,
    pub checks: f64,
    pub failed: f64,
    pub rate: Option<f64>,
    /// The failure rate's confidence bounds.
    pub lower: f64,
    pub upper: f64,
    pub limit: f64,
    /// False only when the lower bound is above the limit.
    pub met: bool,
}

impl Workspace {
    /// `channel`'s adoption of its current release and its update checks; see the module
    /// note.
    pub async fn adoption(
        &self,
        app: &str,
        channel: &str,
        source: &dyn KpiSource,
    ) -> Result<AdoptionReport> {
        self.config.channel(channel)?;
        let state = self.load(app).await?;
        let c = state.channel(channel);
        let now = self.now();
        let mut report = AdoptionReport {
            app: app.to_string(),
            channel: channel.to_string(),
            version: c.current.clone(),
            current_since: None,
            milestones: Vec::new(),
            update_checks: None,
            warnings: Vec::new(),
        };
        let scope = Scope {
            app: app.to_string(),
            channel: channel.to_string(),
            versions: state.releases.keys().cloned().collect(),
            holdout: false,
        };
        if let Some(v) = &c.current
            && let Some(p) = c
                .placements
                .get(v)
                .filter(|p| p.placement == Placement::Current)
        {
            report.current_since = Some(p.since);
            for (hours, target) in MILESTONES {
                let at = p.since.plus_seconds(i64::from(hours) * 3600);
                let share = if at <= now {
                    let devices = source.active_devices_now(&scope, at).await?;
                    let all: f64 = devices.values().sum();
                    // No device on it while others report: a share of 0, not missing.
                    (all > 0.0).then(|| devices.get(v).copied().unwrap_or(0.0) / all)
                } else {
                    None
                };
                let met = share.map(|s| s >= target);
                if met == Some(false) {
                    report.warnings.push(format!(
                        "{v} was on {} of {channel}'s active devices {hours} h after it reached \
                         100 %, below the {} target",
                        words::percent(share.unwrap_or(0.0)),
                        words::percent(target)
                    ));
                }
                report.milestones.push(Milestone {
                    hours,
                    at,
                    target,
                    share,
                    met,
                });
            }
        }
        let window = Window::new(now.plus_seconds(-CHECK_HOURS * 3600), now, 300)?;
        if let Some((checks, failed)) = source.update_checks(&scope, &window).await? {
            let (lower, upper) = stats::rate_bounds(failed, checks, ALPHA);
            let met = lower <= UPDATE_CHECK_FAILURES;
            if !met {
                report.warnings.push(format!(
                    "{} of {} update checks failed in the last {CHECK_HOURS} h (at least {}), \
                     above the {} target: devices may not be reaching the pointer",
                    words::count(failed),
                    words::count(checks),
                    words::percent(lower),
                    words::percent(UPDATE_CHECK_FAILURES)
                ));
            }
            report.update_checks = Some(UpdateChecks {
                from: window.from,
                to: window.to,
                checks,
                failed,
                rate: (checks > 0.0).then(|| failed / checks),
                lower,
                upper,
                limit: UPDATE_CHECK_FAILURES,
                met,
            });
        }
        Ok(report)
    }
}
