//! Deleting blobs no manifest references (left by interrupted publishes, or after
//! releases' manifests were removed by hand), in every store of the workspace. Every
//! manifest in a store counts as a reference to that store's blobs, released or not, so a
//! rollback target never loses a blob. A blob younger than the grace period (24 hours by the
//! store's own clock, from its last-modified time) is kept even when unreferenced: it may
//! belong to a publish or promotion still uploading elsewhere, whose manifest has not landed.

use crate::error::Result;
use crate::progress::Task;
use crate::store::Store;
use crate::workspace::Workspace;
use airlock_protocol::manifest::Manifest;
use serde::Serialize;
use std::collections::HashSet;

/// How old an unreferenced blob must be before `gc` deletes it.
pub const GRACE_SECONDS: i64 = 24 * 3600;

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GcReport {
    pub manifests: u64,
    /// Unreferenced blobs kept because they are younger than the grace period (or their
    /// age is unknown).
    pub kept_recent: u64,
    /// Summed over the stores, counting a blob once per store that holds it.
    pub referenced_blobs: u64,
    pub unreferenced: Vec<String>,
    pub deleted: bool,
}

impl Workspace {
    pub async fn gc(&self, dry_run: bool) -> Result<GcReport> {
        if !dry_run {
            self.may_change("delete blobs")?;
        }
        let mut total = GcReport {
            manifests: 0,
            kept_recent: 0,
            referenced_blobs: 0,
            unreferenced: Vec::new(),
            deleted: !dry_run,
        };
        let stores = self.all_stores();
        for store in &stores {
            let one = self.gc_store(store.as_ref(), dry_run).await?;
            total.manifests += one.manifests;
            total.referenced_blobs += one.referenced_blobs;
            total.kept_recent += one.kept_recent;
            // Keys name their store when there is more than one.
            total
                .unreferenced
                .extend(one.unreferenced.into_iter().map(|k| match stores.len() {
                    1 => k,
                    _ => format!("{} {k}", store.url()),
                }));
        }
        Ok(total)
    }

    async fn gc_store(&self, store: &dyn Store, dry_run: bool) -> Result<GcReport> {
        crate::progress::step(format!("reading the manifests in {}", store.url()));
        let mut referenced = HashSet::new();
        let mut manifests = 0;
        for key in store.list("apps/", None).await? {
            if !key.ends_with("/manifest.json") {
                continue;
            }
            let Some(obj) = store
                .get(&key, airlock_protocol::limits::Cap::MANIFEST)
                .await?
            else {
                continue;
            };
            let manifest = Manifest::from_bytes(&obj.bytes)?;
            manifests += 1;
            referenced.extend(manifest.files.into_iter().map(|f| f.sha256));
        }
        let prefix = "blobs/sha256/";
        let candidates: Vec<String> = store
            .list(prefix, None)
            .await?
            .into_iter()
            .filter(|k| {
                k.strip_prefix(prefix)
                    .is_some_and(|h| !referenced.contains(h))
            })
            .collect();
        let cutoff = self.clock.now().plus_seconds(-GRACE_SECONDS);
        let mut unreferenced = Vec::new();
        let mut kept_recent = 0;
        for key in candidates {
            match store.modified(&key).await? {
                Some(t) if t <= cutoff => unreferenced.push(key),
                _ => kept_recent += 1,
            }
        }
        if !dry_run {
            let (subject, total) = (store.url().to_string(), unreferenced.len() as u64);
            for (n, key) in unreferenced.iter().enumerate() {
                crate::progress::count(Task::Deleting, &subject, n as u64, total);
                store.delete(key).await?;
            }
            crate::progress::count(Task::Deleting, &subject, total, total);
            let hashes: Vec<String> = unreferenced
                .iter()
                .filter_map(|k| k.strip_prefix(prefix))
                .map(str::to_string)
                .collect();
            self.registry.forget_blobs(store.id(), &hashes).await?;
        }
        Ok(GcReport {
            manifests,
            kept_recent,
            referenced_blobs: referenced.len() as u64,
            unreferenced,
            deleted: !dry_run,
        })
    }
}
