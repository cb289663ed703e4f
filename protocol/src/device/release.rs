//! The release half of the check: the pinned statement, then the manifest it pins.
//!
//! Invariant: nothing from the statement is used before its bytes match the pointer's pin and
//! its signature verifies; nothing from the manifest before its bytes match the statement's pin.

use super::check::fetch;
use super::{DeviceRequest, ObjectSource, Refusal};
use crate::Error;
use crate::digest::ObjectRef;
use crate::dsse::{Envelope, RELEASE_PAYLOAD_TYPE};
use crate::layout::{manifest_key, statement_key};
use crate::limits::Cap;
use crate::manifest::Manifest;
use crate::statement::ReleaseStatement;

/// Rule 8: the statement matches its pin, verifies, parses, and names this app and version.
pub(super) fn check_statement(
    req: &DeviceRequest<'_>,
    source: &dyn ObjectSource,
    version: &str,
    pin: &ObjectRef,
) -> Result<ReleaseStatement, Refusal> {
    let key = statement_key(req.app, version);
    let bytes = fetch(source, &key, Cap::STATEMENT)?.ok_or(Refusal::StatementMissing { key })?;
    if !pin.matches(&bytes) {
        let found = ObjectRef::of(&bytes);
        return Err(Refusal::StatementHashMismatch {
            expected: pin.clone(),
            found,
        });
    }
    let malformed = |e: Error| Refusal::StatementMalformed {
        detail: e.to_string(),
    };
    let envelope = Envelope::from_bytes(&bytes).map_err(malformed)?;
    let payload = envelope
        .verify(RELEASE_PAYLOAD_TYPE, req.trusted_keys)
        .map_err(|e| match e {
            Error::Signature(detail) => Refusal::StatementSignatureInvalid { detail },
            other => malformed(other),
        })?;
    let statement = ReleaseStatement::from_payload(&payload).map_err(malformed)?;
    statement.validate().map_err(malformed)?;
    mismatch(statement_mismatch, "app", req.app, &statement.app)?;
    mismatch(statement_mismatch, "version", version, &statement.version)?;
    Ok(statement)
}

/// Rule 9: the manifest matches the statement's pin, names the same release and bundle
/// hash, and is internally consistent.
pub(super) fn check_manifest(
    app: &str,
    source: &dyn ObjectSource,
    statement: &ReleaseStatement,
) -> Result<Manifest, Refusal> {
    let key = manifest_key(app, &statement.version);
    let bytes = fetch(source, &key, Cap::MANIFEST)?.ok_or(Refusal::ManifestMissing { key })?;
    if !statement.manifest.matches(&bytes) {
        let (expected, found) = (statement.manifest.clone(), ObjectRef::of(&bytes));
        return Err(Refusal::ManifestHashMismatch { expected, found });
    }
    let malformed = |e: Error| Refusal::ManifestMalformed {
        detail: e.to_string(),
    };
    let manifest = Manifest::from_bytes(&bytes).map_err(malformed)?;
    mismatch(manifest_mismatch, "app", app, &manifest.app)?;
    mismatch(
        manifest_mismatch,
        "version",
        &statement.version,
        &manifest.version,
    )?;
    let bundle_hash = &statement.bundle_hash;
    mismatch(
        manifest_mismatch,
        "bundleHash",
        bundle_hash,
        &manifest.bundle_hash,
    )?;
    manifest.check().map_err(malformed)?;
    Ok(manifest)
}

/// `Ok` when `expected == found`, else the refusal built by `variant`.
fn mismatch(
    variant: fn(&'static str, String, String) -> Refusal,
    field: &'static str,
    expected: &str,
    found: &str,
) -> Result<(), Refusal> {
    if expected == found {
        Ok(())
    } else {
        Err(variant(field, expected.into(), found.into()))
    }
}

fn statement_mismatch(field: &'static str, expected: String, found: String) -> Refusal {
    Refusal::StatementMismatch {
        field,
        expected,
        found,
    }
}

fn manifest_mismatch(field: &'static str, expected: String, found: String) -> Refusal {
    Refusal::ManifestMismatch {
        field,
        expected,
        found,
    }
}
