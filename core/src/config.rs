//! `airlock.toml`, the workspace's settings: the home store (event log and approvals) and
//! any other stores, which signer, where AWS credentials come from, who is acting, the
//! channels with their rollout plans, protection, store and CDN, and per-app bundle limits.
//! Unknown keys are refused so a typo cannot silently weaken a rule. Secrets never live here:
//! `credentials` names a source (the AWS chain, a profile, or a keychain entry), not a key.

use crate::bundle::policy::Limits;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub const FILE_NAME: &str = "airlock.toml";
pub const DATABASE_NAME: &str = "airlock.db";
/// The longest `pointer-ttl-hours`: 30 days, the device-side maximum in docs/PROTOCOL.md.
pub const MAX_TTL_HOURS: u32 = 30 * 24;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Config {
    /// The home store, holding the event log and approvals for every channel, and the
    /// default store of channels that name none: a URL (`file:///absolute/dir`,
    /// `s3://bucket/prefix`) or the name of an entry in `[stores]`.
    pub store: String,
    /// `local` (a key in this desktop's keychain), `local:<name>`, or `kms:<key id, ARN or
    /// alias>`.
    #[serde(default = "default_signer")]
    pub signer: String,
    /// During a key rotation, the previous signer: everything is signed by both until
    /// `airlock keys retire` ends the overlap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub co_signer: Option<String>,
    /// The trusted-key document this desktop created or joined, as `<version>:<sha256 of its
    /// bytes>`. Later versions are trusted only if they chain to it by signatures of keys
    /// already trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_pin: Option<String>,
    /// Where AWS credentials come from: `chain` (the AWS SDK's default chain: environment,
    /// shared config and profiles, SSO, instance roles), `profile:<name>`, or
    /// `keychain:<name>` (keys stored with `airlock credentials set`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    /// An endpoint for every AWS service (KMS, CloudFront, and S3 stores that set none):
    /// a test server or a private endpoint. Default: the AWS settings (`AWS_ENDPOINT_URL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_endpoint: Option<String>,
    /// The AWS region. Default: the AWS settings' region, else us-east-1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_region: Option<String>,
    /// Named stores, for channels that live in their own bucket or need S3 options.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stores: BTreeMap<String, StoreConfig>,
    /// Who is acting, when neither `--actor` nor `AIRLOCK_ACTOR` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// `release-manager` (default: may change things) or `viewer` (a product lead's
    /// workspace: every changing command is refused, reading works).
    #[serde(default, skip_serializing_if = "Role::is_default")]
    pub role: Role,
    /// How long a signed pointer stays valid, in hours.
    #[serde(default = "default_ttl_hours")]
    pub pointer_ttl_hours: u32,
    /// How often an open console re-reads the store, in seconds (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_interval_seconds: Option<u32>,
    #[serde(default = "default_channels")]
    pub channels: BTreeMap<String, ChannelConfig>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub apps: BTreeMap<String, Limits>,
    /// KPIs and the canary gate: the Prometheus to read, the KPIs in force, their limits
    /// (docs/KPIS.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kpi: Option<crate::kpi::policy::KpiSettings>,
    /// Notifications: the budget a command spends sending, each audience's body format
    /// (the webhook URLs and signing secrets live in the OS keychain only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<crate::notify::NotifySettings>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ChannelConfig {
    /// Protected channels take releases only by promotion, with an approval.
    #[serde(default)]
    pub protected: bool,
    /// Rollout steps in percent, ascending, ending at 100.
    #[serde(default = "full_plan")]
    pub plan: Vec<f64>,
    /// Where this channel's pointer and releases live: a URL or a `[stores]` name. Default:
    /// the home store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// A CloudFront distribution in front of the channel's store, invalidated after each
    /// pointer write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cdn: Option<CdnConfig>,
    /// The randomized holdout, in percent (0 turns it off): when a release becomes current
    /// here, this share of devices, chosen by lot, keeps the previous release for
    /// `holdout-hours`, so the gate can judge the new release against a fair comparison
    /// group (docs/KPIS.md, "The holdout"). New workspaces and the default channels get 5,
    /// written into airlock.toml; a channel section that does not say gets 0, so upgrading
    /// Airlock does not start serving pointers that clients predating the field refuse.
    #[serde(default)]
    pub holdout: f64,
    /// How long the holdout lasts, in hours (at most 336, two weeks). Default 72, the
    /// time the gate judges a current release.
    #[serde(default = "default_holdout_hours")]
    pub holdout_hours: u32,
}

/// The holdout of new workspaces and the default channels: 5 % of a channel's devices.
pub const DEFAULT_HOLDOUT_PERCENT: f64 = 5.0;
/// The default holdout's length: 72 h.
pub const DEFAULT_HOLDOUT_HOURS: u32 = 72;
/// The longest holdout: two weeks.
pub const MAX_HOLDOUT_HOURS: u32 = 336;

fn default_holdout_hours() -> u32 {
    DEFAULT_HOLDOUT_HOURS
}

impl ChannelConfig {
    /// A channel with this plan and the defaults for the rest.
    pub fn with_plan(protected: bool, plan: Vec<f64>) -> Self {
        Self {
            protected,
            plan,
            store: None,
            cdn: None,
            holdout: DEFAULT_HOLDOUT_PERCENT,
            holdout_hours: DEFAULT_HOLDOUT_HOURS,
        }
    }
}

/// A store with options: `[stores.<name>]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct StoreConfig {
    pub url: String,
    /// An S3-compatible endpoint (MinIO, Cloudflare R2, a test server). Default: AWS, or
    /// `AWS_ENDPOINT_URL` / the profile's `endpoint_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), which most S3-compatible services need.
    #[serde(default, skip_serializing_if = "is_false")]
    pub path_style: bool,
    /// The bucket's region. Default: the AWS settings' region, else us-east-1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// How long CDNs and devices may cache a channel pointer, in seconds (0: `no-cache`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer_max_age: Option<u32>,
    /// Uploads in flight at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
}

/// `[channels.<name>.cdn]`: the CloudFront distribution serving the channel's store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CdnConfig {
    /// The distribution id, e.g. `E2QWRUHAPOMQZL`.
    pub distribution: String,
    /// What the CDN path of a store key starts with. Default: `/` plus the store's prefix
    /// (an origin pointing at the bucket root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// Wait for the invalidation to complete (default), polling its status.
    #[serde(default = "yes")]
    pub wait: bool,
    /// The address devices read through (`https://d111111abcdef8.cloudfront.net` or the
    /// app's own domain): an incident's checklist reads the pointer there too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// What this desktop may do in the workspace. The real guarantee of a read-only desktop is
/// read-only credentials; the role makes the engine refuse first, in words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum Role {
    #[default]
    ReleaseManager,
    Viewer,
}

impl Role {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// A store resolved from a URL or a `[stores]` name.
pub type StoreSpec = StoreConfig;

fn is_false(b: &bool) -> bool {
    !*b
}

fn yes() -> bool {
    true
}

fn default_signer() -> String {
    "local".into()
}

fn default_ttl_hours() -> u32 {
    7 * 24
}

fn full_plan() -> Vec<f64> {
    vec![100.0]
}

fn default_channels() -> BTreeMap<String, ChannelConfig> {
    BTreeMap::from([
        (
            "Staging".to_string(),
            ChannelConfig::with_plan(false, full_plan()),
        ),
        (
            "Production".to_string(),
            ChannelConfig::with_plan(true, vec![5.0, 20.0, 50.0, 100.0]),
        ),
    ])
}

/// A percentage as basis points (1 % = 100 bp), refusing values that are not a whole number
/// of basis points or lie outside (0, 100].
pub fn percent_to_basis_points(percent: f64) -> Result<u32> {
    let bp = percent * 100.0;
    if !(percent > 0.0 && percent <= 100.0) || (bp - bp.round()).abs() > 1e-6 {
        return Err(Error::InvalidInput(format!(
            "{percent} % is not a valid rollout step; use a value in (0, 100] with at most two \
             decimals"
        )));
    }
    Ok(bp.round() as u32)
}

impl Config {
    pub fn new(store: &str, signer: &str) -> Self {
        Self {
            store: store.to_string(),
            signer: signer.to_string(),
            co_signer: None,
            key_pin: None,
            credentials: None,
            aws_endpoint: None,
            aws_region: None,
            stores: BTreeMap::new(),
            actor: None,
            role: Role::default(),
            pointer_ttl_hours: default_ttl_hours(),
            sync_interval_seconds: None,
            channels: default_channels(),
            apps: BTreeMap::new(),
            kpi: None,
            notify: None,
        }
    }

    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(FILE_NAME);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Error::Config(format!(
                "cannot read {}: {e}; run `airlock init --store URL` in the workspace folder",
                path.display()
            ))
        })?;
        let config: Self =
            toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        config
            .validate()
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        Ok(config)
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        let text = toml::to_string_pretty(self).expect("the configuration always serialises");
        let path = dir.join(FILE_NAME);
        std::fs::write(&path, text).map_err(|e| Error::io("write", &path, e))
    }

    /// Sets (or with `None` removes) one top-level setting in `dir`'s airlock.toml, keeping
    /// the rest of the file — comments included — as it is, and refusing a result that does
    /// not validate.
    pub fn set_setting(dir: &Path, key: &str, value: Option<&str>) -> Result<()> {
        let path = dir.join(FILE_NAME);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
        let mut doc: toml_edit::DocumentMut = text
            .parse()
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        match value {
            Some(v) => doc[key] = toml_edit::value(v),
            None => {
                doc.remove(key);
            }
        }
        Self::replace_checked(dir, &doc.to_string()).map(|_| ())
    }

    /// Replaces `dir`'s airlock.toml with `text` only if it parses and validates; atomic
    /// (a temporary file renamed over it), so a refused or failed write leaves the old file.
    pub(crate) fn replace_checked(dir: &Path, text: &str) -> Result<Self> {
        let path = dir.join(FILE_NAME);
        let parsed: Self =
            toml::from_str(text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        parsed.validate()?;
        let tmp = dir.join(format!(".{FILE_NAME}.tmp"));
        std::fs::write(&tmp, text).map_err(|e| Error::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io("replace", &path, e))?;
        Ok(parsed)
    }

    pub fn validate(&self) -> Result<()> {
        if self.channels.is_empty() {
            return Err(Error::Config("at least one channel is needed".into()));
        }
        for (name, channel) in &self.channels {
            airlock_protocol::layout::validate_channel_name(name)?;
            let steps = self.plan(name)?;
            if steps.windows(2).any(|w| w[0] >= w[1]) || steps.last() != Some(&10_000) {
                return Err(Error::Config(format!(
                    "channel {name}: plan {:?} must rise strictly and end at 100",
                    channel.plan
                )));
            }
            self.holdout(name)?;
            if channel.holdout_hours == 0 || channel.holdout_hours > MAX_HOLDOUT_HOURS {
                return Err(Error::Config(format!(
                    "channel {name}: holdout-hours must be from 1 to {MAX_HOLDOUT_HOURS}"
                )));
            }
        }
        if !self.channels.values().any(|c| !c.protected) {
            return Err(Error::Config(
                "at least one channel must be unprotected, to release into".into(),
            ));
        }
        if self.pointer_ttl_hours == 0 || self.pointer_ttl_hours > MAX_TTL_HOURS {
            return Err(Error::Config(format!(
                "pointer-ttl-hours must be from 1 to {MAX_TTL_HOURS} (30 days; devices refuse a \
                 pointer valid for longer)"
            )));
        }
        if self
            .sync_interval_seconds
            .is_some_and(|s| !(5..=86_400).contains(&s))
        {
            return Err(Error::Config(
                "sync-interval-seconds must be from 5 to 86400 (a day)".into(),
            ));
        }
        if let Some(pin) = &self.key_pin {
            crate::trust::Pin::parse(pin)?;
        }
        for app in self.apps.keys() {
            airlock_protocol::layout::validate_app_name(app)?;
        }
        if let Some(kpi) = &self.kpi {
            kpi.validate()?;
            for (name, c) in &kpi.channels {
                self.channel(name).map_err(|_| {
                    Error::Config(format!("kpi.channels.{name}: there is no channel {name}"))
                })?;
                if let Some(to) = &c.promote_to
                    && (to == name || self.channel(to).is_err())
                {
                    return Err(Error::Config(format!(
                        "kpi.channels.{name}.promote-to {to:?} must name another channel of \
                         this workspace"
                    )));
                }
            }
        }
        self.home_store()?;
        for (name, channel) in &self.channels {
            self.channel_store(name)?;
            if let Some(cdn) = &channel.cdn
                && (cdn.distribution.is_empty()
                    || !cdn.distribution.chars().all(|c| c.is_ascii_alphanumeric()))
            {
                return Err(Error::Config(format!(
                    "channel {name}: cdn distribution {:?} is not a CloudFront distribution id",
                    cdn.distribution
                )));
            }
        }
        for (name, store) in &self.stores {
            if store.url.is_empty() || store.concurrency == Some(0) {
                return Err(Error::Config(format!(
                    "[stores.{name}] needs a url and a concurrency of at least 1"
                )));
            }
        }
        crate::aws::credentials::CredentialSource::parse(self.credentials.as_deref())?;
        Ok(())
    }

    /// Resolves a store setting: a `[stores]` name, or a URL with default options.
    pub fn resolve_store(&self, name_or_url: &str) -> Result<StoreSpec> {
        if let Some(named) = self.stores.get(name_or_url) {
            return Ok(named.clone());
        }
        if name_or_url.contains("://") {
            return Ok(StoreSpec {
                url: name_or_url.to_string(),
                ..StoreSpec::default()
            });
        }
        let known: Vec<&str> = self.stores.keys().map(String::as_str).collect();
        Err(Error::Config(format!(
            "store {name_or_url:?} is neither a URL nor a name in [stores] (names: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )))
    }

    /// The home store: the event log and approvals live here.
    pub fn home_store(&self) -> Result<StoreSpec> {
        self.resolve_store(&self.store)
    }

    /// The store holding `channel`'s pointer and releases.
    pub fn channel_store(&self, channel: &str) -> Result<StoreSpec> {
        match &self.channel(channel)?.store {
            Some(s) => self.resolve_store(s),
            None => self.home_store(),
        }
    }

    pub fn channel(&self, name: &str) -> Result<&ChannelConfig> {
        self.channels.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.channels.keys().map(String::as_str).collect();
            Error::NotFound(format!(
                "no channel {name:?}; channels are {}",
                known.join(", ")
            ))
        })
    }

    /// The channel's rollout plan in basis points.
    pub fn plan(&self, channel: &str) -> Result<Vec<u32>> {
        self.channel(channel)?
            .plan
            .iter()
            .map(|p| percent_to_basis_points(*p))
            .collect()
    }

    /// The channel's holdout in basis points (0: none) and its length in seconds.
    pub fn holdout(&self, channel: &str) -> Result<(u32, i64)> {
        let c = self.channel(channel)?;
        let max = airlock_protocol::pointer::MAX_HOLDOUT_BASIS_POINTS;
        let bp = if c.holdout == 0.0 {
            0
        } else {
            percent_to_basis_points(c.holdout)
                .ok()
                .filter(|bp| *bp <= max)
                .ok_or_else(|| {
                    Error::Config(format!(
                        "channel {channel}: holdout {} % must be 0 (none) or up to {} % with at \
                         most two decimals",
                        c.holdout,
                        max / 100
                    ))
                })?
        };
        Ok((bp, i64::from(c.holdout_hours) * 3600))
    }

    pub fn limits(&self, app: &str) -> Limits {
        self.apps.get(app).cloned().unwrap_or_default()
    }

    pub fn pointer_ttl_seconds(&self) -> i64 {
        i64::from(self.pointer_ttl_hours) * 3600
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_and_validate() {
        let c = Config::new("file:///tmp/x", "local");
        c.validate().unwrap();
        let text = toml::to_string_pretty(&c).unwrap();
        let back: Config = toml::from_str(&text).unwrap();
        assert_eq!(back, c, "saved configuration must load unchanged:\n{text}");
        assert_eq!(c.plan("Production").unwrap(), [500, 2000, 5000, 10_000]);
    }

    #[test]
    fn typos_and_bad_plans_are_refused() {
        assert!(toml::from_str::<Config>("store = \"file:///x\"\nsigenr = \"local\"").is_err());
        let mut c = Config::new("file:///tmp/x", "local");
        c.channels.get_mut("Production").unwrap().plan = vec![20.0, 5.0, 100.0];
        assert!(c.validate().is_err(), "a falling plan must be refused");
        assert!(percent_to_basis_points(0.0).is_err());
        assert!(percent_to_basis_points(100.5).is_err());
        assert!(percent_to_basis_points(0.001).is_err());
        assert_eq!(percent_to_basis_points(0.25).unwrap(), 25);
    }

    #[test]
    fn promote_to_names_another_channel() {
        use crate::kpi::policy::{ChannelKpis, KpiSettings};
        let with = |to: &str| {
            let mut c = Config::new("file:///tmp/x", "local");
            let mut kpi = KpiSettings::default();
            kpi.channels.insert(
                "Staging".into(),
                ChannelKpis {
                    promote_to: Some(to.into()),
                    ..ChannelKpis::default()
                },
            );
            c.kpi = Some(kpi);
            c.validate()
        };
        with("Production").unwrap();
        for bad in ["Staging", "Prod"] {
            let e = with(bad).unwrap_err();
            assert!(
                e.to_string().contains("kpi.channels.Staging.promote-to")
                    && e.to_string().contains(bad),
                "{e}"
            );
        }
    }
}
