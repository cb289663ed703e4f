//! Timestamps as they appear in signed documents.
//!
//! Invariant: a [`Timestamp`] is always UTC, whole seconds, and within years 0000–9999, so its
//! text form is always exactly `YYYY-MM-DDTHH:MM:SSZ` and parsing that text gives it back.
//! Nothing here reads the clock: callers pass "now" in.

use std::fmt;

use ::time::format_description::well_known::Rfc3339;
use ::time::{OffsetDateTime, UtcOffset};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// The first representable second: 0000-01-01T00:00:00Z.
const MIN_UNIX: i64 = -62_167_219_200;
/// The last representable second: 9999-12-31T23:59:59Z.
const MAX_UNIX: i64 = 253_402_300_799;

/// A UTC instant truncated to whole seconds; serialised as `2026-11-23T10:20:00Z`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// The instant `secs` seconds after the Unix epoch (negative: before it).
    pub fn from_unix(secs: i64) -> Result<Self, Error> {
        if !(MIN_UNIX..=MAX_UNIX).contains(&secs) {
            return Err(Error::InvalidTimestamp {
                value: secs.to_string(),
                reason: "outside years 0000-9999".into(),
            });
        }
        let dt =
            OffsetDateTime::from_unix_timestamp(secs).map_err(|e| Error::InvalidTimestamp {
                value: secs.to_string(),
                reason: e.to_string(),
            })?;
        Ok(Timestamp(dt))
    }

    /// Seconds since the Unix epoch.
    pub fn unix(&self) -> i64 {
        self.0.unix_timestamp()
    }

    /// Converts any `OffsetDateTime` to UTC and drops the sub-second part (rounding down).
    /// Instants outside years 0000–9999 are clamped to that range.
    pub fn from_datetime(dt: OffsetDateTime) -> Self {
        Self::saturating(dt.to_offset(UtcOffset::UTC).unix_timestamp())
    }

    /// Parses RFC 3339 in UTC: `YYYY-MM-DDTHH:MM:SS[.fraction]Z`. The `T` and the `Z` are
    /// required (no other offsets); a fraction is accepted and dropped.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidTimestamp {
            value: text.to_string(),
            reason: reason.to_string(),
        };
        if !text.ends_with('Z') || text.as_bytes().get(10) != Some(&b'T') {
            return Err(invalid(
                "expected RFC 3339 in UTC, like 2026-11-23T10:20:00Z",
            ));
        }
        let dt = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| invalid(&e.to_string()))?;
        Self::from_unix(dt.unix_timestamp()).map_err(|_| invalid("outside years 0000-9999"))
    }

    /// This instant moved by `secs` seconds, clamped to years 0000–9999.
    pub fn plus_seconds(self, secs: i64) -> Self {
        Self::saturating(self.unix().saturating_add(secs))
    }

    /// The underlying `OffsetDateTime` (always UTC, whole seconds).
    pub fn to_datetime(self) -> OffsetDateTime {
        self.0
    }

    fn saturating(secs: i64) -> Self {
        let secs = secs.clamp(MIN_UNIX, MAX_UNIX);
        Timestamp(OffsetDateTime::from_unix_timestamp(secs).expect("clamped into the valid range"))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::time::macros::datetime;

    #[test]
    fn formats_whole_seconds_with_z() {
        let t = Timestamp::from_unix(1_795_429_200).unwrap();
        assert_eq!(t.to_string(), "2026-11-23T10:20:00Z");
        assert_eq!(Timestamp::parse("2026-11-23T10:20:00Z").unwrap(), t);
        assert_eq!(
            Timestamp::from_unix(0).unwrap().to_string(),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn parse_drops_fraction_and_requires_z() {
        let t = Timestamp::parse("2026-11-23T10:20:00.999Z").unwrap();
        assert_eq!(
            t.to_string(),
            "2026-11-23T10:20:00Z",
            "fractions are truncated, not rounded"
        );
        for bad in [
            "2026-11-23T10:20:00+00:00",
            "2026-11-23T11:20:00+01:00",
            "2026-11-23 10:20:00Z",
            "2026-11-23T10:20:00z",
            "2026-11-23",
            "",
        ] {
            assert!(
                Timestamp::parse(bad).is_err(),
                "{bad:?} must be refused: only ...Z is valid"
            );
        }
    }

    #[test]
    fn from_datetime_converts_and_truncates() {
        let t = Timestamp::from_datetime(datetime!(2026-11-23 11:20:00.75 +01:00));
        assert_eq!(t.to_string(), "2026-11-23T10:20:00Z");
        let before_epoch = Timestamp::from_datetime(datetime!(1969-12-31 23:59:59.5 UTC));
        assert_eq!(
            before_epoch.unix(),
            -1,
            "truncation rounds towards the past"
        );
    }

    #[test]
    fn range_is_years_0000_to_9999() {
        assert!(Timestamp::from_unix(MAX_UNIX).is_ok());
        assert!(
            Timestamp::from_unix(MAX_UNIX + 1).is_err(),
            "year 10000 has no RFC 3339 form"
        );
        assert_eq!(
            Timestamp::from_unix(MIN_UNIX).unwrap().to_string(),
            "0000-01-01T00:00:00Z"
        );
        let t = Timestamp::from_unix(0).unwrap();
        assert_eq!(
            t.plus_seconds(i64::MAX).unix(),
            MAX_UNIX,
            "plus_seconds saturates"
        );
        assert_eq!(t.plus_seconds(3600).to_string(), "1970-01-01T01:00:00Z");
    }

    #[test]
    fn serde_uses_the_text_form() {
        let t = Timestamp::from_unix(1_795_429_200).unwrap();
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2026-11-23T10:20:00Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        assert!(serde_json::from_str::<Timestamp>("\"2026-11-23T10:20:00+00:00\"").is_err());
    }
}
