//! The weekly rollup (`airlock report weekly`, the console's Reports screen): for one ISO
//! week, per app, the releases published with their one-line description; delivery health
//! (download success, install time p95, signature failures) and experience health
//! (crash-free sessions, JS error rate) against their targets, from the same KPI source the
//! gate reads; each version's adoption 24 h and 48 h after reaching 100 %; incidents with
//! severity, duration and time to fix (opened → a fix release at 100 %); releases staged but
//! not yet in the production channel; and "all quiet" when it was. Written as Markdown,
//! HTML (tables: mail clients do not show SVG) and an RFC 5322 message (`.eml`,
//! multipart/alternative, at most one PNG chart inline by Content-ID) — no mail server.

use crate::charts::frame::MONTHS;
use crate::charts::{Panel, Theme, png};
use crate::error::{Error, Result};
use crate::kpi::histogram;
use crate::kpi::policy::Kpi;
use crate::kpi::source::{Counter, KpiSource, Latency, Scope, Window};
use crate::kpi::words;
use crate::log::Event;
use crate::ops::kpi_charts::{BUILT_IN, ChartRequest};
use crate::workspace::Workspace;
use airlock_protocol::bucketing::FULL;
use airlock_protocol::time::Timestamp;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// An ISO week: Monday 00:00 UTC to the next Monday.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Week {
    pub year: i32,
    pub week: u8,
}

impl Week {
    /// `2026-W49`.
    pub fn parse(text: &str) -> Result<Week> {
        let bad = || {
            Error::InvalidInput(format!(
                "--week {text:?}: write an ISO week as YYYY-Www (2026-W49)"
            ))
        };
        let (y, w) = text.trim().split_once("-W").ok_or_else(bad)?;
        let week = Week {
            year: y.parse().map_err(|_| bad())?,
            week: w.parse().map_err(|_| bad())?,
        };
        week.start().map_err(|_| bad())?;
        Ok(week)
    }

    /// The last whole week before `now`.
    pub fn before(now: Timestamp) -> Week {
        let last = now.to_datetime().date() - time::Duration::days(7);
        let (year, week, _) = last.to_iso_week_date();
        Week { year, week }
    }

    pub fn start(&self) -> Result<Timestamp> {
        let d = time::Date::from_iso_week_date(self.year, self.week, time::Weekday::Monday)
            .map_err(|e| Error::InvalidInput(format!("{self}: {e}")))?;
        Ok(Timestamp::from_datetime(d.midnight().assume_utc()))
    }

    pub fn end(&self) -> Result<Timestamp> {
        Ok(self.start()?.plus_seconds(7 * 86_400))
    }

    /// "Nov 30–Dec 6, 2026".
    pub fn span_words(&self) -> Result<String> {
        let a = self.start()?.to_datetime();
        let b = (self.end()?.plus_seconds(-1)).to_datetime();
        let m = |d: &time::OffsetDateTime| MONTHS[usize::from(u8::from(d.month())) - 1];
        Ok(if a.month() == b.month() {
            format!("{} {}–{}, {}", m(&a), a.day(), b.day(), b.year())
        } else if a.year() == b.year() {
            format!("{} {}–{} {}, {}", m(&a), a.day(), m(&b), b.day(), b.year())
        } else {
            format!(
                "{} {}, {}–{} {}, {}",
                m(&a),
                a.day(),
                a.year(),
                m(&b),
                b.day(),
                b.year()
            )
        })
    }
}

impl std::fmt::Display for Week {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-W{:02}", self.year, self.week)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ReleaseLine {
    pub version: String,
    pub date: String,
    pub description: String,
}

/// One KPI over the week against its target.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct HealthLine {
    /// `delivery` or `experience`.
    pub group: String,
    pub name: String,
    pub value: String,
    pub target: String,
    /// `None`: no numbers this week.
    pub met: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct AdoptionLine {
    pub version: String,
    pub reached: String,
    /// Share of the active devices 24 h and 48 h after reaching 100 % (`None`: not yet, or
    /// no numbers).
    #[serde(rename = "at24h")]
    pub at_24h: Option<f64>,
    #[serde(rename = "at48h")]
    pub at_48h: Option<f64>,
    /// Whether 24 h (48 h) after reaching 100 % had passed when the rollup was made.
    #[serde(rename = "due24h")]
    pub due_24h: bool,
    #[serde(rename = "due48h")]
    pub due_48h: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct IncidentLine {
    pub number: u64,
    pub version: String,
    pub channel: String,
    pub severity: u8,
    pub opened: String,
    /// Opened to closed, in hours (`None`: still open).
    pub duration_hours: Option<f64>,
    /// Opened to a later release at 100 % in the channel, in hours (`None`: none yet).
    pub time_to_fix_hours: Option<f64>,
    pub fix: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct AppRollup {
    pub app: String,
    pub channel: String,
    pub releases: Vec<ReleaseLine>,
    pub health: Vec<HealthLine>,
    pub adoption: Vec<AdoptionLine>,
    pub incidents: Vec<IncidentLine>,
    /// Staged, not yet in the production channel: (version, where it is).
    pub next: Vec<ReleaseLine>,
    /// "All quiet: …" when nothing went wrong.
    pub quiet: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Rollup {
    pub week: String,
    pub title: String,
    pub from: String,
    pub to: String,
    pub apps: Vec<AppRollup>,
}

/// The files written: Markdown, HTML and the message.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct RollupFiles {
    pub rollup: Rollup,
    pub markdown: String,
    pub html: String,
    pub eml: String,
}

fn date(t: Timestamp) -> String {
    t.to_string()[..10].to_string()
}

fn hours(seconds: i64) -> f64 {
    seconds as f64 / 3600.0
}

impl Workspace {
    /// The production channel the rollup reports on: the first protected channel, else the
    /// last one configured.
    fn rollup_channel(&self) -> Option<String> {
        let channels = &self.config().channels;
        channels
            .iter()
            .find(|(_, c)| c.protected)
            .or_else(|| channels.iter().last())
            .map(|(n, _)| n.clone())
    }

    /// The rollup of `week` for `app` (every app when `None`), from `source`.
    pub async fn weekly_rollup(
        &self,
        week: Week,
        app: Option<&str>,
        source: Option<&dyn KpiSource>,
    ) -> Result<Rollup> {
        let (from, to) = (week.start()?, week.end()?);
        let apps = match app {
            Some(a) => vec![a.to_string()],
            None => self.registry().apps().await?,
        };
        let channel = self
            .rollup_channel()
            .ok_or_else(|| Error::Config("airlock.toml names no channel".into()))?;
        let mut out = Vec::new();
        for app in apps {
            out.push(self.app_rollup(&app, &channel, from, to, source).await?);
        }
        Ok(Rollup {
            week: week.to_string(),
            title: format!("OTA Weekly Rollup — {}", week.span_words()?),
            from: from.to_string(),
            to: to.to_string(),
            apps: out,
        })
    }

    async fn app_rollup(
        &self,
        app: &str,
        channel: &str,
        from: Timestamp,
        to: Timestamp,
        source: Option<&dyn KpiSource>,
    ) -> Result<AppRollup> {
        let entries = self.registry().entries(app).await?;
        let state = self
            .registry_state(app)
            .await?
            .map(|(s, _)| s)
            .ok_or_else(|| Error::NotFound(format!("{app} has no history in this workspace")))?;
        let within = |t: Timestamp| t >= from && t < to;
        let now = self.now();
        // Releases published this week, and when each version reached 100 % in `channel`.
        let mut releases = Vec::new();
        let mut full: Vec<(String, Timestamp)> = Vec::new();
        // Every channel's releases reaching 100 %: an incident's fix is in its own channel.
        let mut full_any: Vec<(String, String, Timestamp)> = Vec::new();
        for s in &entries {
            let (e, at) = (&s.entry, s.entry.at);
            match &e.event {
                Event::Released { version, .. } if within(at) => {
                    let description = self
                        .release_detail(app, version, None)
                        .await
                        .map(|d| d.description)
                        .unwrap_or_default();
                    releases.push(ReleaseLine {
                        version: version.clone(),
                        date: date(at),
                        description,
                    });
                }
                _ => {}
            }
            let reached = match &e.event {
                Event::Released {
                    version,
                    channel: c,
                    ..
                } => Some((c, version)),
                Event::Promoted {
                    version,
                    to: c,
                    basis_points,
                    ..
                } if *basis_points >= FULL => Some((c, version)),
                Event::Expanded {
                    version,
                    channel: c,
                    basis_points,
                    ..
                } if *basis_points >= FULL => Some((c, version)),
                _ => None,
            };
            if let Some((c, v)) = reached {
                if c == channel {
                    full.push((v.clone(), at));
                }
                full_any.push((c.clone(), v.clone(), at));
            }
        }
        let scope = Scope {
            app: app.to_string(),
            channel: channel.to_string(),
            versions: state
                .releases
                .keys()
                .cloned()
                .chain(std::iter::once(BUILT_IN.to_string()))
                .collect(),
            holdout: false,
        };
        let health = match source {
            Some(src) => self.week_health(src, &scope, from, to).await?,
            None => Vec::new(),
        };
        let mut adoption = Vec::new();
        for (v, at) in full.iter().filter(|(_, at)| within(*at)) {
            let mut shares = [None, None];
            let mut due = [false, false];
            for (i, h) in [24, 48].into_iter().enumerate() {
                let t = at.plus_seconds(h * 3600);
                if t > now {
                    continue;
                }
                due[i] = true;
                if let Some(src) = source {
                    let active = src.active_devices_now(&scope, t).await?;
                    let total: f64 = active.values().sum();
                    if total > 0.0 {
                        shares[i] = Some(active.get(v).copied().unwrap_or(0.0) / total);
                    }
                }
            }
            adoption.push(AdoptionLine {
                version: v.clone(),
                reached: at.to_string(),
                at_24h: shares[0],
                at_48h: shares[1],
                due_24h: due[0],
                due_48h: due[1],
            });
        }
        let mut incidents = Vec::new();
        for i in state.incidents.values() {
            let closed = i.closed.as_ref().map(|c| c.at);
            let touches = i.opened_at < to && closed.is_none_or(|c| c >= from);
            if !touches {
                continue;
            }
            let fix = full_any
                .iter()
                .find(|(c, v, at)| *c == i.channel && *at > i.opened_at && *v != i.version)
                .map(|(_, v, at)| (v, at));
            incidents.push(IncidentLine {
                number: i.number,
                version: i.version.clone(),
                channel: i.channel.clone(),
                severity: i.severity,
                opened: i.opened_at.to_string(),
                duration_hours: closed.map(|c| hours(c.unix() - i.opened_at.unix())),
                time_to_fix_hours: fix.map(|(_, at)| hours(at.unix() - i.opened_at.unix())),
                fix: fix.map(|(v, _)| v.clone()),
            });
        }
        // Staged, not yet in the production channel.
        let prod = state.channel(channel);
        let mut next = Vec::new();
        for (name, c) in &state.channels {
            if name == channel {
                continue;
            }
            for v in c
                .current
                .iter()
                .chain(c.rollout.as_ref().map(|r| &r.version))
            {
                let shipped = prod.ever_current.contains(v)
                    || prod.rollout.as_ref().is_some_and(|r| &r.version == v);
                let quarantined = state
                    .releases
                    .get(v)
                    .is_some_and(|r| r.quarantined.is_some());
                if !shipped && !quarantined && !next.iter().any(|n: &ReleaseLine| &n.version == v) {
                    next.push(ReleaseLine {
                        version: v.clone(),
                        date: state
                            .releases
                            .get(v)
                            .map(|r| date(r.released_at))
                            .unwrap_or_default(),
                        description: format!("in {name}"),
                    });
                }
            }
        }
        let on_target = !health.is_empty() && health.iter().all(|h| h.met == Some(true));
        let quiet = (incidents.is_empty() && on_target).then(|| {
            format!(
                "All quiet: {} release{}, no incident, every KPI on target.",
                releases.len(),
                if releases.len() == 1 { "" } else { "s" }
            )
        });
        Ok(AppRollup {
            app: app.to_string(),
            channel: channel.to_string(),
            releases,
            health,
            adoption,
            incidents,
            next,
            quiet,
        })
    }

    /// Delivery and experience health over the week, every version summed.
    async fn week_health(
        &self,
        source: &dyn KpiSource,
        scope: &Scope,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<HealthLine>> {
        let policy = self.gate_policy(&scope.channel)?;
        let limits = |k: Kpi| {
            policy
                .kpis
                .iter()
                .find(|(x, _)| *x == k)
                .map_or_else(|| k.default_limits(), |(_, l)| *l)
        };
        let window = Window::new(from, to, 3600)?;
        let sum = |c: &crate::kpi::source::Counts| c.values().flatten().sum::<f64>();
        let count = |c: Counter| async move {
            Ok::<f64, Error>(sum(&source.counts(c, scope, &window).await?))
        };
        let mut out = Vec::new();
        let rate_line =
            |group: &str, name: &str, bad: f64, exposure: f64, limit: Option<f64>, good: bool| {
                let rate = (exposure > 0.0).then(|| bad / exposure);
                let shown = |r: f64| words::percent(if good { 1.0 - r } else { r });
                HealthLine {
                    group: group.into(),
                    name: name.into(),
                    value: rate.map_or("no data".into(), |r| {
                        format!("{} of {}", shown(r), words::count(exposure))
                    }),
                    target: limit.map_or("—".into(), |l| {
                        format!("{} {}", if good { "≥" } else { "≤" }, shown(l))
                    }),
                    met: rate.zip(limit).map(|(r, l)| r <= l),
                }
            };
        let downloads = count(Counter::Downloads).await?;
        let failed = count(Counter::DownloadFailures).await?;
        out.push(rate_line(
            "delivery",
            "download success",
            failed,
            downloads,
            limits(Kpi::DownloadSuccess).target,
            true,
        ));
        let hists = source
            .histograms(Latency::InstallDuration, scope, &window)
            .await?;
        let all: Vec<_> = hists.values().flatten().cloned().collect();
        let p95 = histogram::quantile(&crate::charts::rebin::sum_same_bounds(&all), 0.95);
        let target = limits(Kpi::InstallTime).target;
        out.push(HealthLine {
            group: "delivery".into(),
            name: "install time p95".into(),
            value: p95.map_or("no data".into(), words::seconds),
            target: target.map_or("—".into(), |t| format!("≤ {}", words::seconds(t))),
            met: p95.zip(target).map(|(p, t)| p <= t),
        });
        let sig = count(Counter::SignatureFailures).await?;
        out.push(HealthLine {
            group: "delivery".into(),
            name: "signature failures".into(),
            value: if downloads > 0.0 || sig > 0.0 {
                words::count(sig)
            } else {
                "no data".into()
            },
            target: "0".into(),
            met: (downloads > 0.0 || sig > 0.0).then_some(sig == 0.0),
        });
        let sessions = count(Counter::Sessions).await?;
        let crashed = count(Counter::CrashedSessions).await?;
        out.push(rate_line(
            "experience",
            "crash-free sessions",
            crashed,
            sessions,
            limits(Kpi::CrashFree).target,
            true,
        ));
        let js = count(Counter::JsErrorSessions).await?;
        // A target of 0 would fail every week: the warning limit stands in for it.
        let js_limits = limits(Kpi::JsErrors);
        let js_limit = js_limits.target.filter(|t| *t > 0.0).or(js_limits.warning);
        out.push(rate_line(
            "experience",
            "JS error rate",
            js,
            sessions,
            js_limit,
            false,
        ));
        Ok(out)
    }

    /// Writes `rollup-<week>.md`, `.html` and `.eml` into `dir`; the message carries the
    /// first app's adoption chart over the week as an inline PNG when there is a source.
    pub async fn write_weekly_rollup(
        &self,
        week: Week,
        app: Option<&str>,
        dir: &Path,
    ) -> Result<(RollupFiles, Vec<PathBuf>)> {
        // No source configured: the rollup says so; a configured one that fails is an error.
        let source = match self.kpi_source().await {
            Ok(s) => Some(s),
            Err(e) if e.kind() == crate::error::ErrorKind::Config => None,
            Err(e) => return Err(e),
        };
        let rollup = self.weekly_rollup(week, app, source.as_deref()).await?;
        let mut chart = None;
        if let (Some(src), Some(first)) = (source.as_deref(), rollup.apps.first()) {
            let req = ChartRequest {
                app: first.app.clone(),
                channel: first.channel.clone(),
                from: Some(week.start()?),
                to: Some(week.end()?.min(self.now())),
                theme: Theme::Light,
                width: 640,
            };
            if let Ok(mut c) = self.kpi_charts(&req, &[Panel::Adoption], src).await
                && let Some(c) = c.pop()
                && c.empty.is_none()
            {
                chart = Some((c.name.clone(), png::png(&c.svg, 1.0)?));
            }
        }
        let markdown = markdown(&rollup);
        let html = html(&rollup, chart.as_ref().map(|(n, _)| n.as_str()));
        let eml = eml(
            &rollup,
            &markdown,
            &html,
            chart.as_ref().map(|(_, b)| b.as_slice()),
            self.now(),
        )?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        let mut paths = Vec::new();
        for (ext, body) in [("md", &markdown), ("html", &html), ("eml", &eml)] {
            let path = dir.join(format!("rollup-{}.{ext}", rollup.week));
            let tmp = dir.join(format!(".rollup-{}.{ext}.partial", rollup.week));
            std::fs::write(&tmp, body)
                .and_then(|()| std::fs::rename(&tmp, &path))
                .map_err(|e| Error::io("write", &path, e))?;
            paths.push(path);
        }
        Ok((
            RollupFiles {
                rollup,
                markdown,
                html,
                eml,
            },
            paths,
        ))
    }
}

fn pct(x: Option<f64>, due: bool) -> String {
    match (x, due) {
        (Some(x), _) => words::percent(x),
        (None, true) => "no data".into(),
        (None, false) => "not yet".into(),
    }
}

fn hours_words(h: Option<f64>) -> String {
    h.map_or("—".into(), words::duration)
}

fn mark(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "✓",
        Some(false) => "✗",
        None => "–",
    }
}

/// The rollup as Markdown (also the message's plain-text part).
pub fn markdown(r: &Rollup) -> String {
    let cell = |s: &str| crate::ops::incident::quoted(s);
    let mut out = format!("# {}\n\n", r.title);
    for a in &r.apps {
        out.push_str(&format!("## {} ({})\n\n", a.app, a.channel));
        if let Some(q) = &a.quiet {
            out.push_str(&format!("{q}\n\n"));
        }
        out.push_str("### Releases\n\n");
        if a.releases.is_empty() {
            out.push_str("None this week.\n\n");
        } else {
            for l in &a.releases {
                out.push_str(&format!(
                    "- {} ({}): {}\n",
                    l.version,
                    l.date,
                    cell(&l.description)
                ));
            }
            out.push('\n');
        }
        out.push_str("### Health\n\n");
        if a.health.is_empty() {
            out.push_str("No KPI source is configured: no numbers.\n\n");
        } else {
            out.push_str("| | KPI | This week | Target | |\n|---|---|---|---|---|\n");
            for h in &a.health {
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {} |\n",
                    h.group,
                    h.name,
                    h.value,
                    h.target,
                    mark(h.met)
                ));
            }
            out.push('\n');
        }
        out.push_str("### Adoption after 100 %\n\n");
        if a.adoption.is_empty() {
            out.push_str("No release reached 100 % this week.\n\n");
        } else {
            out.push_str("| Version | Reached 100 % | 24 h | 48 h |\n|---|---|---|---|\n");
            for l in &a.adoption {
                out.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    l.version,
                    &l.reached[..16].replace('T', " "),
                    pct(l.at_24h, l.due_24h),
                    pct(l.at_48h, l.due_48h)
                ));
            }
            out.push('\n');
        }
        out.push_str("### Incidents\n\n");
        if a.incidents.is_empty() {
            out.push_str("None.\n\n");
        } else {
            out.push_str("| # | Release | Severity | Opened | Duration | Time to fix |\n|---|---|---|---|---|---|\n");
            for i in &a.incidents {
                out.push_str(&format!(
                    "| {} | {} in {} | SEV-{} | {} | {} | {} |\n",
                    i.number,
                    i.version,
                    i.channel,
                    i.severity,
                    &i.opened[..16].replace('T', " "),
                    i.duration_hours.map_or("open".into(), words::duration),
                    match (&i.fix, i.time_to_fix_hours) {
                        (Some(v), h) => format!("{} ({v})", hours_words(h)),
                        _ => "no fix at 100 % yet".into(),
                    }
                ));
            }
            out.push('\n');
        }
        out.push_str("### Next\n\n");
        if a.next.is_empty() {
            out.push_str("Nothing staged.\n\n");
        } else {
            for l in &a.next {
                out.push_str(&format!(
                    "- {} (published {}), {}\n",
                    l.version, l.date, l.description
                ));
            }
            out.push('\n');
        }
    }
    out
}

fn esc(s: &str) -> String {
    crate::charts::xml_escape(s)
}

/// The rollup as an HTML document of tables (what mail clients render), with the chart's
/// image by Content-ID when there is one.
pub fn html(r: &Rollup, chart: Option<&str>) -> String {
    let td = "style=\"padding:4px 10px;border-bottom:1px solid #ddd;text-align:left\"";
    let mut out = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body style=\"font-family:Arial,Helvetica,sans-serif;color:#17202b\">\n<h1>{t}</h1>\n",
        t = esc(&r.title)
    );
    let table = |head: &[&str], rows: Vec<Vec<String>>| {
        let mut t = String::from("<table style=\"border-collapse:collapse\"><tr>");
        for h in head {
            t.push_str(&format!("<th {td}>{}</th>", esc(h)));
        }
        t.push_str("</tr>");
        for row in rows {
            t.push_str("<tr>");
            for c in row {
                t.push_str(&format!("<td {td}>{}</td>", esc(&c)));
            }
            t.push_str("</tr>");
        }
        t.push_str("</table>\n");
        t
    };
    for (n, a) in r.apps.iter().enumerate() {
        out.push_str(&format!("<h2>{} ({})</h2>\n", esc(&a.app), esc(&a.channel)));
        if let Some(q) = &a.quiet {
            out.push_str(&format!("<p><strong>{}</strong></p>\n", esc(q)));
        }
        out.push_str("<h3>Releases</h3>\n");
        out.push_str(&if a.releases.is_empty() {
            "<p>None this week.</p>\n".to_string()
        } else {
            table(
                &["Version", "Published", "What changed"],
                a.releases
                    .iter()
                    .map(|l| vec![l.version.clone(), l.date.clone(), l.description.clone()])
                    .collect(),
            )
        });
        out.push_str("<h3>Health</h3>\n");
        out.push_str(&if a.health.is_empty() {
            "<p>No KPI source is configured: no numbers.</p>\n".to_string()
        } else {
            table(
                &["", "KPI", "This week", "Target", ""],
                a.health
                    .iter()
                    .map(|h| {
                        vec![
                            h.group.clone(),
                            h.name.clone(),
                            h.value.clone(),
                            h.target.clone(),
                            mark(h.met).into(),
                        ]
                    })
                    .collect(),
            )
        });
        if n == 0
            && let Some(name) = chart
        {
            out.push_str(&format!(
                "<p><img src=\"cid:adoption-chart\" alt=\"{}\" width=\"640\"></p>\n",
                esc(name)
            ));
        }
        out.push_str("<h3>Adoption after 100 %</h3>\n");
        out.push_str(&if a.adoption.is_empty() {
            "<p>No release reached 100 % this week.</p>\n".to_string()
        } else {
            table(
                &["Version", "Reached 100 %", "24 h", "48 h"],
                a.adoption
                    .iter()
                    .map(|l| {
                        vec![
                            l.version.clone(),
                            l.reached[..16].replace('T', " "),
                            pct(l.at_24h, l.due_24h),
                            pct(l.at_48h, l.due_48h),
                        ]
                    })
                    .collect(),
            )
        });
        out.push_str("<h3>Incidents</h3>\n");
        out.push_str(&if a.incidents.is_empty() {
            "<p>None.</p>\n".to_string()
        } else {
            table(
                &[
                    "#",
                    "Release",
                    "Severity",
                    "Opened",
                    "Duration",
                    "Time to fix",
                ],
                a.incidents
                    .iter()
                    .map(|i| {
                        vec![
                            i.number.to_string(),
                            format!("{} in {}", i.version, i.channel),
                            format!("SEV-{}", i.severity),
                            i.opened[..16].replace('T', " "),
                            i.duration_hours.map_or("open".into(), words::duration),
                            match &i.fix {
                                Some(v) => format!("{} ({v})", hours_words(i.time_to_fix_hours)),
                                None => "no fix at 100 % yet".into(),
                            },
                        ]
                    })
                    .collect(),
            )
        });
        out.push_str("<h3>Next</h3>\n");
        out.push_str(&if a.next.is_empty() {
            "<p>Nothing staged.</p>\n".to_string()
        } else {
            table(
                &["Version", "Published", "Where"],
                a.next
                    .iter()
                    .map(|l| vec![l.version.clone(), l.date.clone(), l.description.clone()])
                    .collect(),
            )
        });
    }
    out.push_str("</body></html>\n");
    out
}

/// The rollup as an RFC 5322 message: multipart/alternative of the plain text and
/// (multipart/related) the HTML with the chart inline by Content-ID.
pub fn eml(
    r: &Rollup,
    text: &str,
    html: &str,
    chart: Option<&[u8]>,
    now: Timestamp,
) -> Result<String> {
    use mail_builder::MessageBuilder;
    use mail_builder::mime::MimePart;
    let html_part = match chart {
        Some(png) => MimePart::new(
            "multipart/related",
            vec![
                MimePart::new("text/html", html),
                MimePart::new("image/png", png)
                    .inline()
                    .cid("adoption-chart"),
            ],
        ),
        None => MimePart::new("text/html", html),
    };
    MessageBuilder::new()
        .from(("Airlock", "airlock@localhost"))
        .to(("Release updates", "releases@localhost"))
        .subject(r.title.as_str())
        .date(now.unix())
        .message_id(format!(
            "rollup-{}-{}@airlock.localhost",
            r.week,
            now.unix()
        ))
        .body(MimePart::new(
            "multipart/alternative",
            vec![MimePart::new("text/plain", text), html_part],
        ))
        .write_to_string()
        .map_err(|e| Error::InvalidInput(format!("the rollup message could not be written: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_read_as_iso_weeks() {
        let w = Week::parse("2026-W49").unwrap();
        assert_eq!(w.start().unwrap().to_string(), "2026-11-30T00:00:00Z");
        assert_eq!(w.span_words().unwrap(), "Nov 30–Dec 6, 2026");
        assert_eq!(w.to_string(), "2026-W49");
        assert!(Week::parse("2026-49").is_err());
        assert!(Week::parse("2026-W54").is_err());
        let now = Timestamp::parse("2026-12-07T09:00:00Z").unwrap();
        assert_eq!(Week::before(now), w, "the last whole week");
        assert_eq!(
            Week::parse("2026-W01").unwrap().span_words().unwrap(),
            "Dec 29, 2025–Jan 4, 2026"
        );
    }
}
