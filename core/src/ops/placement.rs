//! Making a release complete in a channel's store before a pointer there names it. A
//! release lives first in the store of the channel it was released into; when a channel in
//! another store (say a production bucket) is to serve it, its blobs the target may lack,
//! its manifest and then its statement are copied — inside S3 when one client reaches both
//! buckets — and the registry records the placement, so later pointer writes skip the work.
//! The statement goes last: a statement in the target means the release is complete there.

use crate::error::{Error, Result};
use crate::parallel::{self, Job};
use crate::progress::Task;
use crate::state::AppState;
use crate::store::{self, ObjectClass, PutOutcome, Store, content_type_for};
use crate::workspace::Workspace;
use airlock_protocol::digest::ObjectRef;
use airlock_protocol::layout;
use airlock_protocol::limits::Cap;
use airlock_protocol::manifest::Manifest;
use std::collections::HashSet;
use std::sync::Arc;

impl Workspace {
    /// Ensures `version` of `state.app` is complete in `target`.
    pub(crate) async fn place_release(
        &self,
        state: &AppState,
        version: &str,
        target: &Arc<dyn Store>,
    ) -> Result<()> {
        let release = state.release(version)?;
        let app = &state.app;
        let statement_sha = &release.release.sha256;
        if self
            .registry
            .is_placed(target.id(), app, version, statement_sha)
            .await?
        {
            return Ok(());
        }
        let statement_key = layout::statement_key(app, version);
        // Where the release was published is in its `released` entry, not in today's
        // airlock.toml (which may have moved the channel to another bucket since).
        let source = self
            .all_stores()
            .into_iter()
            .find(|s| s.url() == release.store)
            .ok_or_else(|| {
                Error::Config(format!(
                    "{app} {version} was published into {}, which this desktop's airlock.toml \
                     does not name; add that store to reach it",
                    release.store
                ))
            })?;
        if source.id() == target.id() {
            // Its own store: check once that the statement is there (the registry of the
            // desktop that published it already knows).
            let there = target.get(&statement_key, Cap::STATEMENT).await?;
            if !there.is_some_and(|o| release.release.matches(&o.bytes)) {
                return Err(Error::Integrity(format!(
                    "the statement of {app} {version} is missing from {} or differs from the log",
                    target.url()
                )));
            }
            return self
                .registry
                .mark_placed(target.id(), app, version, statement_sha)
                .await;
        }
        if let Some(there) = target.get(&statement_key, Cap::STATEMENT).await? {
            if !release.release.matches(&there.bytes) {
                return Err(Error::Integrity(format!(
                    "{statement_key} in {} is not the statement of {app} {version} in the log",
                    target.url()
                )));
            }
        } else {
            let manifest_key = layout::manifest_key(app, version);
            let manifest_bytes = source
                .get(&manifest_key, Cap::MANIFEST)
                .await?
                .map(|o| o.bytes)
                .ok_or_else(|| {
                    Error::Integrity(format!("{manifest_key} is missing from {}", source.url()))
                })?;
            if !release.manifest.matches(&manifest_bytes) {
                return Err(Error::Integrity(format!(
                    "the manifest of {app} {version} in {} does not match the log",
                    source.url()
                )));
            }
            let manifest = Manifest::from_bytes(&manifest_bytes)?;
            let known = self.registry.known_blobs(target.id()).await?;
            let mut seen = HashSet::new();
            let missing: Vec<_> = manifest
                .files
                .iter()
                .filter(|f| seen.insert(f.sha256.as_str()) && !known.contains(&f.sha256))
                .collect();
            let subject = format!("{app} {version} into {}", target.url());
            let total = missing.len() as u64;
            crate::progress::step(format!("copying {subject}"));
            crate::progress::count(Task::Copying, &subject, 0, total);
            let jobs: Vec<Job<'_, Result<()>>> = missing
                .into_iter()
                .map(|f| {
                    let (source, target) = (source.clone(), target.clone());
                    let key = layout::blob_key(&f.sha256);
                    let class = ObjectClass::Blob {
                        content_type: content_type_for(&f.path),
                    };
                    let want = ObjectRef {
                        sha256: f.sha256.clone(),
                        size: f.size,
                    };
                    Box::pin(async move {
                        store::copy_object(source.as_ref(), target.as_ref(), &key, class, &want)
                            .await
                    }) as Job<'_, _>
                })
                .collect();
            let mut done = 0;
            parallel::bounded(jobs, target.concurrency(), |copied| {
                copied?;
                done += 1;
                crate::progress::count(Task::Copying, &subject, done, total);
                Ok(())
            })
            .await?;
            if target
                .put_new(&manifest_key, &manifest_bytes, ObjectClass::Immutable)
                .await?
                == PutOutcome::AlreadyExists
                && target
                    .get(&manifest_key, Cap::MANIFEST)
                    .await?
                    .map(|o| o.bytes)
                    != Some(manifest_bytes)
            {
                return Err(Error::Integrity(format!(
                    "{manifest_key} in {} is not the manifest of {app} {version} in the log \
                     (left by an interrupted publish of another bundle?); remove it or release \
                     under a new version",
                    target.url()
                )));
            }
            store::copy_object(
                source.as_ref(),
                target.as_ref(),
                &statement_key,
                ObjectClass::Immutable,
                &release.release,
            )
            .await?;
            let copied = target
                .get(&statement_key, Cap::STATEMENT)
                .await?
                .map(|o| o.bytes);
            if !copied.is_some_and(|b| release.release.matches(&b)) {
                return Err(Error::Integrity(format!(
                    "the statement of {app} {version} copied to {} does not match the log",
                    target.url()
                )));
            }
            // Only now does a manifest in the target reference the blobs (so `gc` keeps
            // them), and only now may later writes skip them without asking.
            let blobs: Vec<(String, u64)> = manifest
                .files
                .iter()
                .map(|f| (f.sha256.clone(), f.size))
                .collect();
            self.registry.add_known_blobs(target.id(), &blobs).await?;
        }
        self.registry
            .mark_placed(target.id(), app, version, statement_sha)
            .await
    }
}
