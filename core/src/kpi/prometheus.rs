//! Prometheus over its HTTP API (`/api/v1/query_range`, `/api/v1/query`) as a KPI source, so
//! any compatible backend works (Prometheus, Thanos, Mimir, VictoriaMetrics). Each number is
//! a PromQL template (defaults below, replaceable in `[kpi.queries]`) with `$selector` (the
//! app, channel and version matchers, `cohort="holdout"` when the holdout alone is asked for,
//! plus `[kpi.prometheus] matchers`), `$step`, `$app`,
//! `$channel` and `$versions`. A template must answer one series per `version` (and `le`
//! for a histogram); any other shape is refused with the query's name and what came back.
//! Credentials (a bearer token or a basic-auth pair) live in the OS keychain.

use super::histogram::Buckets;
use super::policy::PrometheusSettings;
use super::source::{Counter, Counts, Histograms, KpiSource, Latency, Scope, Window};
use crate::error::{Error, Result};
use crate::keychain::Keychain;
use crate::secret::Sensitive;
use airlock_protocol::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Every template by name, with its default.
pub const QUERIES: &[(&str, &str)] = &[
    (
        "sessions",
        "sum by (version) (increase(ota_sessions_total{$selector}[$step]))",
    ),
    (
        "crashed-sessions",
        "sum by (version) (increase(ota_crashed_sessions_total{$selector}[$step]))",
    ),
    (
        "js-error-sessions",
        "sum by (version) (increase(ota_js_error_sessions_total{$selector}[$step]))",
    ),
    (
        "api-requests",
        "sum by (version) (increase(ota_api_requests_total{$selector}[$step]))",
    ),
    (
        "api-errors",
        "sum by (version) (increase(ota_api_requests_total{$selector,status=\"error\"}[$step]))",
    ),
    (
        "downloads",
        "sum by (version) (increase(ota_download_total{$selector}[$step]))",
    ),
    (
        "download-failures",
        "sum by (version) (increase(ota_download_total{$selector,status=\"failure\"}[$step]))",
    ),
    (
        "signature-failures",
        "sum by (version) (increase(ota_signature_failures_total{$selector}[$step]))",
    ),
    (
        "device-rollbacks",
        "sum by (version) (increase(ota_device_rollbacks_total{$selector}[$step]))",
    ),
    (
        "download-duration",
        "sum by (version, le) (increase(ota_download_duration_seconds_bucket{$selector}[$step]))",
    ),
    (
        "install-duration",
        "sum by (version, le) (increase(ota_install_duration_seconds_bucket{$selector}[$step]))",
    ),
    (
        "first-contentful-paint",
        "sum by (version, le) (increase(ota_first_contentful_paint_seconds_bucket{$selector}[$step]))",
    ),
    (
        "time-to-interactive",
        "sum by (version, le) (increase(ota_time_to_interactive_seconds_bucket{$selector}[$step]))",
    ),
    (
        "active-devices",
        "sum by (version) (avg_over_time(ota_active_devices{$selector}[1h]))",
    ),
    (
        "active-devices-now",
        "sum by (version) (ota_active_devices{$selector})",
    ),
    (
        "update-checks",
        "sum by (status) (increase(ota_update_checks_total{$channel_selector}[$step]))",
    ),
];

pub fn check_query_name(name: &str) -> Result<()> {
    if QUERIES.iter().any(|(n, _)| *n == name) {
        return Ok(());
    }
    Err(Error::Config(format!(
        "kpi.queries: unknown query {name:?}; the queries are {}",
        QUERIES
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// How the API is authenticated; kept in the keychain as JSON.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    Bearer(String),
    Basic { user: String, password: String },
}

const KEYCHAIN_SERVICE: &str = "airlock-kpi";

/// Stores `auth` under `name` (`[kpi.prometheus] auth = "keychain:<name>"`).
pub fn save_auth(keychain: &dyn Keychain, name: &str, auth: &Auth) -> Result<()> {
    let bytes = serde_json::to_vec(auth).expect("auth always serialises");
    keychain.set(KEYCHAIN_SERVICE, name, &Sensitive::new(bytes))
}

pub fn delete_auth(keychain: &dyn Keychain, name: &str) -> Result<bool> {
    keychain.delete(KEYCHAIN_SERVICE, name)
}

fn load_auth(keychain: &dyn Keychain, name: &str) -> Result<Sensitive<Auth>> {
    let bytes = keychain.get(KEYCHAIN_SERVICE, name)?.ok_or_else(|| {
        Error::Config(format!(
            "kpi.prometheus.auth names keychain entry {name:?}, which this desktop's keychain \
             does not hold; store it with `airlock kpi auth set {name}`"
        ))
    })?;
    serde_json::from_slice(bytes.expose())
        .map(Sensitive::new)
        .map_err(|e| {
            Error::Keychain(format!(
                "{KEYCHAIN_SERVICE}/{name} is not a KPI credential: {e}"
            ))
        })
}

/// The largest answer read from Prometheus: far beyond any query of one app's cohorts over
/// 30 days at one-minute steps, and a bound on what a hostile or broken server costs.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Reads an answer's body, stopping with an error past [`MAX_BODY_BYTES`].
async fn read_capped(mut resp: reqwest::Response, name: &str, url: &str) -> Result<Vec<u8>> {
    let too_big = || {
        Error::Metrics(format!(
            "query {name}: {url} answered with more than {MAX_BODY_BYTES} bytes (the cap); \
             narrow the query or its range"
        ))
    };
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| Error::Metrics(format!("query {name}: reading {url}: {e}")))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[derive(Debug)]
pub struct PrometheusSource {
    client: reqwest::Client,
    base: String,
    auth: Option<Sensitive<Auth>>,
    matchers: String,
    queries: BTreeMap<String, String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auth(<redacted>)")
    }
}

impl PrometheusSource {
    pub fn new(
        settings: &PrometheusSettings,
        queries: &BTreeMap<String, String>,
        keychain: Option<&dyn Keychain>,
    ) -> Result<Self> {
        let auth = match settings
            .auth
            .as_deref()
            .and_then(|a| a.strip_prefix("keychain:"))
        {
            Some(name) => {
                let keychain = keychain.ok_or_else(|| {
                    Error::Keychain(
                        "kpi.prometheus.auth needs the OS keychain, which is not available".into(),
                    )
                })?;
                Some(load_auth(keychain, name)?)
            }
            None => None,
        };
        let timeout =
            std::time::Duration::from_secs(u64::from(settings.timeout_seconds.unwrap_or(30)));
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| Error::Metrics(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Self {
            client,
            base: settings.url.trim_end_matches('/').to_string(),
            auth,
            matchers: settings.matchers.clone().unwrap_or_default(),
            queries: queries.clone(),
        })
    }

    /// The PromQL of query `name` for `scope`, with every placeholder filled.
    pub fn promql(&self, name: &str, scope: &Scope, step_seconds: i64) -> String {
        let template = self
            .queries
            .get(name)
            .map(String::as_str)
            .or_else(|| QUERIES.iter().find(|(n, _)| *n == name).map(|(_, q)| *q))
            .expect("every query has a default");
        let versions = scope
            .versions
            .iter()
            .map(|v| regex_escape(v))
            .collect::<Vec<_>>()
            .join("|");
        // The channel's series (update checks have no version), and its versions' series;
        // the workspace's extra matchers on both.
        let with_matchers = |mut selector: String| {
            if !self.matchers.trim().is_empty() {
                selector.push(',');
                selector.push_str(self.matchers.trim());
            }
            selector
        };
        let channel = format!(
            "app=\"{}\",channel=\"{}\"",
            string_escape(&scope.app),
            string_escape(&scope.channel)
        );
        // The holdout's devices label their series `cohort="holdout"`.
        let cohort = if scope.holdout {
            ",cohort=\"holdout\""
        } else {
            ""
        };
        let selector = with_matchers(format!(
            "{channel},version=~\"{}\"{cohort}",
            string_escape(&versions)
        ));
        let channel_selector = with_matchers(channel);
        template
            .replace("$channel_selector", &channel_selector)
            .replace("$selector", &selector)
            .replace("$step", &format!("{step_seconds}s"))
            .replace("$app", &string_escape(&scope.app))
            .replace("$channel", &string_escape(&scope.channel))
            .replace("$versions", &string_escape(&versions))
    }

    async fn get(&self, name: &str, path: &str, params: &[(&str, String)]) -> Result<Data> {
        let url = format!("{}{path}", self.base);
        let mut req = self.client.get(&url).query(params);
        match self.auth.as_ref().map(Sensitive::expose) {
            Some(Auth::Bearer(token)) => req = req.bearer_auth(token),
            Some(Auth::Basic { user, password }) => req = req.basic_auth(user, Some(password)),
            None => {}
        }
        let resp = req
            .send()
            .await
            .map_err(|e| Error::Metrics(format!("query {name}: cannot reach {url}: {e}")))?;
        let status = resp.status();
        let body = read_capped(resp, name, &url).await?;
        let parsed: Response = serde_json::from_slice(&body).map_err(|_| {
            Error::Metrics(format!(
                "query {name}: {url} answered HTTP {status} with something other than the \
                 Prometheus API's JSON: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ))
        })?;
        match parsed {
            Response {
                status: s,
                data: Some(d),
                ..
            } if s == "success" => Ok(d),
            Response {
                error, error_type, ..
            } => {
                let why = format!(
                    "{}: {}",
                    error_type.unwrap_or_default(),
                    error.unwrap_or_default()
                );
                // 400 is PromQL the server cannot parse (the template); 422 and the rest are
                // the server failing or refusing to run it (limits, timeouts).
                Err(if status.as_u16() == 400 {
                    Error::Config(format!(
                        "kpi.queries.{name} is not valid PromQL here ({why})"
                    ))
                } else {
                    Error::Metrics(format!("query {name}: HTTP {status}: {why}"))
                })
            }
        }
    }

    /// Refuses to ask a template without `$selector` for the holdout alone: it could not
    /// carry `cohort="holdout"`, and would answer with every device on that release.
    fn holdout_ready(&self, name: &str, scope: &Scope) -> Result<()> {
        let custom = self.queries.get(name);
        if scope.holdout && custom.is_some_and(|q| !q.contains("$selector")) {
            return Err(Error::Config(format!(
                "kpi.queries.{name} does not use $selector, so it cannot read the holdout's \
                 series alone (cohort=\"holdout\"); add $selector to it (docs/KPIS.md, \
                 \"Queries\")"
            )));
        }
        Ok(())
    }

    async fn range(&self, name: &str, scope: &Scope, window: &Window) -> Result<Vec<Series>> {
        self.holdout_ready(name, scope)?;
        let Some(end) = window.last_bin_end() else {
            return Ok(Vec::new());
        };
        let params = [
            ("query", self.promql(name, scope, window.step_seconds)),
            ("start", window.bin_end(0).unix().to_string()),
            ("end", end.unix().to_string()),
            ("step", window.step_seconds.to_string()),
        ];
        let data = self.get(name, "/api/v1/query_range", &params).await?;
        if data.result_type != "matrix" {
            return Err(shape(
                name,
                &format!("a {} instead of a range (matrix)", data.result_type),
            ));
        }
        serde_json::from_value(data.result).map_err(|e| shape(name, &e.to_string()))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    status: String,
    data: Option<Data>,
    error: Option<String>,
    error_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct Series {
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
    #[serde(default)]
    value: Option<(f64, String)>,
}

const HISTOGRAMS: [&str; 4] = [
    "download-duration",
    "install-duration",
    "first-contentful-paint",
    "time-to-interactive",
];

fn shape(name: &str, what: &str) -> Error {
    Error::Config(format!(
        "kpi.queries.{name} answered {what}; it must answer one series per `version` label{} \
         (docs/KPIS.md, \"Queries\")",
        if HISTOGRAMS.contains(&name) {
            " and `le` bucket bound"
        } else {
            ""
        }
    ))
}

fn label<'a>(name: &str, s: &'a Series, key: &str) -> Result<&'a str> {
    s.metric.get(key).map(String::as_str).ok_or_else(|| {
        shape(
            name,
            &format!("a series without a `{key}` label ({:?})", s.metric),
        )
    })
}

fn number(name: &str, v: &str) -> Result<f64> {
    match v {
        "NaN" => Ok(0.0),
        "+Inf" | "-Inf" => Err(shape(name, "an infinite value")),
        _ => match v.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(x),
            _ => Err(shape(name, &format!("the value {v:?}"))),
        },
    }
}

/// Which bin a point at `t` closes, if it is one of the window's.
fn bin_index(window: &Window, t: f64) -> Option<usize> {
    let k = ((t - window.from.unix() as f64) / window.step_seconds as f64).round() as i64 - 1;
    usize::try_from(k).ok().filter(|i| *i < window.bins())
}

fn parse_le(name: &str, v: &str) -> Result<f64> {
    match v {
        "+Inf" => Ok(f64::INFINITY),
        _ => v
            .parse()
            .map_err(|_| shape(name, &format!("the bucket bound le={v:?}"))),
    }
}

#[async_trait::async_trait]
impl KpiSource for PrometheusSource {
    async fn counts(&self, what: Counter, scope: &Scope, window: &Window) -> Result<Counts> {
        let name = what.key();
        let mut out = Counts::new();
        for s in self.range(name, scope, window).await? {
            let version = label(name, &s, "version")?.to_string();
            if !scope.versions.contains(&version) {
                continue;
            }
            if out.contains_key(&version) {
                return Err(shape(name, &format!("two series for version {version}")));
            }
            let mut bins = vec![0.0; window.bins()];
            for (t, v) in &s.values {
                if let Some(i) = bin_index(window, *t) {
                    bins[i] = number(name, v)?;
                }
            }
            out.insert(version, bins);
        }
        Ok(out)
    }

    async fn histograms(
        &self,
        what: Latency,
        scope: &Scope,
        window: &Window,
    ) -> Result<Histograms> {
        let name = what.key();
        let mut by_version: BTreeMap<String, Vec<BTreeMap<u64, (f64, f64)>>> = BTreeMap::new();
        for s in self.range(name, scope, window).await? {
            let version = label(name, &s, "version")?.to_string();
            let le = parse_le(name, label(name, &s, "le")?)?;
            if !scope.versions.contains(&version) {
                continue;
            }
            let bins = by_version
                .entry(version)
                .or_insert_with(|| vec![BTreeMap::new(); window.bins()]);
            for (t, v) in &s.values {
                if let Some(i) = bin_index(window, *t) {
                    // Keyed by the bound's bits, which order like the bound for le >= 0.
                    bins[i].insert(le.to_bits(), (le, number(name, v)?));
                }
            }
        }
        let mut out = Histograms::new();
        for (version, bins) in by_version {
            let hists: Vec<Buckets> = bins
                .into_iter()
                .map(|b| {
                    let mut h: Buckets = b.into_values().collect();
                    h.sort_by(|a, b| a.0.total_cmp(&b.0));
                    h
                })
                .collect();
            if hists
                .iter()
                .any(|h| !h.is_empty() && !h.last().is_some_and(|(le, _)| le.is_infinite()))
            {
                return Err(shape(
                    name,
                    &format!("buckets for {version} without le=\"+Inf\""),
                ));
            }
            out.insert(version, hists);
        }
        Ok(out)
    }

    async fn update_checks(&self, scope: &Scope, window: &Window) -> Result<Option<(f64, f64)>> {
        let name = "update-checks";
        let (mut total, mut failed, mut any) = (0.0, 0.0, false);
        for s in self.range(name, scope, window).await? {
            let status = s.metric.get("status").map(String::as_str).ok_or_else(|| {
                Error::Config(format!(
                    "kpi.queries.{name} answered a series without a `status` label; it must \
                     answer one series per status (`ok`, `error`)"
                ))
            })?;
            let mut sum = 0.0;
            for (_, v) in &s.values {
                sum += number(name, v)?;
            }
            any = true;
            total += sum;
            if status != "ok" {
                failed += sum;
            }
        }
        Ok(any.then_some((total, failed)))
    }

    async fn active_devices(&self, scope: &Scope, at: Timestamp) -> Result<BTreeMap<String, f64>> {
        self.instant("active-devices", scope, at).await
    }

    async fn active_devices_now(
        &self,
        scope: &Scope,
        at: Timestamp,
    ) -> Result<BTreeMap<String, f64>> {
        self.instant("active-devices-now", scope, at).await
    }
}

impl PrometheusSource {
    /// An instant query `name` at `at`, one value per version.
    async fn instant(
        &self,
        name: &str,
        scope: &Scope,
        at: Timestamp,
    ) -> Result<BTreeMap<String, f64>> {
        self.holdout_ready(name, scope)?;
        let params = [
            ("query", self.promql(name, scope, 300)),
            ("time", at.unix().to_string()),
        ];
        let data = self.get(name, "/api/v1/query", &params).await?;
        if data.result_type != "vector" {
            return Err(shape(
                name,
                &format!("a {} instead of an instant vector", data.result_type),
            ));
        }
        let series: Vec<Series> =
            serde_json::from_value(data.result).map_err(|e| shape(name, &e.to_string()))?;
        let mut out = BTreeMap::new();
        for s in series {
            let version = label(name, &s, "version")?.to_string();
            if let Some((_, v)) = &s.value
                && scope.versions.contains(&version)
            {
                out.insert(version, number(name, v)?);
            }
        }
        Ok(out)
    }
}

/// Escapes a literal for a PromQL regex (`1.4.2` must not match `1x4x2`).
fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Escapes a value for a double-quoted PromQL string.
fn string_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_every_placeholder() {
        let settings = PrometheusSettings {
            url: "http://127.0.0.1:9090/".into(),
            auth: None,
            timeout_seconds: None,
            matchers: Some("env=\"prod\"".into()),
        };
        let p = PrometheusSource::new(&settings, &BTreeMap::new(), None).unwrap();
        let scope = Scope {
            app: "shop".into(),
            channel: "production".into(),
            versions: vec!["1.4.2".into(), "1.4.1+b7".into()],
            holdout: false,
        };
        assert_eq!(
            p.promql("api-errors", &scope, 300),
            "sum by (version) (increase(ota_api_requests_total{app=\"shop\",channel=\"production\",\
             version=~\"1\\\\.4\\\\.2|1\\\\.4\\\\.1\\\\+b7\",env=\"prod\",status=\"error\"}[300s]))"
        );
        let held = Scope {
            versions: vec!["1.4.1".into()],
            holdout: true,
            ..scope.clone()
        };
        let custom = PrometheusSource::new(
            &settings,
            &BTreeMap::from([(
                "sessions".to_string(),
                "sum by (version) (increase(my_sessions{version=~\"$versions\"}[$step]))"
                    .to_string(),
            )]),
            None,
        )
        .unwrap();
        assert!(custom.holdout_ready("sessions", &scope).is_ok());
        let e = custom.holdout_ready("sessions", &held).unwrap_err();
        assert!(e.to_string().contains("$selector"), "{e}");
        assert!(
            p.holdout_ready("sessions", &held).is_ok(),
            "the defaults use it"
        );
        assert_eq!(
            p.promql("sessions", &held, 300),
            "sum by (version) (increase(ota_sessions_total{app=\"shop\",channel=\"production\",\
             version=~\"1\\\\.4\\\\.1\",cohort=\"holdout\",env=\"prod\"}[300s]))"
        );
        assert_eq!(p.base, "http://127.0.0.1:9090");
        for (name, _) in QUERIES {
            assert!(
                !p.promql(name, &scope, 60).contains('$'),
                "{name} left a placeholder"
            );
        }
    }
}
