//! A release page's facts: the manifest in brief (file count, size, the biggest files), what
//! changed from a channel's current release and what a device on it downloads, the signature,
//! the description, and the release's timeline from the log.
//!
//! The manifest and statement come from the registry's `release_objects` cache; the first
//! view of a release fetches them from its store once. Every read checks them against the
//! SHA-256 the log recorded, so a cached or fetched copy that differs is never shown.

use crate::error::{Error, Result};
use crate::views::LogQuery;
use crate::workspace::Workspace;
use airlock_protocol::digest::sha256_hex;
use airlock_protocol::dsse::Envelope;
use airlock_protocol::layout;
use airlock_protocol::limits::Cap;
use airlock_protocol::manifest::{FileEntry, Manifest};
use airlock_protocol::statement::ReleaseStatement;
use serde::Serialize;
use sqlx::Row;
use std::collections::HashMap;

/// How many of the biggest files a release page lists.
pub const BIGGEST_FILES: usize = 10;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ReleaseDetail {
    pub app: String,
    /// What the registry knows of it: author, time, size, statuses per channel, approvals.
    pub release: crate::views::ReleaseView,
    /// The biggest files, biggest first.
    pub biggest: Vec<FileSize>,
    pub description: String,
    pub signatures: Vec<SignatureInfo>,
    /// What changed from the current release of the channel asked about (none when the
    /// channel has no current release, or it is this one).
    pub diff: Option<ReleaseDiff>,
    /// Every log entry naming this version, oldest first.
    pub timeline: Vec<crate::views::LogRow>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct FileSize {
    pub path: String,
    pub size: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct SignatureInfo {
    pub keyid: String,
    /// The algorithm of the trusted key with that id; `None` when no trusted key has it.
    pub algorithm: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ReleaseDiff {
    pub channel: String,
    /// The channel's current release it is compared with.
    pub from: String,
    pub added: u64,
    pub changed: u64,
    pub removed: u64,
    /// Bytes of content a device running `from` does not have yet (blobs are shared by
    /// hash, so a file that moved costs nothing).
    pub download_bytes: u64,
}

/// What changed from `old` to `new`.
pub fn diff(channel: &str, old: &Manifest, new: &Manifest) -> ReleaseDiff {
    let before: HashMap<&str, &FileEntry> =
        old.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let have: std::collections::HashSet<&str> =
        old.files.iter().map(|f| f.sha256.as_str()).collect();
    let (mut added, mut changed) = (0, 0);
    let mut fetched = std::collections::HashSet::new();
    let mut download_bytes = 0;
    for f in &new.files {
        match before.get(f.path.as_str()) {
            None => added += 1,
            Some(o) if o.sha256 != f.sha256 => changed += 1,
            Some(_) => {}
        }
        if !have.contains(f.sha256.as_str()) && fetched.insert(f.sha256.as_str()) {
            download_bytes += f.size;
        }
    }
    let now: std::collections::HashSet<&str> = new.files.iter().map(|f| f.path.as_str()).collect();
    let removed = old
        .files
        .iter()
        .filter(|f| !now.contains(f.path.as_str()))
        .count() as u64;
    ReleaseDiff {
        channel: channel.to_string(),
        from: old.version.clone(),
        added,
        changed,
        removed,
        download_bytes,
    }
}

/// The `count` biggest files, biggest first (ties by path).
pub fn biggest(m: &Manifest, count: usize) -> Vec<FileSize> {
    let mut files: Vec<&FileEntry> = m.files.iter().collect();
    files.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.path.cmp(&b.path)));
    files
        .into_iter()
        .take(count)
        .map(|f| FileSize {
            path: f.path.clone(),
            size: f.size,
        })
        .collect()
}

pub(crate) struct Objects {
    pub(crate) manifest: Manifest,
    statement: ReleaseStatement,
    envelope: Envelope,
}

impl Workspace {
    /// `app` `version`'s page; `compare_in` names the channel whose current release the diff
    /// is taken from (default: the channel it was released into's promotion target, else
    /// the first channel listed).
    pub async fn release_detail(
        &self,
        app: &str,
        version: &str,
        compare_in: Option<&str>,
    ) -> Result<ReleaseDetail> {
        let view = self
            .release_view(app, version)
            .await?
            .ok_or_else(|| Error::NotFound(format!("{app} has no release {version}")))?;
        let objects = self.release_objects(app, version).await?;
        let trusted = self.key_set().await?.set.active_keys();
        let signatures = objects
            .envelope
            .signatures
            .iter()
            .map(|s| SignatureInfo {
                keyid: s.keyid.clone(),
                algorithm: trusted
                    .iter()
                    .find(|k| k.keyid() == s.keyid)
                    .map(|k| k.algorithm().as_str().to_string()),
            })
            .collect();
        let overview = self.app_overview(app).await?;
        let compare = compare_in.map(str::to_string).or_else(|| {
            overview
                .channels
                .iter()
                .find(|c| c.protected)
                .or(overview.channels.first())
                .map(|c| c.channel.clone())
        });
        let mut diff_from = None;
        if let Some(channel) = &compare
            && let Some(c) = overview.channels.iter().find(|c| &c.channel == channel)
            && let Some(current) = &c.current
            && current != version
        {
            let old = self.release_objects(app, current).await?;
            diff_from = Some(diff(channel, &old.manifest, &objects.manifest));
        }
        let timeline = self
            .log_page(
                app,
                &LogQuery {
                    version: Some(version.to_string()),
                    limit: Some(500),
                    ..LogQuery::default()
                },
            )
            .await?
            .entries
            .into_iter()
            .rev()
            .collect();
        Ok(ReleaseDetail {
            app: app.to_string(),
            release: view,
            biggest: biggest(&objects.manifest, BIGGEST_FILES),
            description: objects.statement.description.clone(),
            signatures,
            diff: diff_from,
            timeline,
        })
    }

    /// The release's manifest and statement, from the cache or (once) from its store, each
    /// checked against the hash the log recorded.
    pub(crate) async fn release_objects(&self, app: &str, version: &str) -> Result<Objects> {
        let pool = &self.registry.pool;
        let row = sqlx::query(
            "SELECT manifest_sha256, statement_sha256, first_channel FROM releases \
             WHERE app = ? AND version = ?",
        )
        .bind(app)
        .bind(version)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| Error::NotFound(format!("{app} has no release {version}")))?;
        let (manifest_sha, statement_sha, channel): (String, String, String) =
            (row.get(0), row.get(1), row.get(2));
        let cached = sqlx::query(
            "SELECT manifest, statement FROM release_objects WHERE app = ? AND version = ?",
        )
        .bind(app)
        .bind(version)
        .fetch_optional(pool)
        .await?
        .map(|r| (r.get::<Vec<u8>, _>(0), r.get::<Vec<u8>, _>(1)))
        .filter(|(m, s)| sha256_hex(m) == manifest_sha && sha256_hex(s) == statement_sha);
        let (manifest, statement) = match cached {
            Some(pair) => pair,
            None => {
                let store = self.channel_store(&channel)?;
                let fetch = |key: String, want: String| async move {
                    let bytes = store
                        .get(&key, Cap::MANIFEST)
                        .await?
                        .ok_or_else(|| {
                            Error::Integrity(format!("{key} is missing from {}", store.url()))
                        })?
                        .bytes;
                    if sha256_hex(&bytes) != want {
                        return Err(Error::Integrity(format!(
                            "{key} in {} does not match the SHA-256 the log recorded",
                            store.url()
                        )));
                    }
                    Ok(bytes)
                };
                let m = fetch(layout::manifest_key(app, version), manifest_sha).await?;
                let s = fetch(layout::statement_key(app, version), statement_sha).await?;
                sqlx::query("INSERT OR REPLACE INTO release_objects VALUES (?, ?, ?, ?)")
                    .bind(app)
                    .bind(version)
                    .bind(&m)
                    .bind(&s)
                    .execute(pool)
                    .await?;
                (m, s)
            }
        };
        let envelope = Envelope::from_bytes(&statement)?;
        Ok(Objects {
            manifest: Manifest::from_bytes(&manifest)?,
            statement: ReleaseStatement::from_payload(&envelope.payload_bytes()?)?,
            envelope,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(version: &str, files: &[(&str, &str, u64)]) -> Manifest {
        let files: Vec<FileEntry> = files
            .iter()
            .map(|(path, sha, size)| FileEntry {
                path: path.to_string(),
                sha256: sha.repeat(64 / sha.len()),
                size: *size,
            })
            .collect();
        Manifest {
            app: "shop".into(),
            version: version.into(),
            bundle_hash: airlock_protocol::manifest::bundle_hash(&files),
            files,
        }
    }

    #[test]
    fn a_diff_counts_files_and_only_the_bytes_a_device_lacks() {
        let old = manifest(
            "1.0.0",
            &[("a.js", "a", 10), ("b.js", "b", 20), ("gone.js", "c", 5)],
        );
        let new = manifest(
            "1.1.0",
            &[
                ("a.js", "a", 10),
                ("b.js", "d", 30),
                ("moved.js", "c", 5),
                ("new.js", "e", 7),
            ],
        );
        let d = diff("Production", &old, &new);
        assert_eq!((d.added, d.changed, d.removed), (2, 1, 1));
        assert_eq!(
            d.download_bytes, 37,
            "moved.js has content the device already holds; only b.js and new.js are fetched"
        );
        assert_eq!(d.from, "1.0.0");
    }

    #[test]
    fn the_biggest_files_come_first() {
        let m = manifest("1.0.0", &[("a", "a", 1), ("b", "b", 3), ("c", "c", 2)]);
        let b: Vec<_> = biggest(&m, 2).into_iter().map(|f| f.path).collect();
        assert_eq!(b, ["b", "c"]);
    }
}
