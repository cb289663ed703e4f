//! `airlock.toml`, the workspace's settings: which store, which signer, who is acting, the
//! channels with their rollout plans and protection, and per-app bundle limits. Unknown keys
//! are refused so a typo cannot silently weaken a rule. Secrets never live here.

use crate::bundle::policy::Limits;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub const FILE_NAME: &str = "airlock.toml";
pub const DATABASE_NAME: &str = "airlock.db";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// `file:///absolute/dir` (later also `s3://bucket/prefix`).
    pub store: String,
    /// `local` (a key in this desktop's keychain) or `local:<name>`.
    #[serde(default = "default_signer")]
    pub signer: String,
    /// Who is acting, when neither `--actor` nor `AIRLOCK_ACTOR` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// How long a signed pointer stays valid, in hours.
    #[serde(default = "default_ttl_hours")]
    pub pointer_ttl_hours: u32,
    #[serde(default = "default_channels")]
    pub channels: BTreeMap<String, ChannelConfig>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub apps: BTreeMap<String, Limits>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ChannelConfig {
    /// Protected channels take releases only by promotion, with an approval.
    #[serde(default)]
    pub protected: bool,
    /// Rollout steps in percent, ascending, ending at 100.
    #[serde(default = "full_plan")]
    pub plan: Vec<f64>,
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
            ChannelConfig {
                protected: false,
                plan: full_plan(),
            },
        ),
        (
            "Production".to_string(),
            ChannelConfig {
                protected: true,
                plan: vec![5.0, 20.0, 50.0, 100.0],
            },
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
            actor: None,
            pointer_ttl_hours: default_ttl_hours(),
            channels: default_channels(),
            apps: BTreeMap::new(),
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
        }
        if !self.channels.values().any(|c| !c.protected) {
            return Err(Error::Config(
                "at least one channel must be unprotected, to release into".into(),
            ));
        }
        if self.pointer_ttl_hours == 0 {
            return Err(Error::Config("pointer-ttl-hours must be at least 1".into()));
        }
        for app in self.apps.keys() {
            airlock_protocol::layout::validate_app_name(app)?;
        }
        Ok(())
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
}
