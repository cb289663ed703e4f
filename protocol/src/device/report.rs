//! The JSON form of a [`Refusal`]: `{"code", "message", ...the variant's fields}`.
//!
//! Invariant: `code` and `message` always come first and equal [`Refusal::code`] and the
//! `Display` text; field names are camelCase like every other Airlock JSON.

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::Refusal;
use crate::digest::ObjectRef;
use crate::time::Timestamp;

impl Refusal {
    /// The variant's data as (JSON name, value) pairs, for serialisation.
    fn fields(&self) -> Vec<(&'static str, Field<'_>)> {
        use Field::{Number, Object, Text, Time};
        use Refusal::*;
        match self {
            PointerMissing { key } | StatementMissing { key } | ManifestMissing { key } => {
                vec![("key", Text(key))]
            }
            PointerMalformed { detail }
            | PointerSignatureInvalid { detail }
            | StatementMalformed { detail }
            | StatementSignatureInvalid { detail }
            | ManifestMalformed { detail } => vec![("detail", Text(detail))],
            WrongApp { expected, found } | WrongChannel { expected, found } => {
                vec![("expected", Text(expected)), ("found", Text(found))]
            }
            SeqRollback { last, found } => vec![("last", Number(*last)), ("found", Number(*found))],
            SeqReplayMismatch { seq } => vec![("seq", Number(*seq))],
            PointerExpired { expires_at, now } => {
                vec![("expiresAt", Time(*expires_at)), ("now", Time(*now))]
            }
            StatementHashMismatch { expected, found }
            | ManifestHashMismatch { expected, found } => {
                vec![("expected", Object(expected)), ("found", Object(found))]
            }
            StatementMismatch {
                field,
                expected,
                found,
            }
            | ManifestMismatch {
                field,
                expected,
                found,
            } => {
                vec![
                    ("field", Text(field)),
                    ("expected", Text(expected)),
                    ("found", Text(found)),
                ]
            }
            NativeVersionUnknown { required } => vec![("required", Text(required))],
            NativeTooOld { required, native } => {
                vec![("required", Text(required)), ("native", Text(native))]
            }
            FileMissing { path, sha256 } => vec![("path", Text(path)), ("sha256", Text(sha256))],
            FileHashMismatch {
                path,
                expected,
                found,
            } => {
                vec![
                    ("path", Text(path)),
                    ("expected", Text(expected)),
                    ("found", Text(found)),
                ]
            }
            FileSizeMismatch {
                path,
                expected,
                found,
            } => vec![
                ("path", Text(path)),
                ("expected", Number(*expected)),
                ("found", Number(*found)),
            ],
            FetchFailed { key, detail } => vec![("key", Text(key)), ("detail", Text(detail))],
        }
    }
}

/// A serialisable field value.
enum Field<'a> {
    Text(&'a str),
    Number(u64),
    Object(&'a ObjectRef),
    Time(Timestamp),
}

impl Serialize for Field<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Text(text) => serializer.serialize_str(text),
            Field::Number(n) => serializer.serialize_u64(*n),
            Field::Object(object) => object.serialize(serializer),
            Field::Time(time) => time.serialize(serializer),
        }
    }
}

/// `{"code": ..., "message": ..., <the variant's fields in camelCase>}`.
impl Serialize for Refusal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = self.fields();
        let mut map = serializer.serialize_map(Some(2 + fields.len()))?;
        map.serialize_entry("code", self.code())?;
        map.serialize_entry("message", &self.to_string())?;
        for (name, value) in &fields {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}
