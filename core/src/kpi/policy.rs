//! The KPIs the gate judges, their default limits (the seed's table, docs/KPIS.md), and the
//! `[kpi]` table of airlock.toml that changes them per workspace and per channel. Rates are
//! held as the *bad* rate (crashed sessions, failed downloads per download), so every limit
//! reads "above this is worse"; screens and reasons show crash-free and success as people
//! say them.

use super::source::{Counter, Latency};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum Kpi {
    CrashFree,
    JsErrors,
    ApiErrors,
    DownloadSuccess,
    SignatureFailures,
    DeviceRollbacks,
    DownloadTime,
    InstallTime,
    FirstPaint,
    TimeToInteractive,
}

/// What a KPI measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// `events` per `exposure`; `good` names the complement people talk about ("crash-free
    /// sessions") when the rate is shown as one.
    Rate {
        events: Counter,
        exposure: Counter,
        good: Option<&'static str>,
    },
    /// A latency histogram, judged by its p95.
    Latency(Latency),
}

impl Kpi {
    pub const ALL: [Kpi; 10] = [
        Kpi::CrashFree,
        Kpi::JsErrors,
        Kpi::ApiErrors,
        Kpi::DownloadSuccess,
        Kpi::SignatureFailures,
        Kpi::DeviceRollbacks,
        Kpi::DownloadTime,
        Kpi::InstallTime,
        Kpi::FirstPaint,
        Kpi::TimeToInteractive,
    ];

    /// The name in airlock.toml and `--json` (`crash-free`, `download-time`).
    pub fn key(self) -> &'static str {
        match self {
            Kpi::CrashFree => "crash-free",
            Kpi::JsErrors => "js-errors",
            Kpi::ApiErrors => "api-errors",
            Kpi::DownloadSuccess => "download-success",
            Kpi::SignatureFailures => "signature-failures",
            Kpi::DeviceRollbacks => "device-rollbacks",
            Kpi::DownloadTime => "download-time",
            Kpi::InstallTime => "install-time",
            Kpi::FirstPaint => "first-paint",
            Kpi::TimeToInteractive => "time-to-interactive",
        }
    }

    pub fn parse(key: &str) -> Result<Kpi> {
        Kpi::ALL
            .into_iter()
            .find(|k| k.key() == key)
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown KPI {key:?}; the KPIs are {}",
                    Kpi::ALL.map(Kpi::key).join(", ")
                ))
            })
    }

    /// What people call it.
    pub fn label(self) -> &'static str {
        match self {
            Kpi::CrashFree => "crash rate",
            Kpi::JsErrors => "JS error sessions",
            Kpi::ApiErrors => "API error rate",
            Kpi::DownloadSuccess => "download failures",
            Kpi::SignatureFailures => "signature failures",
            Kpi::DeviceRollbacks => "device-side rollbacks",
            Kpi::DownloadTime => "download time p95",
            Kpi::InstallTime => "install time p95",
            Kpi::FirstPaint => "first contentful paint p95",
            Kpi::TimeToInteractive => "time to interactive p95",
        }
    }

    pub fn measure(self) -> Measure {
        use Counter::*;
        let rate = |events, exposure, good| Measure::Rate {
            events,
            exposure,
            good,
        };
        match self {
            Kpi::CrashFree => rate(CrashedSessions, Sessions, Some("crash-free sessions")),
            Kpi::JsErrors => rate(JsErrorSessions, Sessions, None),
            Kpi::ApiErrors => rate(ApiErrors, ApiRequests, None),
            Kpi::DownloadSuccess => rate(DownloadFailures, Downloads, Some("download success")),
            Kpi::SignatureFailures => rate(SignatureFailures, Downloads, None),
            Kpi::DeviceRollbacks => rate(DeviceRollbacks, Downloads, None),
            Kpi::DownloadTime => Measure::Latency(Latency::DownloadDuration),
            Kpi::InstallTime => Measure::Latency(Latency::InstallDuration),
            Kpi::FirstPaint => Measure::Latency(Latency::FirstContentfulPaint),
            Kpi::TimeToInteractive => Measure::Latency(Latency::TimeToInteractive),
        }
    }

    /// Guardrails get the smaller share of the error budget, and harm on one is critical.
    pub fn guardrail(self) -> bool {
        matches!(
            self,
            Kpi::CrashFree | Kpi::SignatureFailures | Kpi::DeviceRollbacks
        )
    }

    /// The seed's limits (docs/KPIS.md, "Defaults").
    pub fn default_limits(self) -> Limits {
        let rate = |target, warning, critical, tolerance| Limits {
            target,
            warning,
            critical,
            relative_to_baseline: false,
            tolerance,
            harm_margin: 0.2,
            critical_per_hour: None,
        };
        let latency = |target, warning, critical| Limits {
            harm_margin: 0.5,
            ..rate(Some(target), Some(warning), Some(critical), 0.0)
        };
        match self {
            Kpi::CrashFree => rate(Some(0.005), Some(0.01), Some(0.02), 0.001),
            Kpi::JsErrors => rate(Some(0.0), Some(0.005), Some(0.02), 0.001),
            Kpi::ApiErrors => Limits {
                relative_to_baseline: true,
                ..rate(Some(0.005), Some(0.02), Some(0.05), 0.001)
            },
            // Per download: a device downloads a release once, so a step brings as many
            // downloads as devices moved; the floors are the seed's tolerances, not 0.1
            // point (docs/KPIS.md, "One boundary per KPI").
            Kpi::DownloadSuccess => rate(Some(0.01), Some(0.02), Some(0.05), 0.01),
            // Any failure shown on its bound already warns (warning 0): the floor only says
            // when a pass may rest on zero failures (about 500 downloads).
            Kpi::SignatureFailures => Limits {
                critical_per_hour: Some(10.0),
                ..rate(Some(0.0), Some(0.0), None, 0.01)
            },
            Kpi::DeviceRollbacks => rate(None, None, None, 0.002),
            Kpi::DownloadTime => latency(5.0, 8.0, 15.0),
            Kpi::InstallTime => latency(3.0, 7.0, 15.0),
            Kpi::FirstPaint => latency(1.5, 2.5, 4.0),
            Kpi::TimeToInteractive => latency(3.0, 5.0, 8.0),
        }
    }
}

/// A KPI's limits. For a rate they bound the bad rate (0.02: 2 % of sessions crashed); for a
/// latency, its p95 in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// What a healthy release reaches; shown, not judged.
    pub target: Option<f64>,
    /// Beyond it (shown on a confidence bound) the KPI warns: the rollout pauses.
    pub warning: Option<f64>,
    /// Beyond it the KPI fails critically: the rollout reverts.
    pub critical: Option<f64>,
    /// Warning and critical are differences from the baseline's rate (API errors).
    pub relative_to_baseline: bool,
    /// The boundary's floor in points of a rate (0.001 = 0.1 point): a rate up to the
    /// baseline's plus this is within it, however small the baseline's (0 for latencies).
    pub tolerance: f64,
    /// The boundary's ratio: a bad rate (or a share above the baseline's p95 bound) more
    /// than `1 + harm_margin` times the baseline's, and beyond the floor, is harmful; one
    /// boundary for both questions (kpi/boundary.rs).
    pub harm_margin: f64,
    /// More events than this in any hour fail critically (signature failures).
    pub critical_per_hour: Option<f64>,
}

/// `[kpi.limits.<kpi>]`: any of a KPI's limits, over its defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct LimitsEdit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harm_margin: Option<f64>,
}

/// `[kpi.prometheus]`: a Prometheus-compatible HTTP API (Prometheus, Thanos, Mimir,
/// VictoriaMetrics).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PrometheusSettings {
    /// The API's base URL, e.g. `http://127.0.0.1:9090` or `https://mimir.example/prometheus`.
    pub url: String,
    /// `keychain:<name>`: a bearer token or basic-auth pair stored with
    /// `airlock kpi auth set <name>`. Default: no authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    /// Seconds to wait for one query (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u32>,
    /// Extra label matchers added to every default query, e.g. `env="prod",region=~"eu.*"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matchers: Option<String>,
}

/// `[kpi.cdn-logs]`: CloudFront standard access logs, as the distribution writes them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CdnLogSettings {
    /// Where the log files are: a URL (`s3://acme-logs/cloudfront`, the bucket and prefix
    /// the distribution's logging writes to, or `file:///dir`) or a name in `[stores]`.
    pub store: String,
    /// Distribution ids whose logs are read besides those of `[channels.<name>.cdn]` (they
    /// count for any channel); files of any other distribution are refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub distributions: Vec<String>,
}

/// `[kpi.channels.<name>]`: what one channel judges, and what its gate may do alone.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ChannelKpis {
    /// Each step's observation window in hours: the first for the rollout's first step, the
    /// last for every later one (default: 4 then 2 for a protected channel, 2 otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_hours: Option<Vec<f64>>,
    /// A pass expands to the next step on its own (default true); false: the gate records
    /// the pass and a person expands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_expand: Option<bool>,
    /// A critical fail reverts on its own (default true); false: it pauses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_revert: Option<bool>,
    /// A bad *current* release is rolled back on its own (default false: an incident
    /// recommends the rollback and a person decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_rollback: Option<bool>,
    /// The channel this one's current release is promoted to once the gate has shown it
    /// safe here over the channel's window (e.g. `"Production"` for Staging); the target's
    /// approval rules still hold. Default: none, a person promotes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promote_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kpis: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, LimitsEdit>,
}

/// `[kpi]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct KpiSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusSettings>,
    /// `[kpi.cdn-logs]`: where the CDN writes its access logs, read by `airlock kpi ingest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cdn_logs: Option<CdnLogSettings>,
    /// The chance, over a whole rollout and the stay that follows it however often it is
    /// judged, that a release within every boundary is stopped (default 0.01), shared across
    /// the KPIs in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// The chance, over a whole rollout, that a release beyond a KPI's boundary passes it
    /// (default 0.05; not shared: a pass needs every KPI to pass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safety_alpha: Option<f64>,
    /// The bin the numbers are read in, in seconds (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_seconds: Option<u32>,
    /// No pass before the candidate's exposure predicts this many events at the baseline's
    /// rate (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_expected_events: Option<f64>,
    /// The KPIs in force (default: all ten).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kpis: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, LimitsEdit>,
    /// How often an open console's gate runs a pass, in seconds (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_interval_seconds: Option<u32>,
    /// PromQL templates over the defaults, by name (docs/KPIS.md, "Queries").
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub queries: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub channels: BTreeMap<String, ChannelKpis>,
}

/// What one channel's gate runs with, settled from `[kpi]`.
#[derive(Clone, Debug, PartialEq)]
pub struct GatePolicy {
    pub kpis: Vec<(Kpi, Limits)>,
    /// `[kpi.channels.<name>] window-hours`, if set.
    pub window_hours: Option<Vec<f64>>,
    pub auto_expand: bool,
    pub auto_revert: bool,
    pub auto_rollback: bool,
    /// `[kpi.channels.<name>] promote-to`, if set.
    pub promote_to: Option<String>,
    pub alpha: f64,
    pub safety_alpha: f64,
    pub step_seconds: i64,
    pub min_expected_events: f64,
}

impl GatePolicy {
    /// How long step `step` (0: the rollout's first) is observed before a pass counts.
    pub fn window_seconds(&self, step: u32, protected: bool) -> i64 {
        let defaults: &[f64] = if protected { &[4.0, 2.0] } else { &[2.0] };
        let hours = self.window_hours.as_deref().unwrap_or(defaults);
        let h = hours
            .get(step as usize)
            .or(hours.last())
            .copied()
            .unwrap_or(2.0);
        (h * 3600.0).round() as i64
    }

    /// The error budget of one KPI: its share of `total`, guardrails weighing half.
    pub fn share(&self, kpi: Kpi, total: f64) -> f64 {
        let weight = |k: Kpi| if k.guardrail() { 0.5 } else { 1.0 };
        let sum: f64 = self.kpis.iter().map(|(k, _)| weight(*k)).sum();
        total * weight(kpi) / sum.max(f64::MIN_POSITIVE)
    }

    /// What decides a verdict and what follows it (KPIs, limits, boundaries, error rates,
    /// bin, observation windows, automatic actions, the judge's method), as one line of
    /// JSON: recorded in each gate entry, so two watchers with different settings are told
    /// apart.
    pub fn decides(&self) -> String {
        let kpis: Vec<serde_json::Value> = self
            .kpis
            .iter()
            .map(|(k, l)| serde_json::json!({ "kpi": k.key(), "limits": l }))
            .collect();
        serde_json::json!({
            "kpis": kpis,
            "alpha": self.alpha,
            "passAlpha": self.safety_alpha,
            "stepSeconds": self.step_seconds,
            "minExpectedEvents": self.min_expected_events,
            "windowHours": self.window_hours,
            "autoExpand": self.auto_expand,
            "autoRevert": self.auto_revert,
            "autoRollback": self.auto_rollback,
            "promoteTo": self.promote_to,
            "method": METHOD,
        })
        .to_string()
    }

    /// The first 16 hex digits of the SHA-256 of [`Self::decides`].
    pub fn digest(&self) -> String {
        airlock_protocol::digest::sha256_hex(self.decides().as_bytes())[..16].to_string()
    }
}

/// The judge's method, named in [`GatePolicy::decides`]: a new one never shares a digest
/// with an old one's settings.
pub const METHOD: &str = "airlock-gate-3";

fn parse_kpis(keys: &[String]) -> Result<Vec<Kpi>> {
    let mut out = Vec::new();
    for k in keys {
        let kpi = Kpi::parse(k)?;
        if !out.contains(&kpi) {
            out.push(kpi);
        }
    }
    Ok(out)
}

fn apply(limits: &mut Limits, edit: &LimitsEdit) {
    limits.warning = edit.warning.or(limits.warning);
    limits.critical = edit.critical.or(limits.critical);
    limits.tolerance = edit.tolerance.unwrap_or(limits.tolerance);
    limits.harm_margin = edit.harm_margin.unwrap_or(limits.harm_margin);
}

impl KpiSettings {
    /// The gate of `channel`: the channel's KPIs and limits over the workspace's.
    pub fn policy(&self, channel: &str) -> Result<GatePolicy> {
        let ch = self.channels.get(channel);
        let kpis = match ch.and_then(|c| c.kpis.as_ref()).or(self.kpis.as_ref()) {
            Some(keys) => parse_kpis(keys)?,
            None => Kpi::ALL.to_vec(),
        };
        let mut with_limits = Vec::new();
        for kpi in kpis {
            let mut limits = kpi.default_limits();
            for edits in [Some(&self.limits), ch.map(|c| &c.limits)]
                .into_iter()
                .flatten()
            {
                if let Some(e) = edits.get(kpi.key()) {
                    apply(&mut limits, e);
                }
            }
            with_limits.push((kpi, limits));
        }
        Ok(GatePolicy {
            kpis: with_limits,
            window_hours: ch.and_then(|c| c.window_hours.clone()),
            auto_expand: ch.and_then(|c| c.auto_expand).unwrap_or(true),
            auto_revert: ch.and_then(|c| c.auto_revert).unwrap_or(true),
            auto_rollback: ch.and_then(|c| c.auto_rollback).unwrap_or(false),
            promote_to: ch.and_then(|c| c.promote_to.clone()),
            alpha: self.alpha.unwrap_or(0.01),
            safety_alpha: self.safety_alpha.unwrap_or(0.05),
            step_seconds: i64::from(self.step_seconds.unwrap_or(300)),
            min_expected_events: self.min_expected_events.unwrap_or(5.0),
        })
    }

    pub fn validate(&self) -> Result<()> {
        let prob = |name: &str, v: Option<f64>| match v {
            Some(a) if !(a > 0.0 && a < 0.5) => Err(Error::Config(format!(
                "kpi.{name} must be above 0 and below 0.5, not {a}"
            ))),
            _ => Ok(()),
        };
        prob("alpha", self.alpha)?;
        prob("safety-alpha", self.safety_alpha)?;
        let seconds = |name: &str, v: Option<u32>| match v {
            Some(s) if !(10..=86_400).contains(&s) => Err(Error::Config(format!(
                "kpi.{name} must be from 10 to 86400, not {s}"
            ))),
            _ => Ok(()),
        };
        seconds("watch-interval-seconds", self.watch_interval_seconds)?;
        seconds("step-seconds", self.step_seconds)?;
        if let Some(p) = &self.prometheus {
            let Some((scheme, rest)) = p
                .url
                .split_once("://")
                .filter(|(s, _)| *s == "http" || *s == "https")
            else {
                return Err(Error::Config(
                    "kpi.prometheus.url must be an http:// or https:// URL".into(),
                ));
            };
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            if authority.contains('@') {
                // Never echoed: the URL itself carries the secret.
                return Err(Error::Config(
                    "kpi.prometheus.url carries credentials (user:password@host); they do not \
                     belong in airlock.toml: remove them from the URL, store them with `airlock \
                     kpi auth set NAME` and set auth = \"keychain:NAME\""
                        .into(),
                ));
            }
            if scheme == "http" && p.auth.is_some() && !is_loopback(authority) {
                return Err(Error::Config(format!(
                    "kpi.prometheus.url {:?} is plain http:// and auth is set: a credential is \
                     sent only over https:// (or to a loopback address)",
                    p.url
                )));
            }
            if let Some(a) = &p.auth
                && a.strip_prefix("keychain:").is_none_or(str::is_empty)
            {
                return Err(Error::Config(format!(
                    "kpi.prometheus.auth {a:?} must be keychain:<name> (stored with `airlock kpi auth set <name>`)"
                )));
            }
        }
        for name in self.queries.keys() {
            super::prometheus::check_query_name(name)?;
        }
        let limits = std::iter::once(&self.limits).chain(self.channels.values().map(|c| &c.limits));
        for map in limits {
            for (k, e) in map {
                Kpi::parse(k)?;
                for v in [e.warning, e.critical, e.tolerance, e.harm_margin]
                    .into_iter()
                    .flatten()
                {
                    if !(v.is_finite() && v >= 0.0) {
                        return Err(Error::Config(format!(
                            "kpi.limits.{k}: limits must be zero or more, not {v}"
                        )));
                    }
                }
                if e.tolerance.is_some() && matches!(Kpi::parse(k)?.measure(), Measure::Latency(_))
                {
                    return Err(Error::Config(format!(
                        "kpi.limits.{k}: tolerance is a rate's boundary in points; a latency's \
                         boundary is set by harm-margin alone (1 + harm-margin times the \
                         baseline's share above its p95 bound; default 0.5)"
                    )));
                }
                if e.harm_margin.is_some_and(|m| m > 29.0) {
                    return Err(Error::Config(format!(
                        "kpi.limits.{k}: harm-margin must be at most 29 (a boundary of 30 times the baseline)"
                    )));
                }
            }
        }
        for (name, c) in &self.channels {
            if let Some(w) = &c.window_hours
                && (w.is_empty()
                    || w.iter()
                        .any(|h| !(h.is_finite() && *h > 0.0 && *h <= 24.0 * 14.0)))
            {
                return Err(Error::Config(format!(
                    "kpi.channels.{name}.window-hours must list hours above 0 and at most 336 (two weeks)"
                )));
            }
        }
        for keys in std::iter::once(&self.kpis)
            .chain(self.channels.values().map(|c| &c.kpis))
            .flatten()
        {
            parse_kpis(keys)?;
        }
        Ok(())
    }
}

/// Whether the host of `authority` (`host[:port]`) is a loopback address: the one place a
/// credential may go over plain http.
pub(crate) fn is_loopback(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod url_tests {
    use super::is_loopback;

    #[test]
    fn loopback_hosts() {
        for yes in ["127.0.0.1:9090", "localhost", "[::1]:9090", "127.3.2.1"] {
            assert!(is_loopback(yes), "{yes} is loopback");
        }
        for no in [
            "prom.example.com:9090",
            "10.0.0.1",
            "[2001:db8::1]:80",
            "localhost.evil",
        ] {
            assert!(!is_loopback(no), "{no} is not loopback");
        }
    }
}
