//! Typed edits of a workspace's settings, for the console's Settings screen: each edit is
//! applied to `airlock.toml` in place (comments and layout kept, with toml_edit), the result
//! is validated as a whole before anything is written, and a refusal names the setting.
//! The file is replaced atomically, so a refused or failed edit leaves it as it was.

use crate::bundle::policy::Limits;
use crate::config::{Config, FILE_NAME, Role};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use toml_edit::{Array, DocumentMut, Item, Table, value};

/// One change to `airlock.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "setting", rename_all = "camelCase")]
pub enum SettingEdit {
    /// Who is acting (blank: none, so each command must say).
    Actor {
        value: Option<String>,
    },
    Role {
        value: Role,
    },
    /// `local`, `local:<name>` or `kms:<key id, ARN or alias>`.
    Signer {
        value: String,
    },
    /// `chain`, `profile:<name>` or `keychain:<name>` (blank: the AWS chain).
    Credentials {
        value: Option<String>,
    },
    PointerTtlHours {
        value: u32,
    },
    /// How often an open console re-reads the store, in seconds.
    SyncIntervalSeconds {
        value: u32,
    },
    /// A channel's protection and rollout plan (percent steps, ending at 100).
    Channel {
        name: String,
        protected: bool,
        plan: Vec<f64>,
    },
    /// A channel's randomized holdout: the percent of devices kept on the previous release
    /// when a release becomes current (0: none), and for how many hours.
    ChannelHoldout {
        name: String,
        percent: f64,
        hours: u32,
    },
    /// An app's bundle limits.
    AppLimits {
        app: String,
        limits: Limits,
    },
    /// The home store (the event log, and every channel that names none): a URL
    /// (`file:///absolute/dir`, `s3://bucket/prefix`) or a `[stores]` name. Pointing an
    /// existing workspace elsewhere makes the registry rebuild from the new store.
    HomeStore {
        value: String,
    },
    /// A channel's own store (a production bucket), or none for the home store.
    ChannelStore {
        name: String,
        value: Option<String>,
    },
    /// The endpoint for every AWS service (blank: the AWS settings').
    AwsEndpoint {
        value: Option<String>,
    },
    /// The AWS region (blank: the AWS settings', else us-east-1).
    AwsRegion {
        value: Option<String>,
    },
}

/// Refuses a store that is neither a `[stores]` name of `config` nor a URL Airlock opens,
/// saying which setting it was for.
fn check_store(config_doc: &DocumentMut, what: &str, v: &str) -> Result<()> {
    let v = v.trim();
    let named = config_doc
        .get("stores")
        .and_then(Item::as_table_like)
        .is_some_and(|t| t.contains_key(v));
    if named {
        return Ok(());
    }
    let bad = |why: &str| {
        Err(Error::InvalidInput(format!(
            "{what}: {v:?} {why}; use file:///absolute/folder, s3://bucket/prefix or the name \
             of a [stores] entry"
        )))
    };
    if let Some(path) = v.strip_prefix("file://") {
        if !path.starts_with('/') {
            return bad("is not an absolute folder");
        }
        return Ok(());
    }
    if let Some(rest) = v.strip_prefix("s3://") {
        let bucket = rest.split('/').next().unwrap_or("");
        let ok = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !ok {
            return bad("does not name a valid bucket (3-63 lowercase letters, digits, '-', '.')");
        }
        return Ok(());
    }
    bad("is not understood")
}

fn set_optional(doc: &mut DocumentMut, key: &str, v: &Option<String>) {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(v) => doc[key] = value(v),
        None => {
            doc.remove(key);
        }
    }
}

fn table<'a>(item: &'a mut Item, what: &str) -> Result<&'a mut Table> {
    if item.is_none() {
        let mut t = Table::new();
        t.set_implicit(true);
        *item = Item::Table(t);
    }
    item.as_table_mut()
        .ok_or_else(|| Error::Config(format!("{what} in {FILE_NAME} is not a table")))
}

/// `[channels.<name>]`, which must exist.
fn channel_table<'a>(doc: &'a mut DocumentMut, name: &str) -> Result<&'a mut Table> {
    let channels = table(&mut doc["channels"], "[channels]")?;
    let Some(channel) = channels.get_mut(name) else {
        return Err(Error::NotFound(format!(
            "there is no channel {name} in {FILE_NAME}"
        )));
    };
    table(channel, &format!("[channels.{name}]"))
}

fn apply(doc: &mut DocumentMut, edit: &SettingEdit) -> Result<()> {
    match edit {
        SettingEdit::HomeStore { value: v } => {
            check_store(doc, "the home store", v)?;
            doc["store"] = value(v.trim());
        }
        SettingEdit::ChannelStore { name, value: v } => {
            let v = v.as_deref().map(str::trim).filter(|s| !s.is_empty());
            if let Some(v) = v {
                check_store(doc, &format!("the store of channel {name}"), v)?;
            }
            let channels = table(&mut doc["channels"], "[channels]")?;
            let Some(channel) = channels.get_mut(name) else {
                return Err(Error::NotFound(format!(
                    "there is no channel {name} in {FILE_NAME}"
                )));
            };
            let channel = table(channel, &format!("[channels.{name}]"))?;
            match v {
                Some(v) => channel["store"] = value(v),
                None => {
                    channel.remove("store");
                }
            }
        }
        SettingEdit::AwsEndpoint { value: v } => {
            if let Some(e) = v.as_deref().map(str::trim).filter(|s| !s.is_empty())
                && !(e.starts_with("http://") || e.starts_with("https://"))
            {
                return Err(Error::InvalidInput(format!(
                    "the AWS endpoint {e:?} must start with http:// or https://"
                )));
            }
            set_optional(doc, "aws-endpoint", v);
        }
        SettingEdit::AwsRegion { value: v } => {
            if let Some(r) = v.as_deref().map(str::trim).filter(|s| !s.is_empty())
                && !r
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                return Err(Error::InvalidInput(format!(
                    "the AWS region {r:?} is not a region name (like eu-west-1)"
                )));
            }
            set_optional(doc, "aws-region", v);
        }
        SettingEdit::Actor { value: v } => set_optional(doc, "actor", v),
        SettingEdit::Role { value: r } => match r {
            Role::ReleaseManager => {
                doc.remove("role");
            }
            Role::Viewer => doc["role"] = value("viewer"),
        },
        SettingEdit::Signer { value: v } => {
            crate::workspace::SignerSpec::parse(v)?;
            doc["signer"] = value(v.as_str());
        }
        SettingEdit::Credentials { value: v } => set_optional(doc, "credentials", v),
        SettingEdit::PointerTtlHours { value: v } => {
            doc["pointer-ttl-hours"] = value(i64::from(*v));
        }
        SettingEdit::SyncIntervalSeconds { value: v } => {
            doc["sync-interval-seconds"] = value(i64::from(*v));
        }
        SettingEdit::Channel {
            name,
            protected,
            plan,
        } => {
            let channel = channel_table(doc, name)?;
            channel["protected"] = value(*protected);
            let mut steps = Array::new();
            for p in plan {
                steps.push(*p);
            }
            channel["plan"] = value(steps);
        }
        SettingEdit::ChannelHoldout {
            name,
            percent,
            hours,
        } => {
            let channel = channel_table(doc, name)?;
            channel["holdout"] = value(*percent);
            channel["holdout-hours"] = value(i64::from(*hours));
        }
        SettingEdit::AppLimits { app, limits } => {
            airlock_protocol::layout::validate_app_name(app)?;
            let apps = table(&mut doc["apps"], "[apps]")?;
            let t = table(
                apps.entry(app).or_insert(Item::None),
                &format!("[apps.{app}]"),
            )?;
            let num = |n: u64| {
                i64::try_from(n)
                    .map_err(|_| Error::InvalidInput(format!("{n} is too large for a limit")))
            };
            t["max-total-bytes"] = value(num(limits.max_total_bytes)?);
            t["max-file-bytes"] = value(num(limits.max_file_bytes)?);
            t["max-files"] = value(num(limits.max_files)?);
            let mut forbidden = Array::new();
            for f in &limits.forbidden {
                forbidden.push(f.as_str());
            }
            t["forbidden"] = value(forbidden);
        }
    }
    Ok(())
}

impl Config {
    /// Applies `edits` to `dir`'s airlock.toml, all or none: the edited file must parse and
    /// validate, else nothing is written and the error says which setting is wrong.
    pub fn edit(dir: &Path, edits: &[SettingEdit]) -> Result<Self> {
        let path = dir.join(FILE_NAME);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
        let mut doc: DocumentMut = text
            .parse()
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        for edit in edits {
            apply(&mut doc, edit)?;
        }
        Self::replace_checked(dir, &doc.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace(text: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), text).unwrap();
        dir
    }

    const BASE: &str = "# our team's workspace\nstore = \"file:///tmp/airlock-bucket\"\n\n\
        [channels.Staging]\n\n[channels.Production]\nprotected = true # needs an approval\n\
        plan = [5.0, 100.0]\n";

    #[test]
    fn edits_keep_comments_and_validate() {
        let dir = workspace(BASE);
        let c = Config::edit(
            dir.path(),
            &[
                SettingEdit::Actor {
                    value: Some("ana".into()),
                },
                SettingEdit::Channel {
                    name: "Production".into(),
                    protected: true,
                    plan: vec![5.0, 20.0, 100.0],
                },
                SettingEdit::ChannelHoldout {
                    name: "Production".into(),
                    percent: 2.5,
                    hours: 48,
                },
            ],
        )
        .unwrap();
        assert_eq!(c.holdout("Production").unwrap(), (250, 48 * 3600));
        assert_eq!(c.actor.as_deref(), Some("ana"));
        assert_eq!(c.plan("Production").unwrap(), vec![500, 2000, 10_000]);
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert!(
            text.contains("# our team's workspace"),
            "comments survive: {text}"
        );
    }

    #[test]
    fn a_refused_edit_writes_nothing() {
        let dir = workspace(BASE);
        let e = Config::edit(
            dir.path(),
            &[
                SettingEdit::Actor {
                    value: Some("ana".into()),
                },
                SettingEdit::Channel {
                    name: "Production".into(),
                    protected: true,
                    plan: vec![50.0, 20.0],
                },
            ],
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("Production"),
            "names the channel: {e}"
        );
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(
            text, BASE,
            "all or nothing: the valid edit before it is not written"
        );
        let e = Config::edit(dir.path(), &[SettingEdit::PointerTtlHours { value: 0 }]).unwrap_err();
        assert!(e.to_string().contains("pointer-ttl-hours"), "{e}");
        for (percent, hours, says) in [(60.0, 72, "up to 50 %"), (5.0, 0, "holdout-hours")] {
            let e = Config::edit(
                dir.path(),
                &[SettingEdit::ChannelHoldout {
                    name: "Production".into(),
                    percent,
                    hours,
                }],
            )
            .unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
        }
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(text, BASE, "a refused holdout writes nothing");
    }

    #[test]
    fn stores_are_edited_checked_and_named_in_refusals() {
        let dir = workspace(BASE);
        let c = Config::edit(
            dir.path(),
            &[
                SettingEdit::ChannelStore {
                    name: "Production".into(),
                    value: Some("s3://shop-prod/ota".into()),
                },
                SettingEdit::AwsRegion {
                    value: Some("eu-west-1".into()),
                },
                SettingEdit::AwsEndpoint {
                    value: Some("http://127.0.0.1:9000".into()),
                },
            ],
        )
        .unwrap();
        assert_eq!(
            c.channel_store("Production").unwrap().url,
            "s3://shop-prod/ota"
        );
        assert_eq!(
            c.channel_store("Staging").unwrap().url,
            "file:///tmp/airlock-bucket"
        );
        assert_eq!(c.aws_region.as_deref(), Some("eu-west-1"));
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert!(
            text.contains("protected = true # needs an approval"),
            "{text}"
        );

        // Back to the home store; a new home store.
        let c = Config::edit(
            dir.path(),
            &[
                SettingEdit::ChannelStore {
                    name: "Production".into(),
                    value: None,
                },
                SettingEdit::HomeStore {
                    value: "file:///srv/ota".into(),
                },
            ],
        )
        .unwrap();
        assert_eq!(
            c.channel_store("Production").unwrap().url,
            "file:///srv/ota"
        );

        let before = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        for (edit, says) in [
            (
                SettingEdit::HomeStore {
                    value: "file://relative/dir".into(),
                },
                "the home store",
            ),
            (
                SettingEdit::ChannelStore {
                    name: "Production".into(),
                    value: Some("s3://No_Such".into()),
                },
                "the store of channel Production",
            ),
            (
                SettingEdit::ChannelStore {
                    name: "Beta".into(),
                    value: None,
                },
                "no channel Beta",
            ),
            (
                SettingEdit::HomeStore {
                    value: "ftp://x".into(),
                },
                "not understood",
            ),
            (
                SettingEdit::AwsEndpoint {
                    value: Some("localhost:9000".into()),
                },
                "http://",
            ),
        ] {
            let e = Config::edit(dir.path(), std::slice::from_ref(&edit)).unwrap_err();
            assert!(e.to_string().contains(says), "{edit:?}: {e}");
        }
        assert_eq!(
            std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap(),
            before,
            "a refused store edit writes nothing"
        );
    }
}
