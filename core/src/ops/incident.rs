//! Incidents (docs/KPIS.md, "Incidents"): a record in the log, so every desktop sees it, of
//! what was seen about a release in a channel — opened by the gate on a failure or by a
//! person — what was done (the revert or rollback, linked by the fold), and its
//! post-rollback checklist. Severity comes from the seed's decision tree ([`assess`]);
//! Airlock checks the items it can (ops/incident_checks.rs), a person ticks the rest; a
//! blameless postmortem is prefilled from the record ([`Workspace::postmortem`]).

use super::Committed;
use crate::error::{Error, Result};
use crate::kpi::judge::{KpiOutcome, Verdict};
use crate::kpi::policy::Kpi;
use crate::kpi::words;
use crate::log::Event;
use crate::log::entry::{ChecklistItem, GateKpi};
use crate::state::{Check, Incident};
use crate::workspace::{Attribution, Workspace};
use airlock_protocol::time::Timestamp;
use serde::Serialize;
use std::fmt::Write;

/// Crash-free sessions below this are SEV-1 (immediate rollback).
pub const SEV1_CRASH_FREE: f64 = 0.98;
/// New JS error sessions this many points above the baseline's are SEV-2.
pub const SEV2_JS_ERROR_POINTS: f64 = 0.02;

/// The seed's decision tree on a failed verdict: crash-free sessions below 98 % → SEV-1
/// (immediate rollback); JS error sessions more than 2 points above the baseline's → SEV-2
/// (a rollback decision within an hour); otherwise SEV-3 (fix forward). Judged on the point
/// estimates: whether to act was already decided, soundly, by the gate; this says how bad.
pub fn assess(v: &Verdict) -> (u8, String) {
    let kpi = |k: Kpi| v.kpis.iter().find(|x| x.kpi == k);
    let rate = |c: &Option<crate::kpi::judge::CohortNumbers>| c.as_ref().and_then(|c| c.rate);
    if let Some(k) = kpi(Kpi::CrashFree)
        && let Some(r) = rate(&k.candidate)
        && 1.0 - r < SEV1_CRASH_FREE
    {
        return (
            1,
            format!(
                "crash-free sessions of {} at {}, below {}",
                v.candidate,
                words::percent(1.0 - r),
                words::percent(SEV1_CRASH_FREE)
            ),
        );
    }
    if let Some(k) = kpi(Kpi::JsErrors)
        && let (Some(c), Some(b)) = (rate(&k.candidate), rate(&k.baseline))
        && c - b > SEV2_JS_ERROR_POINTS
    {
        return (
            2,
            format!(
                "JS error sessions of {} at {}, {:.1} points above {}'s {}",
                v.candidate,
                words::percent(c),
                (c - b) * 100.0,
                v.baseline,
                words::percent(b)
            ),
        );
    }
    let failed: Vec<&str> = v
        .kpis
        .iter()
        .filter(|k| matches!(k.verdict, KpiOutcome::Fail | KpiOutcome::Warn))
        .map(|k| k.kpi.label())
        .collect();
    (
        3,
        format!(
            "{} worse than {} ({}), below the SEV-1 and SEV-2 lines",
            v.candidate,
            v.baseline,
            failed.join(", ")
        ),
    )
}

/// What the responder should do about a release that is `served` ("rolling out", "current")
/// with severity `sev`, in words.
pub fn recommendation(sev: u8, app: &str, channel: &str, served: Served<'_>) -> String {
    match (served, sev) {
        (Served::Reverting { to }, _) => format!(
            "revert: the gate reverts the rollout at once, sending its devices back to {to}; \
             then fix forward and release again"
        ),
        (Served::RollingBack { to }, _) => format!(
            "roll back to {to}: the gate rolls {channel} back at once (auto-rollback); then fix \
             forward and release again"
        ),
        (Served::RollingOut, 1) => {
            format!("revert now: `airlock revert {app} {channel}` (the rollout is paused)")
        }
        (Served::RollingOut, _) => format!(
            "the rollout is paused: fix forward, or revert with `airlock revert {app} {channel}`"
        ),
        (Served::Current { to }, 1) => {
            format!("roll back to {to} now: `airlock rollback {app} {channel}`")
        }
        (Served::Current { to }, 2) => format!(
            "decide within an hour whether to roll back to {to} (`airlock rollback {app} \
             {channel}`)"
        ),
        (Served::Current { .. }, _) => "fix forward: release a fix through the plan".into(),
        (Served::NotServed, _) => format!(
            "{channel} no longer serves it (or never did): nothing to roll back; fix forward \
             and release again"
        ),
    }
}

/// Where the release stood when the incident opened, and what the gate does next (the
/// timeline's action stage says what then happened).
#[derive(Clone, Copy, Debug)]
pub enum Served<'a> {
    /// Rolling out; the gate pauses it (or a person paused it).
    RollingOut,
    /// Rolling out; the gate reverts it now.
    Reverting { to: &'a str },
    /// Current; a person decides on the rollback to `to`.
    Current { to: &'a str },
    /// Current; the gate rolls back to `to` now.
    RollingBack { to: &'a str },
    /// Neither current nor rolling out in the channel (reverted, rolled back, never there).
    NotServed,
}

/// What the gate records of a verdict's KPIs in an incident: those that failed or warned.
pub fn triggering(v: &Verdict) -> Vec<GateKpi> {
    super::watch::record(v)
        .kpis
        .into_iter()
        .filter(|k| k.verdict == "fail" || k.verdict == "warn")
        .collect()
}

/// A person's incident (`airlock incident open`).
#[derive(Clone, Debug)]
pub struct OpenRequest {
    pub app: String,
    /// Default: the channel of the app's one rollout in progress.
    pub channel: Option<String>,
    /// Default: the channel's rollout version, else its current release.
    pub version: Option<String>,
    pub severity: u8,
}

/// An incident as screens and `--json` show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct IncidentView {
    pub app: String,
    pub number: u64,
    pub channel: String,
    pub version: String,
    pub severity: u8,
    pub open: bool,
    pub reason: Option<String>,
    pub recommendation: String,
    pub kpis: Vec<GateKpi>,
    pub timeline: Vec<Stage>,
    pub checklist: Vec<ChecklistRow>,
}

/// One step of an incident's timeline; `at` is `None` until it happened.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Stage {
    /// `detected`, `assessed`, `reverted` or `rolledBack` (or `action`, not yet taken),
    /// `verified`, `communicated`, `closed`.
    pub stage: String,
    #[cfg_attr(feature = "specta", specta(type = Option<String>))]
    pub at: Option<Timestamp>,
    pub actor: Option<String>,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ChecklistRow {
    pub item: ChecklistItem,
    pub label: String,
    /// Airlock checks it itself (a person may still tick it, saying how they know).
    pub automatic: bool,
    pub checked: Option<Check>,
}

impl IncidentView {
    pub fn of(app: &str, i: &Incident) -> Self {
        let good = i
            .action
            .as_ref()
            .and_then(|a| a.to.clone())
            .unwrap_or_else(|| "the good release".into());
        let stage =
            |name: &str, at: Option<Timestamp>, actor: Option<&str>, detail: String| Stage {
                stage: name.to_string(),
                at,
                actor: actor.map(str::to_string),
                detail,
            };
        let by_check = |name: &str, c: Option<&Check>, pending: &str| match c {
            Some(c) => stage(name, Some(c.at), Some(&c.actor), c.detail.clone()),
            None => stage(name, None, None, pending.to_string()),
        };
        let mut timeline = vec![
            stage(
                "detected",
                Some(i.opened_at),
                Some(&i.opened_by),
                i.reason.clone().unwrap_or_default(),
            ),
            stage(
                "assessed",
                Some(i.opened_at),
                Some(&i.opened_by),
                format!("SEV-{}: {}", i.severity, i.recommendation),
            ),
        ];
        timeline.push(match &i.action {
            Some(a) => stage(
                &a.kind,
                Some(a.at),
                Some(&a.actor),
                format!(
                    "seq {}: devices back on {}",
                    a.seq,
                    a.to.as_deref().unwrap_or("their built-in bundle")
                ),
            ),
            None => stage("action", None, None, "not reverted or rolled back".into()),
        });
        timeline.push(match i.verified_at() {
            Some(at) => stage(
                "verified",
                Some(at),
                None,
                "every item Airlock checks holds".into(),
            ),
            None => stage("verified", None, None, "Airlock's checks pending".into()),
        });
        timeline.push(by_check(
            "communicated",
            i.checks.get(&ChecklistItem::SupportNotified),
            "support not notified yet",
        ));
        timeline.push(by_check("closed", i.closed.as_ref(), "open"));
        let checklist = i
            .checklist()
            .into_iter()
            .map(|item| ChecklistRow {
                item,
                label: label(item, &i.version, &good),
                automatic: item.automatic(),
                checked: i.checks.get(&item).cloned(),
            })
            .collect();
        Self {
            app: app.to_string(),
            number: i.number,
            channel: i.channel.clone(),
            version: i.version.clone(),
            severity: i.severity,
            open: i.closed.is_none(),
            reason: i.reason.clone(),
            recommendation: i.recommendation.clone(),
            kpis: i.kpis.clone(),
            timeline,
            checklist,
        }
    }
}

/// A checklist item in words, for this incident.
pub fn label(item: ChecklistItem, bad: &str, good: &str) -> String {
    match item {
        ChecklistItem::Pointer => format!("the pointer devices read no longer serves {bad}"),
        ChecklistItem::ErrorRate => "the error rate is back to the baseline".into(),
        ChecklistItem::Adoption => {
            use super::incident_checks::{ADOPTION_MINUTES, ADOPTION_TARGET};
            format!(
                "{good} is back on {} of active devices (target: within {ADOPTION_MINUTES} \
                 minutes)",
                crate::log::entry::percent((ADOPTION_TARGET * 10_000.0).round() as u32)
            )
        }
        ChecklistItem::Quarantined => format!("{bad} is quarantined"),
        ChecklistItem::SupportNotified => "support notified".into(),
        ChecklistItem::PostmortemScheduled => "postmortem scheduled".into(),
    }
}

impl Workspace {
    /// Opens an incident by hand; its reason (`by.reason`) says what was seen.
    pub async fn open_incident(&self, by: &Attribution, req: &OpenRequest) -> Result<Committed> {
        self.may_change(&format!("open an incident on {}", req.app))?;
        let state = self.load(&req.app).await?;
        let channel = match &req.channel {
            Some(c) => {
                self.config.channel(c)?;
                c.clone()
            }
            None => {
                let rolling: Vec<&String> = state
                    .channels
                    .iter()
                    .filter(|(_, c)| c.rollout.is_some())
                    .map(|(n, _)| n)
                    .collect();
                match rolling.as_slice() {
                    [one] => (*one).clone(),
                    _ => {
                        return Err(Error::InvalidInput(format!(
                            "{} has {} rollouts in progress; say which channel with --channel",
                            req.app,
                            rolling.len()
                        )));
                    }
                }
            }
        };
        let c = state.channel(&channel);
        let version = match (&req.version, &c.rollout, &c.current) {
            (Some(v), _, _) => v.clone(),
            (None, Some(r), _) => r.version.clone(),
            (None, None, Some(v)) => v.clone(),
            (None, None, None) => {
                return Err(Error::InvalidInput(format!(
                    "{} serves nothing in {channel}; name the release with --version",
                    req.app
                )));
            }
        };
        let target = state.rollback_candidates(&channel).into_iter().next();
        let served = if c.rollout.as_ref().is_some_and(|r| r.version == version) {
            Served::RollingOut
        } else if c.current.as_deref() == Some(version.as_str()) {
            Served::Current {
                to: target.as_deref().unwrap_or("the previous release"),
            }
        } else {
            Served::NotServed
        };
        let advice = recommendation(req.severity, &req.app, &channel, served);
        self.commit(&req.app, by, |_, _| {
            Ok(Event::IncidentOpened {
                channel: channel.clone(),
                version: version.clone(),
                severity: req.severity,
                recommendation: advice.clone(),
                kpis: Vec::new(),
            })
        })
        .await
    }

    /// Ticks a checklist item by hand, with a note saying how the person knows.
    pub async fn tick_incident(
        &self,
        by: &Attribution,
        app: &str,
        number: u64,
        item: ChecklistItem,
        note: Option<&str>,
    ) -> Result<Committed> {
        self.may_change(&format!("tick an incident of {app}"))?;
        let detail = match note.map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) => format!("ticked by {}: {n}", by.actor),
            None => format!("ticked by {}", by.actor),
        };
        self.commit(app, by, |_, _| {
            Ok(Event::IncidentChecked {
                incident: number,
                item,
                detail: detail.clone(),
            })
        })
        .await
    }

    /// Closes an incident; with items unchecked, `by.reason` must say why.
    pub async fn close_incident(
        &self,
        by: &Attribution,
        app: &str,
        number: u64,
    ) -> Result<Committed> {
        self.may_change(&format!("close an incident of {app}"))?;
        self.commit(app, by, |_, _| {
            Ok(Event::IncidentClosed { incident: number })
        })
        .await
    }

    /// Incidents of `app` (every app when `None`), newest first; closed ones only with
    /// `all`.
    pub async fn incidents(&self, app: Option<&str>, all: bool) -> Result<Vec<IncidentView>> {
        let apps = match app {
            Some(a) => vec![a.to_string()],
            None => self.apps().await?,
        };
        let mut out = Vec::new();
        for app in apps {
            let state = self.load(&app).await?;
            out.extend(
                state
                    .incidents
                    .values()
                    .filter(|i| all || i.closed.is_none())
                    .map(|i| IncidentView::of(&app, i)),
            );
        }
        out.sort_by(|a, b| b.timeline[0].at.cmp(&a.timeline[0].at));
        Ok(out)
    }

    pub async fn incident(&self, app: &str, number: u64) -> Result<IncidentView> {
        let state = self.load(app).await?;
        Ok(IncidentView::of(app, state.incident(number)?))
    }

    /// A blameless postmortem in Markdown, prefilled with the incident's timeline, the
    /// numbers that triggered it and its checklist; the analysis is left to people.
    pub async fn postmortem(&self, app: &str, number: u64) -> Result<String> {
        Ok(postmortem(&self.incident(app, number).await?))
    }
}

fn when(at: Option<Timestamp>) -> String {
    at.map_or_else(|| "—".to_string(), |t| t.to_string())
}

/// Text from the log (reasons, actors, notes: whatever a teammate typed, or a bucket
/// writer planted in a KPI import) made inert in Markdown: one line (so never a heading or
/// a list), links, images, code spans and table cells escaped and HTML entity-encoded, so
/// it reads as what was written and never as markup.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '[' | ']' | '|' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// The postmortem text of `v`.
pub fn postmortem(v: &IncidentView) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Postmortem: {} {} in {} (incident #{}, SEV-{})\n",
        v.app, v.version, v.channel, v.number, v.severity
    );
    let _ = writeln!(
        md,
        "_Blameless: this describes what happened and what the system let happen, not who \
         to blame. Prefilled by Airlock from the event log; the sections in italics are for \
         the team._\n"
    );
    let _ = writeln!(md, "## Summary\n");
    let _ = writeln!(
        md,
        "- What was seen: {}",
        v.reason.as_deref().map_or("(not recorded)".into(), quoted)
    );
    let _ = writeln!(md, "- Recommended: {}", v.recommendation);
    let _ = writeln!(md, "- Status: {}\n", if v.open { "open" } else { "closed" });
    let _ = writeln!(md, "## Timeline (UTC)\n");
    let _ = writeln!(md, "| stage | when | who | what |");
    let _ = writeln!(md, "|---|---|---|---|");
    for s in &v.timeline {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            s.stage,
            when(s.at),
            s.actor.as_deref().map_or("—".into(), quoted),
            quoted(&s.detail)
        );
    }
    if !v.kpis.is_empty() {
        let _ = writeln!(md, "\n## The numbers that triggered it\n");
        let _ = writeln!(
            md,
            "| KPI | verdict | {} (events / exposure) | baseline (events / exposure) |",
            v.version
        );
        let _ = writeln!(md, "|---|---|---|---|");
        for k in &v.kpis {
            let _ = writeln!(
                md,
                "| {} | {} | {} / {} | {} / {} |",
                k.kpi,
                k.verdict,
                k.candidate_events,
                k.candidate_exposure,
                k.baseline_events,
                k.baseline_exposure
            );
        }
        for k in &v.kpis {
            let _ = writeln!(md, "\n> {}", quoted(&k.reason));
        }
    }
    let _ = writeln!(md, "\n## Post-rollback checklist\n");
    for row in &v.checklist {
        match &row.checked {
            Some(c) => {
                let _ = writeln!(
                    md,
                    "- [x] {} — {} ({}, {})",
                    row.label,
                    quoted(&c.detail),
                    quoted(&c.actor),
                    c.at
                );
            }
            None => {
                let _ = writeln!(md, "- [ ] {}", row.label);
            }
        }
    }
    for section in [
        "Impact",
        "How it was detected",
        "Root cause and contributing factors",
        "What went well",
        "What could have gone better",
        "Action items (owner, due date)",
    ] {
        let _ = writeln!(md, "\n## {section}\n\n_To be written by the team._");
    }
    md
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn quoted_text_is_inert_markdown() {
        let planted = "[ok](javascript:alert(1)) <img src=x onerror=alert(1)>\n# heading | cell";
        let q = quoted(planted);
        assert!(!q.contains('\n'), "one line, so never a heading: {q}");
        assert!(q.starts_with("\\[ok\\](javascript"), "no link: {q}");
        assert!(!q.contains('<'), "no HTML: {q}");
        assert!(q.contains("\\|") && q.contains("&lt;img"), "{q}");
    }
}
