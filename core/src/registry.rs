//! The local registry: a SQLite projection of the store's event logs (file `airlock.db`
//! beside `airlock.toml`; WAL mode and a busy timeout so two processes can share it). It
//! keeps the exact log entries, so the state folds without the store, plus tables for
//! releases, statuses, channels and approvals that the console and `status` read. It can
//! always be rebuilt from the store, so it is never the source of truth.

use crate::error::{Error, Result};
use crate::log::LogEntry;
use crate::log::reader::StoredEntry;
use crate::state::AppState;
use crate::status::status_of;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};
use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

/// The tables rewritten from the folded state whenever entries are recorded.
const PROJECTION: [&str; 5] = [
    "releases",
    "release_channels",
    "channels",
    "approvals",
    "rejections",
];

/// The layout of [`AppState`] in `app_states`; a snapshot of another format is folded again.
/// Bump it whenever `AppState` or what it derives from the log changes.
const SNAPSHOT_FORMAT: i64 = 3;

#[derive(Clone, Debug)]
pub struct Registry {
    pub(crate) pool: SqlitePool,
}

/// One row of the status table.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct StatusRow {
    pub version: String,
    pub channel: String,
    pub status: String,
    pub basis_points: Option<u32>,
    pub paused: bool,
    pub since: String,
}

impl Registry {
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10));
        Self::connect(options, 4).await
    }

    pub async fn in_memory() -> Result<Self> {
        let options = SqliteConnectOptions::new().in_memory(true);
        Self::connect(options, 1).await
    }

    async fn connect(options: SqliteConnectOptions, max: u32) -> Result<Self> {
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    /// A write transaction that takes SQLite's write lock at once (`BEGIN IMMEDIATE`), so
    /// two processes on one database wait for each other (busy timeout) instead of one
    /// failing "database is locked" when its read turns into a write.
    pub(crate) async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    pub async fn entries(&self, app: &str) -> Result<Vec<StoredEntry>> {
        let rows = sqlx::query("SELECT seq, hash, body FROM events WHERE app = ? ORDER BY seq")
            .bind(app)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|r| {
                let bytes: Vec<u8> = r.get(2);
                let key = format!("{app} seq {}", r.get::<i64, _>(0));
                Ok(StoredEntry {
                    entry: LogEntry::from_bytes(&key, &bytes)?,
                    bytes,
                    hash: r.get(1),
                })
            })
            .collect()
    }

    /// The seq of the app's newest recorded entry (`None`: none yet), without reading them.
    pub async fn head_seq(&self, app: &str) -> Result<Option<u64>> {
        let row = sqlx::query("SELECT MAX(seq) FROM events WHERE app = ?")
            .bind(app)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.get::<Option<i64>, _>(0).map(|s| s as u64))
    }

    pub async fn apps(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT DISTINCT app FROM events ORDER BY app")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }

    /// The app's folded state at the registry's newest entry, as [`Registry::record`] kept
    /// it, if it was folded under `policy` and still matches that entry (another process may
    /// have recorded later entries, or an older Airlock none). `None` means: fold again.
    pub async fn snapshot(&self, app: &str, policy: &str) -> Result<Option<AppState>> {
        let row = sqlx::query(
            "SELECT s.head_seq, s.head_hash, s.policy, s.format, s.body, \
             (SELECT MAX(seq) FROM events e WHERE e.app = s.app) \
             FROM app_states s WHERE s.app = ?",
        )
        .bind(app)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let (seq, hash): (i64, String) = (r.get(0), r.get(1));
        let newest: Option<i64> = r.get(5);
        if r.get::<String, _>(2) != policy
            || r.get::<i64, _>(3) != SNAPSHOT_FORMAT
            || newest != Some(seq)
        {
            return Ok(None);
        }
        let known: Option<String> =
            sqlx::query_scalar("SELECT hash FROM events WHERE app = ? AND seq = ?")
                .bind(app)
                .bind(seq)
                .fetch_optional(&self.pool)
                .await?;
        if known.as_deref() != Some(hash.as_str()) {
            return Ok(None);
        }
        let body: Vec<u8> = r.get(4);
        // A snapshot that does not read (a format this build does not know) is folded again.
        Ok(serde_json::from_slice::<AppState>(&body).ok().filter(|s| {
            s.app == app && s.head.as_ref().map(|h| (h.seq as i64, &h.hash)) == Some((seq, &hash))
        }))
    }

    /// Notes the pointer of `channel` as written or read from its store `at`: the overview's
    /// expiry and lag. An older pointer than one already noted is ignored.
    pub async fn note_pointer(
        &self,
        pointer: &airlock_protocol::pointer::ChannelPointer,
        at: airlock_protocol::time::Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO pointers_seen VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (app, channel) DO UPDATE SET seq = excluded.seq, \
             issued_at = excluded.issued_at, expires_at = excluded.expires_at, \
             seen_at = excluded.seen_at WHERE excluded.seq >= pointers_seen.seq",
        )
        .bind(&pointer.app)
        .bind(&pointer.channel)
        .bind(pointer.seq as i64)
        .bind(pointer.issued_at.to_string())
        .bind(pointer.expires_at.to_string())
        .bind(at.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets an app's projection (used when the store's log no longer matches it).
    pub async fn forget(&self, app: &str) -> Result<()> {
        let mut tx = self.write().await?;
        for table in ["events", "app_states"].into_iter().chain(PROJECTION) {
            sqlx::query(&format!("DELETE FROM {table} WHERE app = ?"))
                .bind(app)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Appends `new` entries and brings the app's projection and snapshot to `state`
    /// (folded under `policy`, see [`Registry::snapshot`]), atomically. `before` is the
    /// state the entries were folded onto: when the registry holds exactly that, only the
    /// rows that differ are written (a command costs what it changed, not the app's size).
    pub async fn record(
        &self,
        new: &[StoredEntry],
        before: Option<&AppState>,
        state: &AppState,
        is_protected: &(dyn Fn(&str) -> bool + Sync),
        policy: &str,
    ) -> Result<()> {
        let app = state.app.as_str();
        let mut tx = self.write().await?;
        for s in new {
            let e = &s.entry;
            // Another workspace or process on this database may have recorded the same entry
            // first: the same seq with the same hash is nothing to do; another hash is not.
            sqlx::query(
                "INSERT OR IGNORE INTO events (app, seq, hash, at, actor, kind, reason, body, \
                 version, channel) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(app)
            .bind(e.seq as i64)
            .bind(&s.hash)
            .bind(e.at.to_string())
            .bind(&e.actor)
            .bind(e.event.kind())
            .bind(&e.reason)
            .bind(&s.bytes)
            .bind(e.event.version())
            .bind(e.event.channel())
            .execute(&mut *tx)
            .await?;
            let hash: String =
                sqlx::query_scalar("SELECT hash FROM events WHERE app = ? AND seq = ?")
                    .bind(app)
                    .bind(e.seq as i64)
                    .fetch_one(&mut *tx)
                    .await?;
            if hash != s.hash {
                return Err(Error::Integrity(format!(
                    "the registry holds another entry at seq {} of {app} ({hash}) than the \
                     store ({}); run `airlock sync` to rebuild it from the store",
                    e.seq, s.hash
                )));
            }
        }
        // Another process may have recorded later entries (and their projection) first: an
        // older state must not overwrite a newer projection.
        let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM events WHERE app = ?")
            .bind(app)
            .fetch_one(&mut *tx)
            .await?;
        let ours = state.head.as_ref().map_or(0, |h| h.seq as i64);
        if newest.is_some_and(|n| n > ours) {
            return tx.commit().await.map_err(Error::from);
        }
        // The registry holds exactly `before` (its snapshot says so): move the projection
        // row by row to `state`. Otherwise rewrite it whole.
        let held: Option<(i64, String)> =
            sqlx::query_as("SELECT head_seq, head_hash FROM app_states WHERE app = ?")
                .bind(app)
                .fetch_optional(&mut *tx)
                .await?;
        let old = before.filter(|b| {
            b.app == state.app
                && held.is_some()
                && held == b.head.as_ref().map(|h| (h.seq as i64, h.hash.clone()))
        });
        if old.is_none() {
            for table in PROJECTION {
                sqlx::query(&format!("DELETE FROM {table} WHERE app = ?"))
                    .bind(app)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        if let Some(head) = &state.head {
            let body = serde_json::to_vec(state).expect("a state serialises");
            sqlx::query("INSERT OR REPLACE INTO app_states VALUES (?, ?, ?, ?, ?, ?)")
                .bind(app)
                .bind(head.seq as i64)
                .bind(&head.hash)
                .bind(policy)
                .bind(SNAPSHOT_FORMAT)
                .bind(body)
                .execute(&mut *tx)
                .await?;
        }
        let empty = AppState::new(app);
        write_projection(&mut tx, old.unwrap_or(&empty), state, is_protected).await?;
        tx.commit().await.map_err(Error::from)
    }

    pub async fn statuses(&self, app: &str) -> Result<Vec<StatusRow>> {
        let rows = sqlx::query(
            "SELECT version, channel, status, basis_points, paused, since FROM release_channels \
             WHERE app = ? ORDER BY channel, since_seq DESC, version",
        )
        .bind(app)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| StatusRow {
                version: r.get(0),
                channel: r.get(1),
                status: r.get(2),
                basis_points: r.get::<Option<i64>, _>(3).map(|b| b as u32),
                paused: r.get(4),
                since: r.get(5),
            })
            .collect())
    }

    pub async fn known_blobs(&self, store: &str) -> Result<HashSet<String>> {
        let rows = sqlx::query("SELECT sha256 FROM known_blobs WHERE store = ?")
            .bind(store)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }

    pub async fn add_known_blobs(&self, store: &str, blobs: &[(String, u64)]) -> Result<()> {
        let mut tx = self.write().await?;
        for (sha, size) in blobs {
            sqlx::query("INSERT OR IGNORE INTO known_blobs VALUES (?, ?, ?)")
                .bind(store)
                .bind(sha)
                .bind(*size as i64)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await.map_err(Error::from)
    }

    /// Forgets every cached fact about what stores hold (known blobs, placed releases): used
    /// when the log shows a store is not what this registry saw (switched, recreated or
    /// restored), so nothing is skipped on the strength of a stale cache.
    pub async fn forget_store_caches(&self) -> Result<()> {
        let mut tx = self.write().await?;
        for table in ["known_blobs", "placed_releases"] {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await.map_err(Error::from)
    }

    pub async fn forget_blobs(&self, store: &str, blobs: &[String]) -> Result<()> {
        let mut tx = self.write().await?;
        for sha in blobs {
            sqlx::query("DELETE FROM known_blobs WHERE store = ? AND sha256 = ?")
                .bind(store)
                .bind(sha)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await.map_err(Error::from)
    }

    /// Whether `app` `version` (its statement hashing to `statement`) is known to be complete
    /// in `store`.
    pub async fn is_placed(
        &self,
        store: &str,
        app: &str,
        version: &str,
        statement: &str,
    ) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 FROM placed_releases WHERE store = ? AND app = ? AND version = ? \
             AND statement = ?",
        )
        .bind(store)
        .bind(app)
        .bind(version)
        .bind(statement)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    pub async fn mark_placed(
        &self,
        store: &str,
        app: &str,
        version: &str,
        statement: &str,
    ) -> Result<()> {
        sqlx::query("INSERT OR REPLACE INTO placed_releases VALUES (?, ?, ?, ?)")
            .bind(store)
            .bind(app)
            .bind(version)
            .bind(statement)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

type Tx = sqlx::Transaction<'static, sqlx::Sqlite>;

/// Writes the rows of `state`'s projection that differ from `old`'s (all of them when `old`
/// is an empty state, over emptied tables). Releases and approvals are never removed by a
/// fold, but the code does not rely on it.
async fn write_projection(
    tx: &mut Tx,
    old: &AppState,
    state: &AppState,
    is_protected: &(dyn Fn(&str) -> bool + Sync),
) -> Result<()> {
    let app = state.app.as_str();
    for version in old
        .releases
        .keys()
        .filter(|v| !state.releases.contains_key(*v))
    {
        sqlx::query("DELETE FROM releases WHERE app = ? AND version = ?")
            .bind(app)
            .bind(version)
            .execute(&mut **tx)
            .await?;
    }
    for r in state.releases.values() {
        if old.releases.get(&r.version) == Some(r) {
            continue;
        }
        let q = r.quarantined.as_ref();
        sqlx::query(
            "INSERT OR REPLACE INTO releases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(app)
        .bind(&r.version)
        .bind(&r.author)
        .bind(r.released_at.to_string())
        .bind(&r.channel)
        .bind(&r.bundle_hash)
        .bind(&r.manifest.sha256)
        .bind(&r.release.sha256)
        .bind(r.files as i64)
        .bind(r.bytes as i64)
        .bind(&r.min_native_version)
        .bind(q.map(|q| q.at.to_string()))
        .bind(q.and_then(|q| q.reason.clone()))
        .execute(&mut **tx)
        .await?;
    }
    for (name, was) in &old.channels {
        let now = state.channels.get(name);
        for version in was.placements.keys() {
            if now.is_none_or(|c| !c.placements.contains_key(version)) {
                sqlx::query(
                    "DELETE FROM release_channels WHERE app = ? AND version = ? AND channel = ?",
                )
                .bind(app)
                .bind(version)
                .bind(name)
                .execute(&mut **tx)
                .await?;
            }
        }
        if now.is_none() {
            sqlx::query("DELETE FROM channels WHERE app = ? AND channel = ?")
                .bind(app)
                .bind(name)
                .execute(&mut **tx)
                .await?;
        }
    }
    for (name, c) in &state.channels {
        let was = old.channels.get(name);
        if was != Some(c) {
            let r = c.rollout.as_ref();
            sqlx::query(
                "INSERT OR REPLACE INTO channels (app, channel, current_version, \
                 rollout_version, basis_points, rollout_id, paused, served_seq, plan, step, \
                 step_started_at, step_started_seq, holdout_version, holdout_basis_points, \
                 holdout_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(app)
            .bind(name)
            .bind(&c.current)
            .bind(r.map(|r| &r.version))
            .bind(r.map(|r| r.basis_points as i64))
            .bind(r.map(|r| &r.rollout_id))
            .bind(r.is_some_and(|r| r.paused))
            .bind(c.served.as_ref().map(|h| h.seq as i64))
            .bind(r.map(|r| serde_json::to_string(&r.plan).expect("a plan serialises")))
            .bind(r.map(|r| i64::from(r.step)))
            .bind(r.map(|r| r.step_started_at.to_string()))
            .bind(r.map(|r| r.step_started_seq as i64))
            .bind(c.holdout.as_ref().map(|h| &h.version))
            .bind(c.holdout.as_ref().map(|h| i64::from(h.basis_points)))
            .bind(c.holdout.as_ref().map(|h| h.until.to_string()))
            .execute(&mut **tx)
            .await?;
        }
        for (version, p) in &c.placements {
            let same = was.and_then(|w| w.placements.get(version)) == Some(p)
                && old.releases.get(version) == state.releases.get(version);
            if same {
                continue;
            }
            let status = status_of(state, version, name, is_protected(name))
                .expect("every placed release has a status");
            let paused = matches!(
                status,
                crate::status::Status::RollingOut { paused: true, .. }
            );
            sqlx::query("INSERT OR REPLACE INTO release_channels VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                .bind(app)
                .bind(version)
                .bind(name)
                .bind(status.label())
                .bind(status.basis_points().map(i64::from))
                .bind(paused)
                .bind(p.since.to_string())
                .bind(p.since_seq as i64)
                .execute(&mut **tx)
                .await?;
        }
    }
    // Approvals and rejections only grow: write the new ones, or all if the old are not a
    // prefix (then the table is rewritten).
    let approvals = match state.approvals.strip_prefix(old.approvals.as_slice()) {
        Some(new) => new,
        None => {
            sqlx::query("DELETE FROM approvals WHERE app = ?")
                .bind(app)
                .execute(&mut **tx)
                .await?;
            &state.approvals[..]
        }
    };
    for a in approvals {
        sqlx::query(
            "INSERT OR REPLACE INTO approvals (app, version, channel, actor, at, seq) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(app)
        .bind(&a.version)
        .bind(&a.channel)
        .bind(&a.actor)
        .bind(a.at.to_string())
        .bind(a.seq as i64)
        .execute(&mut **tx)
        .await?;
    }
    let rejections = match state.rejections.strip_prefix(old.rejections.as_slice()) {
        Some(new) => new,
        None => {
            sqlx::query("DELETE FROM rejections WHERE app = ?")
                .bind(app)
                .execute(&mut **tx)
                .await?;
            &state.rejections[..]
        }
    };
    for r in rejections {
        sqlx::query("INSERT OR REPLACE INTO rejections VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(app)
            .bind(&r.version)
            .bind(&r.channel)
            .bind(&r.actor)
            .bind(r.at.to_string())
            .bind(&r.reason)
            .bind(r.seq as i64)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
