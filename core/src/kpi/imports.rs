//! Crash-tool imports as the registry keeps them (`kpi_imports`, `kpi_samples`; migrations
//! 0008 and 0012): storing one, listing them, removing them. The invariant: one value per
//! app, channel, release, counter and bucket end — a later import's row *replaces* what an
//! earlier import stored for that key, never adds to it (a unique index holds it), so two
//! exports whose hours overlap never count those hours twice.
//!
//! An import whose rows were all replaced stays listed, with none remaining: its SHA-256 still
//! marks the file as imported, so importing that older file again cannot put its numbers back
//! over newer ones. Removing an import (`airlock kpi import --remove`) deletes what it still
//! holds and its record; the hours a removed import had taken over from an older one are
//! then empty, not the older numbers again.

use super::samples::{ImportRequest, Row};
use super::source::Counter;
use crate::error::{Error, Result};
use crate::registry::Registry;
use airlock_protocol::time::Timestamp;
use serde::Serialize;
use sqlx::SqliteConnection;
use std::fmt::Write as _;
use std::path::Path;

/// How one import's rows landed: on a release and bucket nothing held yet, or over an
/// earlier import's numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Stored {
    pub(super) new: usize,
    pub(super) replaced: usize,
}

/// One import as the registry keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredImport {
    /// The file's path as it was given to the import.
    pub file: String,
    pub sha256: String,
    pub app: String,
    pub channel: String,
    /// The file's rows (one per release and bucket).
    pub rows: usize,
    /// Those of `rows` still holding numbers; later imports replaced the others.
    pub rows_remaining: usize,
    pub imported_at: Timestamp,
}

impl StoredImport {
    /// The SHA-256's first 12 hex digits: enough to name an import to `--remove`.
    pub fn short_sha(&self) -> &str {
        &self.sha256[..self.sha256.len().min(12)]
    }
}

/// Which imports [`remove`] removes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removal {
    /// One import, named by its file — a path (read and hashed), or the path it was imported
    /// from when no file is there now — or by its SHA-256 in hex, or a prefix of at least 8
    /// hex digits that only one import has.
    One(String),
    /// Every import for the app and channel.
    All,
}

/// What [`remove`] removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemovalReport {
    pub app: String,
    pub channel: String,
    /// The removed imports; each one's `rowsRemaining` is what it held until now.
    pub removed: Vec<StoredImport>,
}

/// The shortest SHA-256 prefix `--remove` accepts.
const MIN_PREFIX: usize = 8;

/// Every import in the registry, oldest first.
async fn stored(conn: &mut SqliteConnection) -> Result<Vec<StoredImport>> {
    let rows: Vec<(String, String, String, String, i64, String, i64)> = sqlx::query_as(
        "SELECT i.sha256, i.file, i.app, i.channel, i.rows, i.imported_at, \
         (SELECT COUNT(DISTINCT s.version || ' ' || s.at) FROM kpi_samples s \
          WHERE s.import = i.sha256) \
         FROM kpi_imports i ORDER BY i.imported_at, i.rowid",
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|(sha256, file, app, channel, rows, at, remaining)| {
            Ok(StoredImport {
                imported_at: Timestamp::parse(&at).map_err(|e| {
                    Error::Database(format!("kpi_imports: {file} was imported at {at:?}: {e}"))
                })?,
                file,
                sha256,
                app,
                channel,
                rows: usize::try_from(rows).unwrap_or(0),
                rows_remaining: usize::try_from(remaining).unwrap_or(0),
            })
        })
        .collect()
}

/// The imports for `app` in `channel`, in words, for an error that must say what there is.
fn listing(app: &str, channel: &str, imports: &[&StoredImport]) -> String {
    if imports.is_empty() {
        return format!("nothing is imported for {app} in {channel}");
    }
    let mut out = format!("imported for {app} in {channel}:");
    for i in imports {
        let _ = write!(
            out,
            "\n  {}  {}  ({} of {} rows remaining, imported {})",
            i.short_sha(),
            i.file,
            i.rows_remaining,
            i.rows,
            i.imported_at
        );
    }
    out
}

/// The one import `arg` names among `all` for `app` in `channel`; see [`Removal::One`].
fn resolve<'a>(
    arg: &str,
    app: &str,
    channel: &str,
    all: &'a [StoredImport],
) -> Result<&'a StoredImport> {
    let here: Vec<&StoredImport> = all
        .iter()
        .filter(|i| i.app == app && i.channel == channel)
        .collect();
    let elsewhere = |sha: &dyn Fn(&str) -> bool| -> String {
        all.iter()
            .find(|i| sha(&i.sha256) && (i.app != app || i.channel != channel))
            .map(|i| format!(" (it is imported for {} in {})", i.app, i.channel))
            .unwrap_or_default()
    };
    let path = Path::new(arg);
    let (what, matches): (String, Vec<&StoredImport>) = if path.is_file() {
        let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
        let sha = airlock_protocol::digest::sha256_hex(&bytes);
        let found = here.iter().copied().filter(|i| i.sha256 == sha).collect();
        let also = elsewhere(&|s| s == sha);
        (format!("{arg} (SHA-256 {}){also}", &sha[..12]), found)
    } else if arg.len() >= MIN_PREFIX
        && arg.len() <= 64
        && arg.bytes().all(|b| b.is_ascii_hexdigit())
    {
        let prefix = arg.to_ascii_lowercase();
        let found = here
            .iter()
            .copied()
            .filter(|i| i.sha256.starts_with(&prefix))
            .collect();
        let also = elsewhere(&|s| s.starts_with(&prefix));
        (format!("SHA-256 {arg}{also}"), found)
    } else {
        let found = here.iter().copied().filter(|i| i.file == arg).collect();
        (
            format!(
                "{arg} (no such file, nor a SHA-256 or a prefix of {MIN_PREFIX} or more hex \
                 digits)"
            ),
            found,
        )
    };
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::NotFound(format!(
            "no import of {what} for {app} in {channel}; {}",
            listing(app, channel, &here)
        ))),
        many => Err(Error::InvalidInput(format!(
            "{arg} names {} imports for {app} in {channel}; name one by more of its SHA-256:{}",
            many.len(),
            listing(app, channel, many)
                .split_once(':')
                .map_or("", |(_, rest)| rest)
        ))),
    }
}

impl Registry {
    /// Stores `rows` as the import of the file with `sha256` in one transaction, each row
    /// replacing what an earlier import stored for its release and bucket; `None` when this
    /// file was imported before (nothing is written).
    pub(super) async fn store_import(
        &self,
        sha256: &str,
        req: &ImportRequest,
        rows: &[Row],
        now: Timestamp,
    ) -> Result<Option<Stored>> {
        let mut tx = self.write().await?;
        let seen: Option<(String,)> =
            sqlx::query_as("SELECT sha256 FROM kpi_imports WHERE sha256 = ?")
                .bind(sha256)
                .fetch_optional(&mut *tx)
                .await?;
        if seen.is_some() {
            return Ok(None);
        }
        sqlx::query(
            "INSERT INTO kpi_imports (sha256, file, app, channel, rows, imported_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(sha256)
        .bind(req.file.display().to_string())
        .bind(&req.app)
        .bind(&req.channel)
        .bind(rows.len() as i64)
        .bind(now.to_string())
        .execute(&mut *tx)
        .await?;
        let mut out = Stored::default();
        for r in rows {
            // The file holds each release and bucket once (parsing refuses repeats), so
            // anything stored here came from an earlier import.
            let (earlier,): (bool,) = sqlx::query_as(
                "SELECT EXISTS (SELECT 1 FROM kpi_samples WHERE app = ? AND channel = ? \
                 AND version = ? AND at = ?)",
            )
            .bind(&req.app)
            .bind(&req.channel)
            .bind(&r.version)
            .bind(r.at.unix())
            .fetch_one(&mut *tx)
            .await?;
            if earlier {
                out.replaced += 1;
            } else {
                out.new += 1;
            }
            let counters = [
                (Counter::Sessions, Some(r.sessions)),
                (Counter::CrashedSessions, Some(r.crashed)),
                (Counter::JsErrorSessions, r.errors),
            ];
            for (counter, value) in counters {
                let Some(value) = value else { continue };
                sqlx::query(
                    "INSERT INTO kpi_samples (app, channel, version, counter, at, value, import) \
                     VALUES (?, ?, ?, ?, ?, ?, ?) \
                     ON CONFLICT (app, channel, version, counter, at) \
                     DO UPDATE SET value = excluded.value, import = excluded.import",
                )
                .bind(&req.app)
                .bind(&req.channel)
                .bind(&r.version)
                .bind(counter.key())
                .bind(r.at.unix())
                .bind(value)
                .bind(sha256)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(Some(out))
    }

    /// The imports for `app` in `channel`, oldest first, with the rows each still holds.
    pub async fn kpi_imports(&self, app: &str, channel: &str) -> Result<Vec<StoredImport>> {
        let mut conn = self.pool.acquire().await?;
        let mut all = stored(&mut conn).await?;
        all.retain(|i| i.app == app && i.channel == channel);
        Ok(all)
    }
}

/// Removes the imports `which` names for `app` in `channel` — their remaining numbers and
/// their records — in one transaction. `All` with nothing imported removes nothing (not an
/// error); a file or SHA-256 no import has is [`Error::NotFound`], naming what is imported.
pub async fn remove(
    registry: &Registry,
    app: &str,
    channel: &str,
    which: &Removal,
) -> Result<RemovalReport> {
    let mut tx = registry.write().await?;
    let all = stored(&mut tx).await?;
    let removed: Vec<StoredImport> = match which {
        Removal::All => all
            .iter()
            .filter(|i| i.app == app && i.channel == channel)
            .cloned()
            .collect(),
        Removal::One(arg) => vec![resolve(arg, app, channel, &all)?.clone()],
    };
    for i in &removed {
        sqlx::query("DELETE FROM kpi_samples WHERE import = ?")
            .bind(&i.sha256)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM kpi_imports WHERE sha256 = ?")
            .bind(&i.sha256)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(RemovalReport {
        app: app.into(),
        channel: channel.into(),
        removed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import(file: &str, sha256: &str, app: &str) -> StoredImport {
        StoredImport {
            file: file.into(),
            sha256: sha256.into(),
            app: app.into(),
            channel: "Production".into(),
            rows: 6,
            rows_remaining: 3,
            imported_at: Timestamp::parse("2026-11-02T00:00:00Z").unwrap(),
        }
    }

    #[test]
    fn an_import_is_named_by_a_unique_sha_prefix_or_its_recorded_path() {
        let all = [
            import("/tmp/gone/a.csv", "abcdef0123456789", "shop"),
            import("/tmp/gone/b.csv", "abcdef0199999999", "shop"),
            import("/tmp/gone/c.csv", "fedcba9876543210", "other"),
        ];
        let r = |arg: &str| resolve(arg, "shop", "Production", &all);
        assert_eq!(
            r("ABCDEF0123").unwrap().file,
            "/tmp/gone/a.csv",
            "hex in any case"
        );
        assert_eq!(r("/tmp/gone/b.csv").unwrap().sha256, "abcdef0199999999");
        let e = r("abcdef01").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains("names 2 imports"), "{e}");
        let e = r("abcdef0").unwrap_err();
        assert_eq!(
            e.kind(),
            crate::ErrorKind::NotFound,
            "7 digits are too few: {e}"
        );
        let e = r("fedcba98").unwrap_err();
        assert!(
            e.to_string()
                .contains("it is imported for other in Production")
                && e.to_string()
                    .contains("abcdef012345  /tmp/gone/a.csv  (3 of 6 rows"),
            "the error says where that import is and lists what is here: {e}"
        );
    }
}
