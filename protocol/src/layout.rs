//! Where each object lives inside a store, and the names allowed in those keys.
//!
//! Invariant: every key built here comes from validated parts, so app, channel and version
//! names can never introduce extra path segments (`/`, `..`) or ambiguous spellings.

use crate::Error;

/// The longest app or channel name, in characters.
pub const MAX_NAME_LEN: usize = 64;
/// The longest release version, in bytes.
pub const MAX_VERSION_LEN: usize = 64;

/// `blobs/sha256/<hex>`: a bundle file, content-addressed and immutable.
pub fn blob_key(sha256_hex: &str) -> String {
    format!("blobs/sha256/{sha256_hex}")
}

/// `apps/<app>/releases/<version>/manifest.json`.
pub fn manifest_key(app: &str, version: &str) -> String {
    format!("apps/{app}/releases/{version}/manifest.json")
}

/// `apps/<app>/releases/<version>/release.dsse.json`: the signed release statement.
pub fn statement_key(app: &str, version: &str) -> String {
    format!("apps/{app}/releases/{version}/release.dsse.json")
}

/// `apps/<app>/channels/<channel>/pointer.dsse.json`: the signed pointer devices poll.
pub fn pointer_key(app: &str, channel: &str) -> String {
    format!("apps/{app}/channels/{channel}/pointer.dsse.json")
}

/// `apps/<app>/log/`: the prefix under which the append-only event log lives.
pub fn log_prefix(app: &str) -> String {
    format!("apps/{app}/log/")
}

/// `apps/<app>/log/<seq as 20 digits>.json`; zero-padding makes key order equal seq order.
pub fn log_key(app: &str, seq: u64) -> String {
    format!("{}{seq:020}.json", log_prefix(app))
}

/// `keys/`: the prefix of the trusted-key document's versions.
pub const KEYS_PREFIX: &str = "keys/";

/// `keys/<version as 20 digits>.json`: one version of the trusted-key document.
pub fn keys_key(version: u64) -> String {
    format!("{KEYS_PREFIX}{version:020}.json")
}

/// The seq in a log key. Only the last path segment is examined, so this accepts either a full
/// key (`apps/shop-ios/log/00000000000000000042.json`) or a bare file name
/// (`00000000000000000042.json`); it returns `None` unless that segment is exactly 20 ASCII
/// digits followed by `.json`.
pub fn parse_log_key(key: &str) -> Option<u64> {
    let name = key.rsplit('/').next()?;
    let digits = name.strip_suffix(".json")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Checks an app name such as `shop-ios` (case is kept and significant).
pub fn validate_app_name(name: &str) -> Result<(), Error> {
    validate_name("app", name)
}

/// Checks a channel name such as `production` (case is kept and significant).
pub fn validate_channel_name(name: &str) -> Result<(), Error> {
    validate_name("channel", name)
}

fn validate_name(kind: &'static str, name: &str) -> Result<(), Error> {
    let fail = |reason: String| {
        Err(Error::InvalidName {
            kind,
            name: name.to_string(),
            reason,
        })
    };
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._-".contains(*c)))
    {
        return fail(format!(
            "{bad:?} is not allowed; use only A-Z, a-z, 0-9, '.', '_' and '-'"
        ));
    }
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return fail(format!("must be 1 to {MAX_NAME_LEN} characters long"));
    }
    if name.starts_with(['.', '-']) {
        return fail("must not start with '.' or '-'".into());
    }
    Ok(())
}

/// Checks a release version: semantic versioning 2.0.0 in canonical form, at most 64 bytes,
/// and without build metadata.
pub fn validate_version(version: &str) -> Result<semver::Version, Error> {
    let fail = |reason: String| {
        Err(Error::InvalidVersion {
            version: version.into(),
            reason,
        })
    };
    if version.is_empty() || version.len() > MAX_VERSION_LEN {
        return fail(format!("must be 1 to {MAX_VERSION_LEN} bytes long"));
    }
    let parsed = match semver::Version::parse(version) {
        Ok(parsed) => parsed,
        Err(e) => {
            return fail(format!(
                "not a semantic version like 1.4.0 or 1.4.0-beta.1: {e}"
            ));
        }
    };
    if !parsed.build.is_empty() {
        return fail(
            "build metadata ('+...') is not allowed: semver ignores it when comparing, so \
             1.0.0 and 1.0.0+x would be different releases of the same version"
                .into(),
        );
    }
    if parsed.to_string() != version {
        return fail(format!("write it in canonical form: {parsed}"));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(blob_key("ab"), "blobs/sha256/ab");
        assert_eq!(
            manifest_key("shop-ios", "1.4.0"),
            "apps/shop-ios/releases/1.4.0/manifest.json"
        );
        assert_eq!(
            statement_key("shop-ios", "1.4.0"),
            "apps/shop-ios/releases/1.4.0/release.dsse.json"
        );
        assert_eq!(
            pointer_key("Shop", "Beta"),
            "apps/Shop/channels/Beta/pointer.dsse.json"
        );
        assert_eq!(
            log_key("shop-ios", 42),
            "apps/shop-ios/log/00000000000000000042.json"
        );
        assert_eq!(
            log_key("a", u64::MAX),
            "apps/a/log/18446744073709551615.json"
        );
    }

    #[test]
    fn log_keys_round_trip() {
        for seq in [0, 1, 42, u64::MAX] {
            assert_eq!(parse_log_key(&log_key("shop-ios", seq)), Some(seq));
        }
        assert_eq!(
            parse_log_key("00000000000000000007.json"),
            Some(7),
            "bare file names work"
        );
        for bad in [
            "42.json",
            "0000000000000000004x.json",
            "00000000000000000042.jsonx",
            "",
        ] {
            assert_eq!(parse_log_key(bad), None, "{bad:?} is not a log key");
        }
        assert_eq!(
            parse_log_key("99999999999999999999.json"),
            None,
            "does not fit in u64"
        );
    }

    #[test]
    fn names() {
        for good in ["shop-ios", "Shop_iOS.2", "a", "production", &"x".repeat(64)] {
            assert!(
                validate_app_name(good).is_ok(),
                "{good:?} should be a valid name"
            );
        }
        for bad in [
            "",
            ".hidden",
            "-x",
            "a/b",
            "..",
            "a b",
            "é",
            &"x".repeat(65),
        ] {
            assert!(
                validate_channel_name(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        let err = validate_channel_name("a/b").unwrap_err().to_string();
        assert!(
            err.contains("channel") && err.contains("'/'"),
            "message names the problem: {err}"
        );
    }

    #[test]
    fn versions() {
        assert_eq!(
            validate_version("1.4.0").unwrap(),
            semver::Version::new(1, 4, 0)
        );
        assert!(validate_version("1.4.0-beta.1").is_ok());
        let err = validate_version("1.0.0+x").unwrap_err().to_string();
        assert!(
            err.contains("build metadata"),
            "the error explains the ambiguity: {err}"
        );
        for bad in [
            "1.4",
            "v1.4.0",
            "01.4.0",
            " 1.4.0",
            "",
            &format!("1.0.0-{}", "a".repeat(60)),
        ] {
            assert!(validate_version(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
