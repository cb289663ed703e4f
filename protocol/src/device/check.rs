//! The acceptance rules, in the order PROTOCOL.md lists them.
//!
//! Invariant: each step only trusts data that an earlier step verified (the pointer's signature
//! before its fields, the pinned statement hash before its signature, the statement before the
//! manifest it pins, the manifest before the files), and the first failure ends the check.

use semver::{BuildMetadata, Version};

use super::release::{check_manifest, check_statement};
use super::{
    AcceptedPointer, Decision, DeviceRequest, Fetched, ObjectSource, Outcome, Refusal, Via,
};
use crate::Error;
use crate::bucketing::{in_holdout, in_rollout};
use crate::digest::{ObjectRef, sha256_hex};
use crate::dsse::{Envelope, POINTER_PAYLOAD_TYPE};
use crate::layout::{blob_key, pointer_key};
use crate::limits::Cap;
use crate::manifest::Manifest;
use crate::pointer::ChannelPointer;

/// Runs every acceptance rule against `source` and says what the device should run.
pub fn verify_update(req: &DeviceRequest<'_>, source: &dyn ObjectSource) -> Decision {
    let (pointer, accepted) = match check_pointer(req, source) {
        Ok(checked) => checked,
        Err(reason) => {
            let outcome = Outcome::Refused { reason };
            return Decision {
                outcome,
                accepted_pointer: None,
                pointer: None,
            };
        }
    };
    let rollout = pointer.rollout.as_ref();
    let held = pointer
        .holdout
        .as_ref()
        .filter(|h| req.now < h.until && in_holdout(&h.holdout_id, req.install_id, h.basis_points));
    let applies =
        match rollout.filter(|r| in_rollout(&r.rollout_id, req.install_id, r.basis_points)) {
            Some(r) => Some((&r.version, &r.release, Via::Rollout)),
            None => match held {
                Some(h) => Some((&h.version, &h.release, Via::Holdout)),
                None => pointer
                    .current
                    .as_ref()
                    .map(|c| (&c.version, &c.release, Via::Current)),
            },
        };
    let outcome = match applies {
        None => Outcome::KeepBuiltIn,
        Some((version, pin, via)) => match check_release(req, source, version, pin) {
            Ok(manifest) => Outcome::Run {
                version: version.clone(),
                via,
                bundle_hash: manifest.bundle_hash,
                files: manifest.files.len(),
            },
            Err(reason) => Outcome::Refused { reason },
        },
    };
    Decision {
        outcome,
        accepted_pointer: Some(accepted),
        pointer: Some(pointer),
    }
}

/// Rules 1–7: the pointer exists, verifies, parses, names this app and channel, does not roll
/// back, and has not expired.
fn check_pointer(
    req: &DeviceRequest<'_>,
    source: &dyn ObjectSource,
) -> Result<(ChannelPointer, AcceptedPointer), Refusal> {
    let key = pointer_key(req.app, req.channel);
    let bytes = fetch(source, &key, Cap::POINTER)?.ok_or(Refusal::PointerMissing { key })?;
    check_pointer_bytes(req, &bytes)
}

/// Rules 2–7 on a pointer's stored bytes, however they were fetched (from the store, or
/// through a CDN): what a device checks before it reads any field. `req.install_id` and
/// `req.native_version` play no part.
pub fn check_pointer_bytes(
    req: &DeviceRequest<'_>,
    bytes: &[u8],
) -> Result<(ChannelPointer, AcceptedPointer), Refusal> {
    let malformed = |e: Error| Refusal::PointerMalformed {
        detail: e.to_string(),
    };
    let envelope = Envelope::from_bytes(bytes).map_err(malformed)?;
    let payload = envelope
        .verify(POINTER_PAYLOAD_TYPE, req.trusted_keys)
        .map_err(|e| match e {
            Error::Signature(detail) => Refusal::PointerSignatureInvalid { detail },
            other => malformed(other),
        })?;
    let pointer = ChannelPointer::from_payload(&payload).map_err(malformed)?;
    pointer.validate().map_err(malformed)?;
    if pointer.app != req.app {
        return Err(Refusal::WrongApp {
            expected: req.app.into(),
            found: pointer.app,
        });
    }
    if pointer.channel != req.channel {
        return Err(Refusal::WrongChannel {
            expected: req.channel.into(),
            found: pointer.channel,
        });
    }
    let sha256 = sha256_hex(bytes);
    if let Some(last) = req.last_accepted {
        if pointer.seq < last.seq {
            return Err(Refusal::SeqRollback {
                last: last.seq,
                found: pointer.seq,
            });
        }
        if pointer.seq == last.seq && sha256 != last.sha256 {
            return Err(Refusal::SeqReplayMismatch { seq: pointer.seq });
        }
    }
    if req.now >= pointer.expires_at {
        return Err(Refusal::PointerExpired {
            expires_at: pointer.expires_at,
            now: req.now,
        });
    }
    let accepted = AcceptedPointer {
        seq: pointer.seq,
        sha256,
    };
    Ok((pointer, accepted))
}

/// Rules 8–11: the pinned statement, its manifest, the native version, then every file.
fn check_release(
    req: &DeviceRequest<'_>,
    source: &dyn ObjectSource,
    version: &str,
    pin: &ObjectRef,
) -> Result<Manifest, Refusal> {
    let statement = check_statement(req, source, version, pin)?;
    let manifest = check_manifest(req.app, source, &statement)?;
    // validate() already parsed minNativeVersion; mapping the error keeps this total.
    let min = statement
        .min_native()
        .map_err(|e| Refusal::StatementMalformed {
            detail: e.to_string(),
        })?;
    if let Some(min) = min {
        let required = min.to_string();
        let native = req.native_version.ok_or(Refusal::NativeVersionUnknown {
            required: required.clone(),
        })?;
        if precedence(native) < precedence(&min) {
            return Err(Refusal::NativeTooOld {
                required,
                native: native.to_string(),
            });
        }
    }
    for file in &manifest.files {
        let path = file.path.clone();
        let key = blob_key(&file.sha256);
        let blob = match source.fetch(&key, Cap::blob(file.size)) {
            Ok(Fetched::Bytes(blob)) => blob,
            Ok(Fetched::Missing) => {
                return Err(Refusal::FileMissing {
                    path,
                    sha256: file.sha256.clone(),
                });
            }
            // Longer than the manifest says: refused without reading it.
            Ok(Fetched::TooLarge { size }) => {
                return Err(Refusal::FileSizeMismatch {
                    path,
                    expected: file.size,
                    found: size,
                });
            }
            Err(detail) => return Err(Refusal::FetchFailed { key, detail }),
        };
        if blob.len() as u64 != file.size {
            let found = blob.len() as u64;
            return Err(Refusal::FileSizeMismatch {
                path,
                expected: file.size,
                found,
            });
        }
        let found = sha256_hex(&blob);
        if found != file.sha256 {
            return Err(Refusal::FileHashMismatch {
                path,
                expected: file.sha256.clone(),
                found,
            });
        }
    }
    Ok(manifest)
}

/// Semver precedence ignores build metadata; `Version`'s `Ord` does not, so drop it.
fn precedence(version: &Version) -> Version {
    Version {
        build: BuildMetadata::EMPTY,
        ..version.clone()
    }
}

pub(super) fn fetch(
    source: &dyn ObjectSource,
    key: &str,
    cap: Cap,
) -> Result<Option<Vec<u8>>, Refusal> {
    match source.fetch(key, cap) {
        Ok(Fetched::Bytes(bytes)) => Ok(Some(bytes)),
        Ok(Fetched::Missing) => Ok(None),
        Ok(Fetched::TooLarge { size }) => Err(Refusal::FetchFailed {
            key: key.into(),
            detail: Error::OverCap {
                what: cap.what,
                key: key.into(),
                size,
                cap: cap.bytes,
            }
            .to_string(),
        }),
        Err(detail) => Err(Refusal::FetchFailed {
            key: key.into(),
            detail,
        }),
    }
}
