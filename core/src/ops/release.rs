//! Publishing a bundle into an unprotected channel. Order matters for crash safety: blobs,
//! then the manifest, then the signed statement, then the log entry (the commit), then the
//! pointer — so no pointer ever names something missing. Blobs already in the store are not
//! uploaded again (those the registry knows to be in the store are not even asked about),
//! uploads run several at a time, and a publish interrupted at any point completes when run
//! again: the manifest is deterministic and an unreferenced statement for the same bundle
//! is reused. Everything goes to the channel's store; the log entry to the home store.

use crate::bundle::policy::Violation;
use crate::bundle::{self, Bundle};
use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::log::Event;
use crate::parallel::{self, Job};
use crate::progress::{Progress, ProgressEvent};
use crate::signer::sign_envelope_by;
use crate::store::{self, ObjectClass, PutOutcome, Store, content_type_for};
use crate::workspace::{Attribution, Workspace};
use airlock_protocol::digest::{ObjectRef, Sha256Hasher};
use airlock_protocol::dsse::{Envelope, RELEASE_PAYLOAD_TYPE};
use airlock_protocol::layout;
use airlock_protocol::manifest::{FileEntry, Manifest};
use airlock_protocol::statement::{ReleaseStatement, check_description};
use serde::Serialize;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Clone, Debug, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ReleaseRequest {
    pub app: String,
    /// A folder, `.zip` or `.tar.gz`.
    #[cfg_attr(feature = "specta", specta(type = String))]
    pub bundle: PathBuf,
    pub version: String,
    /// Defaults to the first unprotected channel (`Staging` when it is one).
    pub channel: Option<String>,
    pub min_native_version: Option<String>,
    pub description: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ReleaseOutcome {
    pub app: String,
    pub version: String,
    pub channel: String,
    pub bundle_hash: String,
    pub files: u64,
    pub bytes: u64,
    pub uploaded_files: u64,
    pub uploaded_bytes: u64,
    pub seq: u64,
    pub pointers: Vec<super::PointerUpdate>,
}

const HASH_CHUNK: usize = 1 << 20;

impl Workspace {
    pub fn default_release_channel(&self) -> Result<String> {
        let mut open = self
            .config
            .channels
            .keys()
            .filter(|n| !self.is_protected(n));
        let first = open.clone().next();
        open.find(|n| n.as_str() == "Staging")
            .or(first)
            .cloned()
            .ok_or_else(|| Error::Config("no unprotected channel to release into".into()))
    }

    pub async fn release(
        &self,
        by: &Attribution,
        req: &ReleaseRequest,
        progress: &dyn Progress,
    ) -> Result<ReleaseOutcome> {
        self.release_cancellable(by, req, progress, &Cancel::new())
            .await
    }

    /// [`Self::release`], stopping when `cancel` is set before the log entry is written:
    /// uploads in flight are dropped (an S3 multipart upload is aborted), nothing is logged
    /// and no pointer moves; blobs already uploaded stay, and a later publish of the same
    /// bundle finds them there. Once the entry is written a cancel is ignored.
    pub async fn release_cancellable(
        &self,
        by: &Attribution,
        req: &ReleaseRequest,
        progress: &dyn Progress,
        cancel: &Cancel,
    ) -> Result<ReleaseOutcome> {
        self.may_change(&format!("publish {}", req.app))?;
        layout::validate_app_name(&req.app)?;
        let channel = match &req.channel {
            Some(c) => c.clone(),
            None => self.default_release_channel()?,
        };
        self.config.channel(&channel)?;
        if self.is_protected(&channel) {
            return Err(Error::Refused(format!(
                "{channel} is protected: releases reach it only by `airlock promote` with an \
                 approval; release into an unprotected channel such as {}",
                self.default_release_channel()?
            )));
        }
        if let Some(v) = &req.min_native_version {
            semver::Version::parse(v).map_err(|e| {
                Error::InvalidInput(format!("--min-native {v:?} is not a version (X.Y.Z): {e}"))
            })?;
        }
        let description = req.description.clone().unwrap_or_default();
        // The device's own rule, checked before anything is read or hashed.
        check_description(&description)
            .map_err(|e| Error::InvalidInput(format!("--description: {e}")))?;
        let state = self.load(&req.app).await?;
        {
            let protected = |c: &str| self.is_protected(c);
            crate::rules::check_release(&state, &req.version, &channel, &protected)?;
        }
        let mut violations = Vec::new();
        if let Err(e) = layout::validate_version(&req.version) {
            violations.push(Violation::InvalidVersion {
                version: req.version.clone(),
                why: e.to_string(),
            });
        }

        progress.report(ProgressEvent::Step {
            name: "checking policy gates".into(),
        });
        let (path, limits) = (req.bundle.clone(), self.config.limits(&req.app));
        let bundle = tokio::task::spawn_blocking(move || bundle::read(&path, &limits, violations))
            .await
            .map_err(|e| Error::InvalidInput(format!("reading the bundle failed: {e}")))??;

        let (bundle, manifest) = hash_off_runtime(&req.app, &req.version, bundle, progress).await?;
        let stop = || {
            Error::Cancelled(format!(
                "the publish of {} {} was cancelled; nothing was logged and no pointer moved \
                 (uploaded files stay, and a later publish reuses them)",
                req.app, req.version
            ))
        };
        if cancel.is_cancelled() {
            return Err(stop());
        }
        if let Some(done) = state.releases.get(&req.version) {
            // The same bundle released before (perhaps a run cut off after its log entry):
            // finish that run by bringing the pointers up to date. Anything else is refused.
            if done.bundle_hash != manifest.bundle_hash || done.channel != channel {
                let version = req.version.clone();
                return Err(Error::Gates {
                    bundle: bundle.source.clone(),
                    violations: vec![Violation::AlreadyReleased { version }],
                });
            }
            let pointers = self
                .publish_pointers(&state, &[channel.as_str()])
                .await
                .settle(&req.app, done.released_seq, None, Vec::new())?;
            return Ok(ReleaseOutcome {
                app: req.app.clone(),
                version: req.version.clone(),
                channel,
                bundle_hash: manifest.bundle_hash.clone(),
                files: done.files,
                bytes: done.bytes,
                uploaded_files: 0,
                uploaded_bytes: 0,
                seq: done.released_seq,
                pointers,
            });
        }
        let manifest_bytes = manifest.to_bytes();
        let manifest_ref = ObjectRef::of(&manifest_bytes);
        let statement = ReleaseStatement {
            app: req.app.clone(),
            version: req.version.clone(),
            created_at: self.clock.now(),
            min_native_version: req.min_native_version.clone(),
            manifest: manifest_ref.clone(),
            bundle_hash: manifest.bundle_hash.clone(),
            description,
        };
        // Only what every device accepts is signed: the device's own checks, before any
        // upload.
        manifest.check()?;
        statement.validate()?;
        // A missing, disabled or untrusted key fails here, before anything is uploaded.
        self.signers().await?;
        let store = self.channel_store(&channel)?.clone();
        let (uploaded_files, uploaded_bytes, blobs) = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(stop()),
            done = self.upload_blobs(&store, &bundle, &manifest, progress) => done?,
        };

        progress.report(ProgressEvent::Step {
            name: "writing manifest and statement".into(),
        });
        let manifest_key = layout::manifest_key(&req.app, &req.version);
        if store
            .put_new(&manifest_key, &manifest_bytes, ObjectClass::Immutable)
            .await?
            == PutOutcome::AlreadyExists
        {
            let stored = store
                .get(&manifest_key, airlock_protocol::limits::Cap::MANIFEST)
                .await?
                .map(|o| o.bytes);
            if stored.as_deref() != Some(manifest_bytes.as_slice()) {
                return Err(partial_conflict(&req.app, &req.version, &manifest_key));
            }
        }
        let statement_bytes = self.put_statement(store.as_ref(), &statement).await?;

        // The last point at which a cancel stops the publish: the statement is written,
        // but nothing names it until the log entry below.
        if cancel.is_cancelled() {
            return Err(stop());
        }
        progress.report(ProgressEvent::Step {
            name: "committing to the log".into(),
        });
        let release_ref = ObjectRef::of(&statement_bytes);
        let total_bytes = bundle.total_bytes();
        let committed = self
            .commit(&req.app, by, |state, seq| {
                let id = crate::rules::rollout_id(&channel, &req.version, seq);
                Ok(Event::Released {
                    holdout: self.holdout_for(state, &channel, &req.version, &id)?,
                    version: req.version.clone(),
                    channel: channel.clone(),
                    store: store.url().to_string(),
                    manifest: manifest_ref.clone(),
                    release: release_ref.clone(),
                    bundle_hash: manifest.bundle_hash.clone(),
                    files: manifest.files.len() as u64,
                    bytes: total_bytes,
                    min_native_version: req.min_native_version.clone(),
                    archived: state.retention(&channel, &req.version),
                })
            })
            .await?;
        // Only now, with a committed release referencing them (so `gc` keeps them), may later
        // publishes skip these blobs without asking the store.
        // These are caches of facts about the store: the release is committed either way, and
        // a cache that failed to record only costs a request later.
        let _ = self.registry.add_known_blobs(store.id(), &blobs).await;
        let _ = self
            .registry
            .mark_placed(store.id(), &req.app, &req.version, &release_ref.sha256)
            .await;
        Ok(ReleaseOutcome {
            app: req.app.clone(),
            version: req.version.clone(),
            channel,
            bundle_hash: manifest.bundle_hash.clone(),
            files: manifest.files.len() as u64,
            bytes: total_bytes,
            uploaded_files,
            uploaded_bytes,
            seq: committed.entry.entry.seq,
            pointers: committed.pointers,
        })
    }

    /// Uploads the blobs the store may lack, several at a time; returns the files and bytes
    /// actually sent and every distinct blob, to record as known once the release is
    /// committed. On a failure the uploads in flight are dropped: every write is
    /// create-only, so a rerun completes the job.
    async fn upload_blobs(
        &self,
        store: &Arc<dyn Store>,
        bundle: &Bundle,
        manifest: &Manifest,
        progress: &dyn Progress,
    ) -> Result<(u64, u64, Vec<(String, u64)>)> {
        let known = self.registry.known_blobs(store.id()).await?;
        let (files_total, bytes_total) = (manifest.files.len() as u64, bundle.total_bytes());
        let (mut files_done, mut bytes_done, mut skipped, mut sent, mut sent_bytes) =
            (0, 0, 0, 0, 0);
        let mut seen = HashSet::new();
        let mut recorded = Vec::new();
        let mut todo = Vec::new();
        for (file, entry) in bundle.files.iter().zip(&manifest.files) {
            debug_assert_eq!(
                file.path, entry.path,
                "manifest and bundle are in the same order"
            );
            let first = seen.insert(entry.sha256.as_str());
            if first {
                recorded.push((entry.sha256.clone(), entry.size));
            }
            if first && !known.contains(&entry.sha256) {
                todo.push((file, entry));
            } else {
                // A duplicate within the bundle, or known to be in the store already.
                files_done += 1;
                bytes_done += entry.size;
                skipped += 1;
            }
        }
        let report = |files_done, bytes_done, skipped| {
            progress.report(ProgressEvent::Uploading {
                files_done,
                files_total,
                bytes_done,
                bytes_total,
                skipped,
            });
        };
        report(files_done, bytes_done, skipped);
        let jobs: Vec<Job<'_, (u64, Result<store::Placed>)>> = todo
            .into_iter()
            .map(|(file, entry)| {
                let store = store.clone();
                Box::pin(async move {
                    let class = ObjectClass::Blob {
                        content_type: content_type_for(&entry.path),
                    };
                    let key = layout::blob_key(&entry.sha256);
                    let placed = store::put_verified(store.as_ref(), &key, &file.bytes, class);
                    (entry.size, placed.await)
                }) as Job<'_, _>
            })
            .collect();
        parallel::bounded(jobs, store.concurrency(), |(size, outcome)| -> Result<()> {
            files_done += 1;
            bytes_done += size;
            if outcome? != store::Placed::Verified {
                sent += 1;
                sent_bytes += size;
            } else {
                skipped += 1;
            }
            report(files_done, bytes_done, skipped);
            Ok(())
        })
        .await?;
        Ok((sent, sent_bytes, recorded))
    }

    /// Writes the signed statement, or reuses one an interrupted publish of the same bundle
    /// left behind. Returns the stored bytes.
    async fn put_statement(
        &self,
        store: &dyn Store,
        statement: &ReleaseStatement,
    ) -> Result<Vec<u8>> {
        let key = layout::statement_key(&statement.app, &statement.version);
        if let Some(existing) = self.reusable_statement(store, &key, statement).await? {
            return Ok(existing);
        }
        let signers = self.signers().await?;
        let env = sign_envelope_by(&signers, RELEASE_PAYLOAD_TYPE, &statement.to_payload()).await?;
        let bytes = env.to_bytes();
        match store.put_new(&key, &bytes, ObjectClass::Immutable).await? {
            PutOutcome::Created => Ok(bytes),
            PutOutcome::AlreadyExists => self
                .reusable_statement(store, &key, statement)
                .await?
                .ok_or_else(|| partial_conflict(&statement.app, &statement.version, &key)),
        }
    }

    async fn reusable_statement(
        &self,
        store: &dyn Store,
        key: &str,
        wanted: &ReleaseStatement,
    ) -> Result<Option<Vec<u8>>> {
        let Some(obj) = store
            .get(key, airlock_protocol::limits::Cap::STATEMENT)
            .await?
        else {
            return Ok(None);
        };
        let trusted = self.key_set().await?.set.active_keys();
        let same = Envelope::from_bytes(&obj.bytes)
            .and_then(|env| env.verify(RELEASE_PAYLOAD_TYPE, &trusted))
            .and_then(|payload| ReleaseStatement::from_payload(&payload))
            .is_ok_and(|s| {
                s.app == wanted.app
                    && s.version == wanted.version
                    && s.manifest == wanted.manifest
                    && s.bundle_hash == wanted.bundle_hash
                    && s.min_native_version == wanted.min_native_version
                    && s.description == wanted.description
            });
        if same {
            Ok(Some(obj.bytes))
        } else {
            Err(partial_conflict(&wanted.app, &wanted.version, key))
        }
    }
}

fn partial_conflict(app: &str, version: &str, key: &str) -> Error {
    Error::Refused(format!(
        "{key} already holds a different, unreleased {app} {version} (an interrupted publish \
         of another bundle or description); release this bundle under a new version"
    ))
}

/// [`hash_bundle`] on the blocking pool, so the async runtime (and a window on it) never
/// waits on it; its progress reports are forwarded to `progress` as they come.
async fn hash_off_runtime(
    app: &str,
    version: &str,
    bundle: Bundle,
    progress: &dyn Progress,
) -> Result<(Bundle, Manifest)> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (app, version) = (app.to_string(), version.to_string());
    let mut work = tokio::task::spawn_blocking(move || {
        let forward = move |e: ProgressEvent| {
            let _ = tx.send(e);
        };
        let manifest = hash_bundle(&app, &version, &bundle, &forward);
        (bundle, manifest)
    });
    loop {
        tokio::select! {
            Some(event) = rx.recv() => progress.report(event),
            done = &mut work => {
                while let Ok(event) = rx.try_recv() {
                    progress.report(event);
                }
                return done
                    .map_err(|e| Error::InvalidInput(format!("hashing the bundle failed: {e}")));
            }
        }
    }
}

/// Hashes every file (reporting progress) and builds the manifest.
pub fn hash_bundle(app: &str, version: &str, bundle: &Bundle, progress: &dyn Progress) -> Manifest {
    let files_total = bundle.files.len() as u64;
    let bytes_total = bundle.total_bytes();
    let mut bytes_done = 0;
    let mut entries = Vec::with_capacity(bundle.files.len());
    for (i, file) in bundle.files.iter().enumerate() {
        let mut hasher = Sha256Hasher::new();
        for chunk in file.bytes.chunks(HASH_CHUNK) {
            hasher.update(chunk);
        }
        bytes_done += file.bytes.len() as u64;
        entries.push(FileEntry {
            path: file.path.clone(),
            sha256: hasher.finish(),
            size: file.bytes.len() as u64,
        });
        progress.report(ProgressEvent::Hashing {
            files_done: i as u64 + 1,
            files_total,
            bytes_done,
            bytes_total,
        });
    }
    Manifest::new(app, version, entries)
}
