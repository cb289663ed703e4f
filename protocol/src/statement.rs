//! The release statement: the signed claim "this manifest is release `<version>` of `<app>`".
//!
//! Invariant: a statement that passes [`ReleaseStatement::validate`] has valid names,
//! hash-shaped pins, a parseable minimum native version, and a PAE under
//! [`crate::dsse::MAX_SIGNED_BYTES`] whatever its text fields contain (hence the description cap
//! and its character rule).

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::digest::{ObjectRef, is_sha256_hex};
use crate::dsse::{RELEASE_PAYLOAD_TYPE, check_signable};
use crate::layout::{MAX_VERSION_LEN, validate_app_name, validate_version};
use crate::time::Timestamp;

/// The longest description, in UTF-8 bytes. With control characters other than newline and tab
/// refused, JSON escaping at most doubles it, which keeps every release PAE under 4096 bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 1024;

/// Payload of `apps/<app>/releases/<version>/release.dsse.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReleaseStatement {
    /// The app, e.g. `shop-ios`.
    pub app: String,
    /// The release version, e.g. `1.4.0`.
    pub version: String,
    /// When the release was created.
    pub created_at: Timestamp,
    /// Lowest native app version that may run this bundle; `null` means no check.
    pub min_native_version: Option<String>,
    /// Pin on the `manifest.json` bytes.
    pub manifest: ObjectRef,
    /// The manifest's bundle hash, repeated so the statement alone identifies the content.
    pub bundle_hash: String,
    /// Release notes; `""` when none. Like every optional field, it may be omitted: an
    /// omitted field equals its empty value (`""` here, `null` for the others).
    #[serde(default)]
    pub description: String,
}

/// The description rule: at most [`MAX_DESCRIPTION_BYTES`], and no control character
/// (Unicode Cc) but line feed and tab. The error names the character and where it is.
pub fn check_description(text: &str) -> Result<(), Error> {
    if text.len() > MAX_DESCRIPTION_BYTES {
        return Err(Error::malformed(
            "release statement",
            format!(
                "description is {} bytes; at most {MAX_DESCRIPTION_BYTES} are allowed",
                text.len()
            ),
        ));
    }
    if let Some((at, c)) = text
        .char_indices()
        .find(|(_, c)| c.is_control() && *c != '\n' && *c != '\t')
    {
        return Err(Error::malformed(
            "release statement",
            format!(
                "description has a control character (U+{:04X}) at byte {at}; only line feeds \
                 and tabs are allowed",
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

impl ReleaseStatement {
    /// The payload bytes: compact JSON in field order.
    pub fn to_payload(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a statement always serialises")
    }

    /// Parses a payload. Only the shape is checked here; call [`ReleaseStatement::validate`].
    pub fn from_payload(bytes: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(bytes).map_err(|e| Error::malformed("release statement", e))
    }

    /// The parsed minimum native version, if any.
    pub fn min_native(&self) -> Result<Option<semver::Version>, Error> {
        let Some(min) = &self.min_native_version else {
            return Ok(None);
        };
        let invalid = |reason: String| Error::InvalidVersion {
            version: min.clone(),
            reason,
        };
        if min.is_empty() || min.len() > MAX_VERSION_LEN {
            return Err(invalid(format!(
                "must be 1 to {MAX_VERSION_LEN} bytes long"
            )));
        }
        semver::Version::parse(min)
            .map(Some)
            .map_err(|e| invalid(format!("minNativeVersion is not a semantic version: {e}")))
    }

    /// Checks names, versions, hash shapes, the description rules and the signing size limit.
    pub fn validate(&self) -> Result<(), Error> {
        validate_app_name(&self.app)?;
        validate_version(&self.version)?;
        self.min_native()?;
        let malformed = |detail: &str| Err(Error::malformed("release statement", detail));
        if !is_sha256_hex(&self.manifest.sha256) || !is_sha256_hex(&self.bundle_hash) {
            return malformed("manifest.sha256 and bundleHash must be 64 lowercase hex digits");
        }
        check_description(&self.description)?;
        check_signable(
            "release statement",
            RELEASE_PAYLOAD_TYPE,
            &self.to_payload(),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn omitted_optional_fields_equal_their_empty_values() {
        let full = sample();
        let mut value: serde_json::Value = serde_json::from_slice(&full.to_payload()).unwrap();
        let object = value.as_object_mut().unwrap();
        object.remove("description");
        object.remove("minNativeVersion");
        let parsed = ReleaseStatement::from_payload(&serde_json::to_vec(&value).unwrap()).unwrap();
        assert_eq!(parsed.description, "");
        assert_eq!(parsed.min_native_version, None);
    }
    use crate::digest::sha256_hex;
    use crate::dsse::pae;

    fn sample() -> ReleaseStatement {
        ReleaseStatement {
            app: "shop-ios".into(),
            version: "1.4.0".into(),
            created_at: Timestamp::parse("2026-11-23T10:20:00Z").unwrap(),
            min_native_version: None,
            manifest: ObjectRef::of(b"manifest"),
            bundle_hash: sha256_hex(b"bundle"),
            description: String::new(),
        }
    }

    #[test]
    fn null_min_native_is_written_and_round_trips() {
        let s = sample();
        let text = String::from_utf8(s.to_payload()).unwrap();
        assert!(
            text.contains(r#""minNativeVersion":null"#),
            "null is explicit: {text}"
        );
        assert!(text.starts_with(r#"{"app":"shop-ios","version":"1.4.0","createdAt":"#));
        assert_eq!(ReleaseStatement::from_payload(text.as_bytes()).unwrap(), s);
        s.validate().unwrap();
    }

    #[test]
    fn worst_case_statement_fits_the_signer_limit() {
        let s = ReleaseStatement {
            app: "a".repeat(64),
            version: format!("1.0.0-{}", "a".repeat(58)),
            min_native_version: Some(format!("1.0.0-{}+{}", "a".repeat(40), "b".repeat(17))),
            description: "\"".repeat(MAX_DESCRIPTION_BYTES),
            ..sample()
        };
        s.validate()
            .expect("the largest valid statement must be signable");
        assert!(
            pae(RELEASE_PAYLOAD_TYPE, &s.to_payload()).len() < 3000,
            "ample headroom"
        );
    }

    #[test]
    fn validate_refuses_bad_fields() {
        let too_long = ReleaseStatement {
            description: "x".repeat(1025),
            ..sample()
        };
        assert!(too_long.validate().is_err(), "description over the cap");
        let control = ReleaseStatement {
            description: "a\u{1}b".into(),
            ..sample()
        };
        assert!(
            control.validate().is_err(),
            "control characters escape to 6 bytes each"
        );
        let notes = ReleaseStatement {
            description: "line\n\tindented — ü".into(),
            ..sample()
        };
        notes
            .validate()
            .expect("newlines, tabs and non-ASCII are fine");
        let native = ReleaseStatement {
            min_native_version: Some("2.3".into()),
            ..sample()
        };
        assert!(matches!(
            native.validate(),
            Err(Error::InvalidVersion { .. })
        ));
        let hash = ReleaseStatement {
            bundle_hash: "ABC".into(),
            ..sample()
        };
        assert!(hash.validate().is_err(), "hash shape");
        let extra = br#"{"app":"a","version":"1.0.0","createdAt":"2026-11-23T10:20:00Z","#;
        let mut json = extra.to_vec();
        json.extend_from_slice(br#""minNativeVersion":null,"manifest":{"sha256":"x","size":1},"#);
        json.extend_from_slice(br#""bundleHash":"x","description":"","future":true}"#);
        assert!(
            ReleaseStatement::from_payload(&json).is_err(),
            "unknown fields are refused"
        );
    }
}
