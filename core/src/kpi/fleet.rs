//! A simulated fleet for tests, the demo and the benchmark: N devices, each with its own
//! install id and rhythm (how often it is used: a heavy-tailed activity factor, so some
//! devices lag behind as real ones do), running what the channel's pointer gives it. Like a
//! CodePush-style client, a device checks for an update at each session start, downloads
//! the blobs it lacks, and runs the new bundle from its next session; a device outside the
//! rollout stays on the current release and a revert moves devices back at their next
//! check. What each device gets is decided by the reference device check
//! (ops/simulate.rs reads the real pointer); this module only plays the devices and writes
//! what they would report: the metrics of docs/KPIS.md as OpenMetrics history (for
//! `promtool tsdb create-blocks-from openmetrics`) and CloudFront access-log lines.
//! Seeded and stateful: played minute by minute in chunks between a watcher's passes, a
//! fleet gives the same numbers for the same pointers.

use super::synthetic::Rng;
use airlock_protocol::bucketing::{in_holdout, in_rollout};
use airlock_protocol::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Per-version behaviour; unset fields fall back to the scenario's `default`, then to
/// [`Rates::BUILT_IN`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Rates {
    /// Sessions that end in a crash.
    pub crash: Option<f64>,
    /// Sessions with at least one new JS error.
    pub js_errors: Option<f64>,
    /// API requests per session, and the share that fail.
    pub api_requests: Option<f64>,
    pub api_errors: Option<f64>,
    /// Downloads that fail, and whose signature fails to verify.
    pub download_failures: Option<f64>,
    pub signature_failures: Option<f64>,
    /// First launches of a new bundle that fail, so the device drops it.
    pub device_rollbacks: Option<f64>,
    /// Update checks that fail.
    pub update_check_errors: Option<f64>,
    /// Medians in seconds (log-normal, so the p95 is about 2.3 times the median).
    pub download_seconds: Option<f64>,
    pub install_seconds: Option<f64>,
    pub first_paint_seconds: Option<f64>,
    pub interactive_seconds: Option<f64>,
}

/// Rates resolved to numbers.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Resolved {
    crash: f64,
    js_errors: f64,
    api_requests: f64,
    api_errors: f64,
    download_failures: f64,
    signature_failures: f64,
    device_rollbacks: f64,
    update_check_errors: f64,
    download_seconds: f64,
    install_seconds: f64,
    first_paint_seconds: f64,
    interactive_seconds: f64,
}

impl Rates {
    /// A healthy app: 0.3 % of sessions crash, 0.2 % have a new JS error.
    pub const BUILT_IN: Rates = Rates {
        crash: Some(0.003),
        js_errors: Some(0.002),
        api_requests: Some(4.0),
        api_errors: Some(0.002),
        download_failures: Some(0.002),
        signature_failures: Some(0.0),
        device_rollbacks: Some(0.0),
        update_check_errors: Some(0.002),
        download_seconds: Some(1.0),
        install_seconds: Some(0.8),
        first_paint_seconds: Some(0.6),
        interactive_seconds: Some(1.2),
    };

    fn resolve(layers: &[&Rates]) -> Resolved {
        let pick = |f: fn(&Rates) -> Option<f64>| {
            layers
                .iter()
                .find_map(|r| f(r))
                .or(f(&Rates::BUILT_IN))
                .unwrap_or(0.0)
        };
        Resolved {
            crash: pick(|r| r.crash),
            js_errors: pick(|r| r.js_errors),
            api_requests: pick(|r| r.api_requests),
            api_errors: pick(|r| r.api_errors),
            download_failures: pick(|r| r.download_failures),
            signature_failures: pick(|r| r.signature_failures),
            device_rollbacks: pick(|r| r.device_rollbacks),
            update_check_errors: pick(|r| r.update_check_errors),
            download_seconds: pick(|r| r.download_seconds),
            install_seconds: pick(|r| r.install_seconds),
            first_paint_seconds: pick(|r| r.first_paint_seconds),
            interactive_seconds: pick(|r| r.interactive_seconds),
        }
    }

    /// `over`'s fields replace these where set.
    pub fn merge(&mut self, over: Rates) {
        let pairs: [(&mut Option<f64>, Option<f64>); 12] = [
            (&mut self.crash, over.crash),
            (&mut self.js_errors, over.js_errors),
            (&mut self.api_requests, over.api_requests),
            (&mut self.api_errors, over.api_errors),
            (&mut self.download_failures, over.download_failures),
            (&mut self.signature_failures, over.signature_failures),
            (&mut self.device_rollbacks, over.device_rollbacks),
            (&mut self.update_check_errors, over.update_check_errors),
            (&mut self.download_seconds, over.download_seconds),
            (&mut self.install_seconds, over.install_seconds),
            (&mut self.first_paint_seconds, over.first_paint_seconds),
            (&mut self.interactive_seconds, over.interactive_seconds),
        ];
        for (slot, v) in pairs {
            if v.is_some() {
                *slot = v;
            }
        }
    }

    /// Checks every field is a share (0..=1), a count or a duration as it should be.
    pub fn validate(&self, name: &str) -> crate::Result<()> {
        let shares = [
            ("crash", self.crash),
            ("js-errors", self.js_errors),
            ("api-errors", self.api_errors),
            ("download-failures", self.download_failures),
            ("signature-failures", self.signature_failures),
            ("device-rollbacks", self.device_rollbacks),
            ("update-check-errors", self.update_check_errors),
        ];
        for (field, v) in shares {
            if let Some(v) = v
                && !(0.0..=1.0).contains(&v)
            {
                return Err(crate::Error::InvalidInput(format!(
                    "{name}.{field} is a share of 0 to 1 (0.03 is 3 %), not {v}"
                )));
            }
        }
        let positive = [
            ("api-requests", self.api_requests),
            ("download-seconds", self.download_seconds),
            ("install-seconds", self.install_seconds),
            ("first-paint-seconds", self.first_paint_seconds),
            ("interactive-seconds", self.interactive_seconds),
        ];
        for (field, v) in positive {
            if let Some(v) = v
                && !(v.is_finite() && v >= 0.0)
            {
                return Err(crate::Error::InvalidInput(format!(
                    "{name}.{field} must be zero or more, not {v}"
                )));
            }
        }
        Ok(())
    }
}

/// What a fleet does: its size and rhythm, and how each version behaves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Scenario {
    pub devices: u32,
    /// Sessions per device per hour, on average across the fleet.
    pub sessions_per_hour: f64,
    /// The share of the fleet replaced each hour by new installs, which start on the
    /// app's built-in bundle and download what the pointer gives them at their first
    /// launch (so the current release keeps getting downloads during a rollout).
    #[serde(default = "default_installs")]
    pub new_installs_per_hour: f64,
    /// The native app version the devices run (X.Y.Z), which the device check compares
    /// with a release's minimum; unset, a release that names a minimum is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_version: Option<String>,
    pub seed: u64,
    /// What every version does unless `versions` says otherwise.
    #[serde(default)]
    pub default: Rates,
    #[serde(default)]
    pub versions: BTreeMap<String, Rates>,
}

fn default_installs() -> f64 {
    0.02
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            devices: 2000,
            sessions_per_hour: 1.0,
            new_installs_per_hour: default_installs(),
            native_version: None,
            seed: 1,
            default: Rates::default(),
            versions: BTreeMap::new(),
        }
    }
}

impl Scenario {
    pub fn validate(&self) -> crate::Result<()> {
        if self.devices == 0 || self.devices > 2_000_000 {
            return Err(crate::Error::InvalidInput(format!(
                "a fleet has 1 to 2,000,000 devices, not {}",
                self.devices
            )));
        }
        if !(self.sessions_per_hour.is_finite()
            && self.sessions_per_hour > 0.0
            && self.sessions_per_hour <= 60.0)
        {
            return Err(crate::Error::InvalidInput(format!(
                "sessions-per-hour is above 0 and at most 60 per device, not {}",
                self.sessions_per_hour
            )));
        }
        if !(0.0..=1.0).contains(&self.new_installs_per_hour) {
            return Err(crate::Error::InvalidInput(format!(
                "new-installs-per-hour is a share of the fleet from 0 to 1, not {}",
                self.new_installs_per_hour
            )));
        }
        if let Some(v) = &self.native_version {
            semver::Version::parse(v).map_err(|e| {
                crate::Error::InvalidInput(format!(
                    "native-version {v:?} is not a version (X.Y.Z): {e}"
                ))
            })?;
        }
        self.default.validate("default")?;
        for (v, r) in &self.versions {
            r.validate(&format!("versions.{v:?}"))?;
        }
        Ok(())
    }

    /// A scenario from TOML text (`name` says where it came from, for errors).
    pub fn from_toml(name: &str, text: &str) -> crate::Result<Self> {
        let s: Scenario =
            toml::from_str(text).map_err(|e| crate::Error::InvalidInput(format!("{name}: {e}")))?;
        s.validate()?;
        Ok(s)
    }

    /// Applies `VERSION:name=value,…` (`*:` for every version) over the rates so far.
    pub fn apply_rates(&mut self, spec: &str) -> crate::Result<()> {
        let bad = |why: &str| {
            crate::Error::InvalidInput(format!(
                "--rates {spec:?}: write VERSION:name=value,… (e.g. \
                 1.2.0:crash=0.03,js-errors=0.01): {}",
                why.trim()
            ))
        };
        let (version, fields) = spec.split_once(':').ok_or_else(|| bad("no ':'"))?;
        let text: String = fields
            .split(',')
            .filter(|f| !f.trim().is_empty())
            .map(|f| format!("{}\n", f.trim().replacen('=', " = ", 1)))
            .collect();
        let over: Rates = toml::from_str(&text).map_err(|e| bad(&e.to_string()))?;
        let slot = if version == "*" {
            &mut self.default
        } else {
            self.versions.entry(version.to_string()).or_default()
        };
        slot.merge(over);
        Ok(())
    }

    fn rates(&self, version: &str) -> Resolved {
        match self.versions.get(version) {
            Some(r) => Rates::resolve(&[r, &self.default]),
            None => Rates::resolve(&[&self.default]),
        }
    }
}

/// What the channel's pointer gives devices now, as the reference device check decided
/// it: the rollout (its version, id and share) for devices in its buckets, else `current`;
/// `None` for either is the built-in bundle (or, when `refused`, what the device runs).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Served {
    pub current: Option<String>,
    pub rollout: Option<(String, String, u32)>,
    /// Every device refuses the pointer (a bad signature, say) and keeps what it runs.
    pub refused: Option<String>,
    /// Devices outside the rollout refuse `current`'s release (a native version below its
    /// minimum, say) and keep what they run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_refused: Option<String>,
    /// Devices in the rollout's buckets (its id and share) refuse its release and keep what
    /// they run; the others still take `current`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_refused: Option<(String, u32, String)>,
    /// The holdout: its release, id, share (basis points) and end (Unix seconds). Devices in
    /// it run that release and label their series `cohort="holdout"` until it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<(String, String, u32, i64)>,
}

impl Served {
    /// What the device `install_id` is told to run (`None` inside: its built-in bundle), or
    /// `None` when it refuses what it is given and keeps what it runs.
    fn decide(&self, install_id: &str, at: i64) -> Option<Option<String>> {
        if self.refused.is_some() {
            return None;
        }
        if let Some((id, bp, _)) = &self.rollout_refused
            && in_rollout(id, install_id, *bp)
        {
            return None;
        }
        match &self.rollout {
            Some((v, id, bp)) if in_rollout(id, install_id, *bp) => Some(Some(v.clone())),
            _ if self.held(install_id, at) => self.holdout.as_ref().map(|h| Some(h.0.clone())),
            _ if self.current_refused.is_some() => None,
            _ => Some(self.current.clone()),
        }
    }

    /// Whether the device `install_id` is in the holdout at `at` (Unix seconds).
    fn held(&self, install_id: &str, at: i64) -> bool {
        self.rollout.is_none()
            && self
                .holdout
                .as_ref()
                .is_some_and(|(_, id, bp, until)| at < *until && in_holdout(id, install_id, *bp))
    }
}

/// What a held device's series name carries after its version (a `#` is never in a
/// version); [`Fleet::snapshot`] turns it into the label `cohort="holdout"`.
const HELD: &str = "#holdout";

/// The labels the version part of a series stands for: `version` (none for the channel's
/// own series), and `cohort="holdout"` when [`label`] marked it held.
fn version_labels(part: &str) -> Vec<(String, String)> {
    let (version, held) = match part.strip_suffix(HELD) {
        Some(v) => (v, true),
        None => (part, false),
    };
    let mut labels = Vec::new();
    if !version.is_empty() {
        labels.push(("version".to_string(), version.to_string()));
    }
    if held {
        labels.push(("cohort".to_string(), "holdout".to_string()));
    }
    labels
}

/// The version part of a device's series: its version, marked when it is held.
fn label(version: &str, held: bool) -> String {
    if held && !version.is_empty() {
        format!("{version}{HELD}")
    } else {
        version.to_string()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Device {
    id: String,
    /// How much more than average it is used (mean 1).
    activity: f64,
    running: Option<String>,
    /// Whether the device is in the channel's holdout (as of its last update check): its
    /// series carry `cohort="holdout"`.
    #[serde(default)]
    held: bool,
    /// Downloaded, runs from the next session.
    pending: Option<String>,
    /// Minutes since the epoch of its next session, and of its last.
    next_session: i64,
    last_session: i64,
}

/// The histogram families, their metric names and bucket bounds.
pub const HISTOGRAMS: [(&str, &[f64]); 4] = [
    (
        "ota_download_duration_seconds",
        &[0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 10.0, 15.0, 30.0],
    ),
    (
        "ota_install_duration_seconds",
        &[0.5, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0],
    ),
    (
        "ota_first_contentful_paint_seconds",
        &[0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0],
    ),
    (
        "ota_time_to_interactive_seconds",
        &[0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 12.0],
    ),
];

/// A series: its metric name and labels after `app` and `channel`.
type SeriesKey = (String, Vec<(String, String)>);

/// The fleet's state: devices, cumulative counters and histograms, and the generator.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fleet {
    pub scenario: Scenario,
    pub app: String,
    pub channel: String,
    /// The end of the last minute played (Unix seconds).
    pub now: i64,
    devices: Vec<Device>,
    rng: u64,
    counters: BTreeMap<String, f64>,
    /// Histogram family and version → cumulative bucket counts (then +Inf) and sum.
    histograms: BTreeMap<String, (Vec<f64>, f64)>,
    /// Blobs each version's manifest lists (for download log lines).
    #[serde(default)]
    blobs: BTreeMap<String, Vec<(String, u64)>>,
    /// Series created since the last snapshot: they start from 0 a minute before.
    #[serde(skip)]
    fresh: Vec<String>,
}

/// What one chunk produced.
#[derive(Debug, Default)]
pub struct Played {
    /// OpenMetrics text of every series, a sample per minute, ending `# EOF`.
    pub openmetrics: String,
    /// CloudFront log lines (no header) per hour, keyed by the hour's start (Unix seconds).
    pub log_lines: BTreeMap<i64, Vec<String>>,
    pub sessions: u64,
    pub update_checks: u64,
    pub downloads: u64,
    /// Per hour (its start, Unix seconds) and version: sessions, crashed sessions and
    /// sessions with a JS error, as a crash tool would export them ([`Played::crash_export`]).
    pub hourly: BTreeMap<(i64, String), [f64; 3]>,
}

impl Played {
    /// The hourly numbers as a crash tool's CSV export, in the columns `airlock kpi import`
    /// reads by default (Sentry's release-health names): `release`, `time` (the hour's
    /// start), `sessions`, `crashed_sessions`, `errored_sessions`.
    pub fn crash_export(&self) -> String {
        let mut csv = String::from("release,time,sessions,crashed_sessions,errored_sessions\n");
        for ((hour, version), [n, crashed, errored]) in &self.hourly {
            let t = Timestamp::from_unix(*hour)
                .map(|t| t.to_string())
                .unwrap_or_default();
            let _ = writeln!(csv, "{version},{t},{n},{crashed},{errored}");
        }
        csv
    }
}

/// CloudFront's standard log fields, as its `#Fields:` line names them.
pub const LOG_FIELDS: &str = "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end";

/// Where log lines say files are: the CDN path prefix of the channel's store, and the host.
#[derive(Clone, Debug)]
pub struct LogPaths {
    pub prefix: String,
    pub host: String,
}

impl Fleet {
    /// A fleet at `start` whose devices run what `served` gives them (as if they had been
    /// checking in all along).
    pub fn new(
        scenario: Scenario,
        app: &str,
        channel: &str,
        start: Timestamp,
        served: &Served,
    ) -> Self {
        let mut rng = Rng(scenario.seed ^ 0xA1F0_C0DE);
        let minute = start.unix().div_euclid(60);
        let devices = (0..scenario.devices)
            .map(|_| {
                let id = install_id(&mut rng);
                // Log-normal activity with mean 1: a few heavy users, a tail of rare ones.
                let activity = (0.8 * rng.normal() - 0.32).exp();
                let running = served.decide(&id, start.unix()).flatten();
                let mut d = Device {
                    held: served.held(&id, start.unix()),
                    id,
                    activity,
                    running,
                    pending: None,
                    next_session: 0,
                    last_session: i64::MIN / 2,
                };
                d.next_session = minute + gap(&mut rng, scenario.sessions_per_hour * activity);
                d
            })
            .collect();
        Self {
            app: app.to_string(),
            channel: channel.to_string(),
            now: minute * 60,
            devices,
            rng: rng.0,
            counters: BTreeMap::new(),
            histograms: BTreeMap::new(),
            blobs: BTreeMap::new(),
            fresh: Vec::new(),
            scenario,
        }
    }

    /// Tells the fleet which blobs `version` lists (with their sizes), for its log lines.
    pub fn know_blobs(&mut self, version: &str, blobs: Vec<(String, u64)>) {
        self.blobs.insert(version.to_string(), blobs);
    }

    pub fn knows_blobs(&self, version: &str) -> bool {
        self.blobs.contains_key(version)
    }

    /// The devices running each version (`""`: the built-in bundle).
    pub fn running(&self) -> BTreeMap<String, u32> {
        let mut out = BTreeMap::new();
        for d in &self.devices {
            *out.entry(d.running.clone().unwrap_or_default())
                .or_default() += 1;
        }
        out
    }

    /// Plays the minutes from the fleet's `now` to `until` with the pointer giving `served`
    /// throughout; `paths` set, it writes log lines too.
    pub fn play(&mut self, until: Timestamp, served: &Served, paths: Option<&LogPaths>) -> Played {
        let mut out = Played::default();
        let mut rng = Rng(self.rng);
        let end = until.unix().div_euclid(60);
        let mut samples: BTreeMap<SeriesKey, Vec<(i64, f64)>> = BTreeMap::new();
        let mut minute = self.now.div_euclid(60);
        if minute >= end {
            out.openmetrics = "# EOF\n".into();
            return out;
        }
        // Every series present so far starts the chunk with its value, so a reader of this
        // chunk alone still sees each increase.
        self.snapshot(minute * 60, &mut samples);
        let mut devices = std::mem::take(&mut self.devices);
        let installs_per_minute =
            f64::from(self.scenario.devices) * self.scenario.new_installs_per_hour / 60.0;
        while minute < end {
            // New installs replace some devices: built-in bundle, a new install id.
            for _ in 0..rng.poisson(installs_per_minute) as usize {
                let i = (rng.next() * devices.len() as f64) as usize % devices.len().max(1);
                if let Some(d) = devices.get_mut(i) {
                    d.id = install_id(&mut rng);
                    d.running = None;
                    d.held = false;
                    d.pending = None;
                    d.next_session = minute;
                    d.last_session = i64::MIN / 2;
                }
            }
            for d in devices.iter_mut() {
                while d.next_session <= minute {
                    let at = d.next_session * 60 + (rng.next() * 59.0) as i64;
                    self.session(d, at, served, paths, &mut rng, &mut out);
                    d.last_session = d.next_session;
                    d.next_session += gap(&mut rng, self.scenario.sessions_per_hour * d.activity);
                }
            }
            minute += 1;
            // Active devices: a session within the hour before this minute's end.
            let mut active: BTreeMap<String, f64> = BTreeMap::new();
            for d in &devices {
                if let Some(v) = &d.running
                    && d.last_session > minute - 60
                {
                    *active.entry(label(v, d.held)).or_default() += 1.0;
                }
            }
            for v in self.versions_seen() {
                let n = active.get(&v).copied().unwrap_or(0.0);
                self.counters.insert(gauge_key(&v), n);
            }
            self.snapshot(minute * 60, &mut samples);
        }
        self.devices = devices;
        self.now = end * 60;
        self.rng = rng.0;
        out.openmetrics = self.openmetrics(&samples);
        out
    }

    fn versions_seen(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .counters
            .keys()
            .filter_map(|k| k.strip_prefix("ota_sessions_total|"))
            .map(str::to_string)
            .collect();
        v.sort();
        v
    }

    /// One session of `d` starting at `at` (Unix seconds).
    fn session(
        &mut self,
        d: &mut Device,
        at: i64,
        served: &Served,
        paths: Option<&LogPaths>,
        rng: &mut Rng,
        out: &mut Played,
    ) {
        // A downloaded bundle runs from this session on; its first launch may fail.
        if let Some(new) = d.pending.take() {
            let r = self.scenario.rates(&new);
            if rng.next() < r.device_rollbacks {
                self.add(&format!("ota_device_rollbacks_total|{new}"), 1.0);
            } else {
                d.running = Some(new);
            }
        }
        out.sessions += 1;
        let version = d.running.clone().unwrap_or_default();
        if !version.is_empty() {
            let r = self.scenario.rates(&version);
            let series = label(&version, d.held);
            self.add(&format!("ota_sessions_total|{series}"), 1.0);
            let crashed = rng.next() < r.crash;
            self.add(
                &format!("ota_crashed_sessions_total|{series}"),
                f64::from(u8::from(crashed)),
            );
            let errored = rng.next() < r.js_errors;
            self.add(
                &format!("ota_js_error_sessions_total|{series}"),
                f64::from(u8::from(errored)),
            );
            let row = out
                .hourly
                .entry((at.div_euclid(3600) * 3600, version.clone()))
                .or_default();
            row[0] += 1.0;
            row[1] += f64::from(u8::from(crashed));
            row[2] += f64::from(u8::from(errored));
            let requests = rng.poisson(r.api_requests);
            let errors = rng.binomial(requests, r.api_errors);
            self.add(
                &format!("ota_api_requests_total|{series}|ok"),
                requests - errors,
            );
            self.add(&format!("ota_api_requests_total|{series}|error"), errors);
            self.observe(2, &series, lognormal(rng, r.first_paint_seconds));
            self.observe(3, &series, lognormal(rng, r.interactive_seconds));
        }
        // The update check at launch.
        out.update_checks += 1;
        let check_failed = rng.next() < self.scenario.rates(&version).update_check_errors;
        self.add(
            &format!(
                "ota_update_checks_total||{}",
                if check_failed { "error" } else { "ok" }
            ),
            1.0,
        );
        if let Some(p) = paths {
            let key = airlock_protocol::layout::pointer_key(&self.app, &self.channel);
            let status = if check_failed { 503 } else { 200 };
            let line = log_line(rng, at, p, &key, status, 1200);
            out.log_lines
                .entry(at.div_euclid(3600) * 3600)
                .or_default()
                .push(line);
        }
        if check_failed {
            return;
        }
        d.held = served.held(&d.id, at);
        let Some(wanted) = served.decide(&d.id, at) else {
            return;
        };
        if wanted == d.running {
            return;
        }
        let Some(new) = wanted else {
            // Back to the built-in bundle: nothing to download.
            d.pending = None;
            d.running = None;
            return;
        };
        self.download(d, at, &new, paths, rng, out);
    }

    fn download(
        &mut self,
        d: &mut Device,
        at: i64,
        new: &str,
        paths: Option<&LogPaths>,
        rng: &mut Rng,
        out: &mut Played,
    ) {
        let r = self.scenario.rates(new);
        out.downloads += 1;
        let failed = rng.next() < r.download_failures;
        self.add(
            &format!(
                "ota_download_total|{new}|{}",
                if failed { "failure" } else { "success" }
            ),
            1.0,
        );
        if let Some(p) = paths {
            let have: Vec<String> = d
                .running
                .as_ref()
                .and_then(|v| self.blobs.get(v))
                .map(|b| b.iter().map(|x| x.0.clone()).collect())
                .unwrap_or_default();
            let mut lines = vec![log_line(
                rng,
                at,
                p,
                &airlock_protocol::layout::manifest_key(&self.app, new),
                200,
                4000,
            )];
            let missing: Vec<(String, u64)> = self
                .blobs
                .get(new)
                .map(|b| b.iter().filter(|x| !have.contains(&x.0)).cloned().collect())
                .unwrap_or_default();
            let n = missing.len();
            for (i, (sha, size)) in missing.into_iter().enumerate() {
                // A failed download fails on its last blob.
                let status = if failed && i + 1 == n { 502 } else { 200 };
                lines.push(log_line(
                    rng,
                    at,
                    p,
                    &airlock_protocol::layout::blob_key(&sha),
                    status,
                    size,
                ));
            }
            out.log_lines
                .entry(at.div_euclid(3600) * 3600)
                .or_default()
                .extend(lines);
        }
        if failed {
            return;
        }
        self.observe(0, new, lognormal(rng, r.download_seconds));
        if rng.next() < r.signature_failures {
            self.add(&format!("ota_signature_failures_total|{new}"), 1.0);
            return;
        }
        self.observe(1, new, lognormal(rng, r.install_seconds));
        d.pending = Some(new.to_string());
    }

    fn add(&mut self, key: &str, by: f64) {
        match self.counters.get_mut(key) {
            Some(v) => *v += by,
            None => {
                self.counters.insert(key.to_string(), by);
                self.fresh.push(key.to_string());
            }
        }
    }

    fn observe(&mut self, family: usize, version: &str, seconds: f64) {
        let (name, bounds) = HISTOGRAMS[family];
        let key = format!("{name}|{version}");
        if !self.histograms.contains_key(&key) {
            self.fresh.push(key.clone());
        }
        let h = self
            .histograms
            .entry(key)
            .or_insert_with(|| (vec![0.0; bounds.len() + 1], 0.0));
        for (i, le) in bounds.iter().enumerate() {
            if seconds <= *le {
                h.0[i] += 1.0;
            }
        }
        h.0[bounds.len()] += 1.0;
        h.1 += seconds;
    }

    /// Every series' value at `t`; a series created since the last snapshot first gets a 0
    /// a minute earlier (so `increase()` counts its first events).
    fn snapshot(&mut self, t: i64, samples: &mut BTreeMap<SeriesKey, Vec<(i64, f64)>>) {
        let fresh = std::mem::take(&mut self.fresh);
        let mut put = |key: SeriesKey, origin: &str, value: f64| {
            let points = samples.entry(key).or_default();
            if points.is_empty() && fresh.iter().any(|f| f == origin) {
                points.push((t - 60, 0.0));
            }
            points.push((t, value));
        };
        for (key, value) in &self.counters {
            let mut parts = key.split('|');
            let name = parts.next().unwrap_or_default().to_string();
            let version = parts.next().unwrap_or_default();
            let mut labels = version_labels(version);
            if let Some(status) = parts.next() {
                labels.push(("status".to_string(), status.to_string()));
            }
            // A gauge has no start: it is what it is when read.
            let origin = if name == "ota_active_devices" {
                ""
            } else {
                key
            };
            put((name, labels), origin, *value);
        }
        for (key, (buckets, sum)) in &self.histograms {
            let (name, version) = key.split_once('|').unwrap_or((key, ""));
            let bounds = HISTOGRAMS
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(&[][..], |(_, b)| *b);
            let mut labels = version_labels(version);
            for (i, n) in buckets.iter().enumerate() {
                let le = bounds.get(i).map_or("+Inf".to_string(), |b| format!("{b}"));
                let mut with_le = labels.clone();
                with_le.push(("le".to_string(), le));
                put((format!("{name}_bucket"), with_le), key, *n);
            }
            let count = buckets.last().copied().unwrap_or(0.0);
            put((format!("{name}_count"), labels.clone()), key, count);
            put(
                (format!("{name}_sum"), std::mem::take(&mut labels)),
                key,
                *sum,
            );
        }
    }

    fn openmetrics(&self, samples: &BTreeMap<SeriesKey, Vec<(i64, f64)>>) -> String {
        let family = |name: &str| -> (String, &'static str) {
            for (h, _) in HISTOGRAMS {
                if name.starts_with(h) {
                    return (h.to_string(), "histogram");
                }
            }
            if name == "ota_active_devices" {
                return (name.to_string(), "gauge");
            }
            (
                name.strip_suffix("_total").unwrap_or(name).to_string(),
                "counter",
            )
        };
        // Families must be contiguous: group the series by family.
        type Points<'a> = Vec<(&'a SeriesKey, &'a Vec<(i64, f64)>)>;
        let mut by_family: BTreeMap<(String, &str), Points<'_>> = BTreeMap::new();
        for (k, v) in samples {
            by_family.entry(family(&k.0)).or_default().push((k, v));
        }
        let mut text = String::new();
        for ((name, kind), series) in by_family {
            let _ = writeln!(text, "# TYPE {name} {kind}");
            for ((metric, labels), points) in series {
                let mut l = format!("app=\"{}\",channel=\"{}\"", self.app, self.channel);
                for (k, v) in labels {
                    let _ = write!(l, ",{k}=\"{v}\"");
                }
                for (t, v) in points {
                    let _ = writeln!(text, "{metric}{{{l}}} {v} {t}");
                }
            }
        }
        text.push_str("# EOF\n");
        text
    }
}

fn gauge_key(version: &str) -> String {
    format!("ota_active_devices|{version}")
}

/// A new install id: 32 hex digits.
fn install_id(rng: &mut Rng) -> String {
    let mut id = String::with_capacity(32);
    for _ in 0..4 {
        let _ = write!(id, "{:08x}", (rng.next() * 4_294_967_296.0) as u64);
    }
    id
}

/// Minutes to a device's next session (at least 1), exponential at `per_hour`.
fn gap(rng: &mut Rng, per_hour: f64) -> i64 {
    let mean = 60.0 / per_hour.max(1e-6);
    ((-rng.next().ln()) * mean).ceil().clamp(1.0, 1e9) as i64
}

fn lognormal(rng: &mut Rng, median: f64) -> f64 {
    median * (0.5 * rng.normal()).exp()
}

/// One CloudFront standard log line (33 tab-separated fields) for a GET of `key`.
fn log_line(rng: &mut Rng, at: i64, p: &LogPaths, key: &str, status: u16, bytes: u64) -> String {
    let t = Timestamp::from_unix(at)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let (date, time) = (t.get(..10).unwrap_or(""), t.get(11..19).unwrap_or(""));
    let ok = (200..300).contains(&status);
    let result = if !ok {
        "Error"
    } else if rng.next() < 0.8 {
        "Hit"
    } else {
        "Miss"
    };
    let mut id = String::with_capacity(56);
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    for _ in 0..52 {
        id.push(ALPHABET[(rng.next() * 64.0) as usize % 64] as char);
    }
    id.push_str("==");
    let ip = format!("203.0.113.{}", 1 + (rng.next() * 250.0) as u32);
    let stem = format!(
        "/{}",
        format!("{}/{key}", p.prefix.trim_matches('/')).trim_start_matches('/')
    );
    let sent = if ok { bytes } else { 0 };
    let secs = 0.002 + rng.next() * 0.05;
    [
        date.to_string(),
        time.to_string(),
        "FRA56-P1".into(),
        sent.to_string(),
        ip,
        "GET".into(),
        p.host.clone(),
        stem,
        status.to_string(),
        "-".into(),
        "AirlockSim/1.0%20(okhttp)".into(),
        "-".into(),
        "-".into(),
        result.into(),
        id,
        p.host.clone(),
        "https".into(),
        "180".into(),
        format!("{secs:.3}"),
        "-".into(),
        "TLSv1.3".into(),
        "TLS_AES_128_GCM_SHA256".into(),
        result.into(),
        "HTTP/2.0".into(),
        "-".into(),
        "-".into(),
        (40000 + (rng.next() * 20000.0) as u32).to_string(),
        format!("{:.3}", secs * 0.8),
        result.into(),
        if key.ends_with(".json") {
            "application/json".into()
        } else {
            "application/octet-stream".into()
        },
        sent.to_string(),
        "-".into(),
        "-".into(),
    ]
    .join("\t")
}

/// A CloudFront log line as the fleet writes them, drawing its random fields (edge, client,
/// request id, timings) from the generator state `seed` (for benchmarks and fixtures).
pub fn sample_log_line(
    seed: &mut u64,
    at: i64,
    paths: &LogPaths,
    key: &str,
    status: u16,
    bytes: u64,
) -> String {
    let mut rng = Rng(*seed);
    let line = log_line(&mut rng, at, paths, key, status, bytes);
    *seed = rng.0;
    line
}

/// A whole log file: CloudFront's two header lines, then `lines`.
pub fn log_file(lines: &[String]) -> String {
    let mut text = format!("#Version: 1.0\n#Fields: {LOG_FIELDS}\n");
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> Timestamp {
        // 2027-01-15T08:00:00Z: on the hour.
        Timestamp::from_unix(1_800_000_000).unwrap()
    }

    fn served(current: &str, rollout: Option<(&str, u32)>) -> Served {
        Served {
            current: Some(current.into()),
            rollout: rollout.map(|(v, bp)| (v.into(), format!("Production-{v}-7"), bp)),
            ..Served::default()
        }
    }

    #[test]
    fn devices_follow_the_pointer_and_a_revert_moves_them_back() {
        let scenario = Scenario {
            devices: 4000,
            sessions_per_hour: 2.0,
            ..Scenario::default()
        };
        let mut f = Fleet::new(
            scenario,
            "shop",
            "Production",
            start(),
            &served("1.0.0", None),
        );
        assert_eq!(f.running()["1.0.0"], 4000, "every device starts on current");
        let rollout = served("1.0.0", Some(("1.1.0", 2000)));
        f.play(start().plus_seconds(6 * 3600), &rollout, None);
        let on_new = f.running().get("1.1.0").copied().unwrap_or(0);
        let share = f64::from(on_new) / 4000.0;
        assert!(
            (0.15..0.21).contains(&share),
            "about 20 % (the rollout's buckets, less devices not yet used): {share}"
        );
        f.play(
            start().plus_seconds(20 * 3600),
            &served("1.0.0", None),
            None,
        );
        let stragglers = f.running().get("1.1.0").copied().unwrap_or(0);
        assert!(
            stragglers < on_new / 10,
            "after a revert devices go back at their next launch: {stragglers} of {on_new} left"
        );
    }

    #[test]
    fn a_side_that_refuses_its_release_keeps_what_it_runs_and_the_other_side_moves() {
        let scenario = Scenario {
            devices: 4000,
            sessions_per_hour: 2.0,
            ..Scenario::default()
        };
        let mut f = Fleet::new(
            scenario,
            "shop",
            "Production",
            start(),
            &served("1.0.0", None),
        );
        // The rollout's release needs a newer native version than the fleet runs; 1.0.1 is
        // the new current for everyone else.
        let mut pointer = served("1.0.1", None);
        pointer.rollout_refused = Some((
            "Production-1.1.0-7".into(),
            2000,
            "needs native 3.5.0".into(),
        ));
        f.play(start().plus_seconds(6 * 3600), &pointer, None);
        let running = f.running();
        assert_eq!(running.get("1.1.0"), None, "{running:?}");
        let moved = f64::from(running.get("1.0.1").copied().unwrap_or(0)) / 4000.0;
        assert!(
            (0.7..0.8).contains(&moved),
            "the 80 % outside the rollout (less devices not yet used) take 1.0.1: {moved}"
        );
    }

    #[test]
    fn the_metrics_are_cumulative_openmetrics_and_a_chunk_starts_from_the_last_values() {
        let mut f = Fleet::new(
            Scenario::default(),
            "shop",
            "Production",
            start(),
            &served("1.0.0", None),
        );
        let first = f.play(start().plus_seconds(3600), &served("1.0.0", None), None);
        assert!(first.openmetrics.ends_with("# EOF\n"));
        assert!(first.openmetrics.contains("# TYPE ota_sessions counter"));
        assert!(
            first
                .openmetrics
                .contains("# TYPE ota_first_contentful_paint_seconds histogram")
        );
        let last = |text: &str| -> f64 {
            text.lines()
                .rfind(|l| l.starts_with("ota_sessions_total{"))
                .and_then(|l| l.split(' ').nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap()
        };
        let after_first = last(&first.openmetrics);
        let on_1_0_0: f64 = first.hourly.values().map(|r| r[0]).sum();
        assert_eq!(
            after_first, on_1_0_0,
            "the counter holds every session of the hour on 1.0.0 (new installs' first \
             sessions run the built-in bundle)"
        );
        assert!(on_1_0_0 <= first.sessions as f64);
        let second = f.play(start().plus_seconds(7200), &served("1.0.0", None), None);
        let opening = second
            .openmetrics
            .lines()
            .find(|l| l.starts_with("ota_sessions_total{"))
            .unwrap();
        assert!(
            opening.ends_with(&format!(" {}", start().unix() + 3600)),
            "the second chunk opens at the first one's end: {opening}"
        );
        assert!(last(&second.openmetrics) > after_first, "and counts on");
    }

    #[test]
    fn scenarios_read_from_toml_and_flags_with_clear_errors() {
        let mut s = Scenario::from_toml(
            "fleet.toml",
            "devices = 500\nsessions-per-hour = 2.0\nseed = 3\nnative-version = \"3.4.0\"\n\
             [default]\ncrash = 0.004\n[versions.\"1.2.0\"]\ncrash = 0.03\n",
        )
        .unwrap();
        s.apply_rates("1.2.0:js-errors=0.01,install-seconds=2")
            .unwrap();
        s.apply_rates("*:update-check-errors=0.05").unwrap();
        let r = s.rates("1.2.0");
        assert_eq!((r.crash, r.js_errors, r.install_seconds), (0.03, 0.01, 2.0));
        assert_eq!(
            s.rates("1.1.0").crash,
            0.004,
            "the default for other versions"
        );
        assert_eq!(s.rates("1.1.0").update_check_errors, 0.05);
        let typo = Scenario::from_toml("f.toml", "devices = 5\ncrashes = 1\n").unwrap_err();
        assert!(typo.to_string().contains("f.toml") && typo.to_string().contains("crashes"));
        let e = s
            .apply_rates("1.2.0:crash=3")
            .and_then(|()| s.validate())
            .unwrap_err();
        assert!(e.to_string().contains("share of 0 to 1"), "{e}");
        assert!(s.apply_rates("1.2.0 crash=0.1").is_err(), "no ':'");
        assert!(
            s.apply_rates("1.2.0:speed=3")
                .unwrap_err()
                .to_string()
                .contains("speed")
        );
    }

    #[test]
    fn log_lines_have_cloudfronts_fields() {
        let mut f = Fleet::new(
            Scenario {
                devices: 50,
                ..Scenario::default()
            },
            "shop",
            "Production",
            start(),
            &served("1.0.0", None),
        );
        f.know_blobs("1.1.0", vec![("ab".repeat(32), 100)]);
        let paths = LogPaths {
            prefix: "/ota".into(),
            host: "d111111abcdef8.cloudfront.net".into(),
        };
        let p = f.play(
            start().plus_seconds(3600),
            &served("1.1.0", None),
            Some(&paths),
        );
        let lines: Vec<&String> = p.log_lines.values().flatten().collect();
        assert!(!lines.is_empty());
        let fields = LOG_FIELDS.split(' ').count();
        assert!(lines.iter().all(|l| l.split('\t').count() == fields));
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("/ota/blobs/sha256/{}", "ab".repeat(32))))
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("/ota/apps/shop/channels/Production/pointer.dsse.json"))
        );
    }
}
