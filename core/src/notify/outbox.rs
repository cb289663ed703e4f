//! The outbox in SQLite (migration 0011): messages keyed by (store, app, seq, audience) so a
//! history yields each once; how far each audience has been derived; every attempt; the
//! audiences a receiver turned off with `410 Gone`.

use super::Audience;
use super::message::Message;
use crate::error::Result;
use crate::registry::Registry;
use serde::Serialize;
use sqlx::Row;

/// A message waiting or done, as `airlock notify log` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct OutboxRow {
    pub message: Message,
    pub status: String,
    pub detail: String,
    pub attempts: u32,
    pub created_at: i64,
    pub next_at: i64,
    pub tries: Vec<Attempt>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Attempt {
    pub at: i64,
    /// The HTTP status; `None` when no answer came (refused, timed out).
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub error: String,
}

/// A stored message that no longer reads as one.
fn bad(e: impl std::fmt::Display) -> crate::error::Error {
    crate::error::Error::Database(format!("the notification outbox: {e}"))
}

impl Registry {
    /// How far `audience` has been derived for `app` (`None`: never).
    pub(crate) async fn notify_cursor(
        &self,
        store: &str,
        app: &str,
        a: Audience,
    ) -> Result<Option<u64>> {
        let row = sqlx::query(
            "SELECT seq FROM notify_cursor WHERE store = ? AND app = ? AND audience = ?",
        )
        .bind(store)
        .bind(app)
        .bind(a.key())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.get::<i64, _>(0) as u64))
    }

    /// Whether `audience` was ever derived for any app of this store (an app that appears
    /// later is then notified from its first entry).
    pub(crate) async fn notify_started(&self, store: &str, a: Audience) -> Result<bool> {
        let row =
            sqlx::query("SELECT 1 FROM notify_cursor WHERE store = ? AND audience = ? LIMIT 1")
                .bind(store)
                .bind(a.key())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some())
    }

    /// Adds `messages` (each at most once) and moves the cursor to `seq`, in one transaction.
    pub(crate) async fn notify_enqueue(
        &self,
        store: &str,
        app: &str,
        a: Audience,
        seq: u64,
        messages: &[Message],
        now: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for m in messages {
            sqlx::query(
                "INSERT OR IGNORE INTO notify_outbox (store, app, seq, audience, message, created_at, next_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(store)
            .bind(app)
            .bind(m.seq as i64)
            .bind(a.key())
            .bind(serde_json::to_string(m).map_err(bad)?)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO notify_cursor (store, app, audience, seq) VALUES (?, ?, ?, ?) \
             ON CONFLICT (store, app, audience) DO UPDATE SET seq = excluded.seq",
        )
        .bind(store)
        .bind(app)
        .bind(a.key())
        .bind(seq as i64)
        .execute(&mut *tx)
        .await?;
        Ok(tx.commit().await?)
    }

    /// Takes the claim of `m` for this process: writes `token` where none is written yet.
    /// The claim already written (by this process before, or another on this registry), or
    /// `token` when this call wrote it.
    pub(crate) async fn notify_take_claim(
        &self,
        store: &str,
        m: &Message,
        token: &str,
    ) -> Result<String> {
        sqlx::query(
            "UPDATE notify_outbox SET claim = ? \
             WHERE store = ? AND app = ? AND seq = ? AND audience = ? AND claim = ''",
        )
        .bind(token)
        .bind(store)
        .bind(&m.app)
        .bind(m.seq as i64)
        .bind(m.audience.key())
        .execute(&self.pool)
        .await?;
        let row = sqlx::query(
            "SELECT claim FROM notify_outbox WHERE store = ? AND app = ? AND seq = ? AND audience = ?",
        )
        .bind(store)
        .bind(&m.app)
        .bind(m.seq as i64)
        .bind(m.audience.key())
        .fetch_one(&self.pool)
        .await?;
        Ok(row.get(0))
    }

    /// Messages due at `now`, oldest first.
    pub(crate) async fn notify_due(
        &self,
        store: &str,
        now: i64,
    ) -> Result<Vec<(Message, u32, i64)>> {
        let rows = sqlx::query(
            "SELECT message, attempts, created_at FROM notify_outbox \
             WHERE store = ? AND status = 'due' AND next_at <= ? ORDER BY created_at, app, seq, audience",
        )
        .bind(store)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let m: Message = serde_json::from_str(&r.get::<String, _>(0)).map_err(bad)?;
                Ok((m, r.get::<i64, _>(1) as u32, r.get::<i64, _>(2)))
            })
            .collect()
    }

    /// Records an attempt and the message's new status (`next_at` for a retry).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn notify_attempted(
        &self,
        store: &str,
        m: &Message,
        attempt: Option<&Attempt>,
        status: &str,
        detail: &str,
        next_at: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        if let Some(a) = attempt {
            sqlx::query(
                "INSERT INTO notify_attempts (store, app, seq, audience, at, status, latency_ms, error) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(store)
            .bind(&m.app)
            .bind(m.seq as i64)
            .bind(m.audience.key())
            .bind(a.at)
            .bind(a.status.map(i64::from))
            .bind(a.latency_ms as i64)
            .bind(&a.error)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE notify_outbox SET status = ?, detail = ?, next_at = ?, \
             attempts = attempts + ? WHERE store = ? AND app = ? AND seq = ? AND audience = ?",
        )
        .bind(status)
        .bind(detail)
        .bind(next_at)
        .bind(i64::from(attempt.is_some()))
        .bind(store)
        .bind(&m.app)
        .bind(m.seq as i64)
        .bind(m.audience.key())
        .execute(&mut *tx)
        .await?;
        Ok(tx.commit().await?)
    }

    /// Why `audience` is off (a `410 Gone`), if it is.
    pub(crate) async fn notify_disabled(&self, store: &str, a: Audience) -> Result<Option<String>> {
        let row =
            sqlx::query("SELECT reason FROM notify_disabled WHERE store = ? AND audience = ?")
                .bind(store)
                .bind(a.key())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| r.get::<String, _>(0)))
    }

    pub(crate) async fn notify_disable(
        &self,
        store: &str,
        a: Audience,
        at: i64,
        reason: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO notify_disabled (store, audience, at, reason) VALUES (?, ?, ?, ?) \
             ON CONFLICT (store, audience) DO UPDATE SET at = excluded.at, reason = excluded.reason",
        )
        .bind(store)
        .bind(a.key())
        .bind(at)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        sqlx::query("UPDATE notify_outbox SET status = 'disabled', detail = ? WHERE store = ? AND audience = ? AND status = 'due'")
            .bind(reason)
            .bind(store)
            .bind(a.key())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Turns `audience` back on (its URL was set again).
    pub(crate) async fn notify_enable(&self, store: &str, a: Audience) -> Result<()> {
        sqlx::query("DELETE FROM notify_disabled WHERE store = ? AND audience = ?")
            .bind(store)
            .bind(a.key())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every message of this store, newest first, with its attempts.
    pub(crate) async fn notify_log(&self, store: &str, limit: u32) -> Result<Vec<OutboxRow>> {
        let rows = sqlx::query(
            "SELECT message, status, detail, attempts, created_at, next_at, app, seq, audience \
             FROM notify_outbox WHERE store = ? ORDER BY created_at DESC, app, seq DESC, audience LIMIT ?",
        )
        .bind(store)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let tries = sqlx::query(
                "SELECT at, status, latency_ms, error FROM notify_attempts \
                 WHERE store = ? AND app = ? AND seq = ? AND audience = ? ORDER BY at, rowid",
            )
            .bind(store)
            .bind(r.get::<String, _>(6))
            .bind(r.get::<i64, _>(7))
            .bind(r.get::<String, _>(8))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|t| Attempt {
                at: t.get(0),
                status: t.get::<Option<i64>, _>(1).map(|s| s as u16),
                latency_ms: t.get::<i64, _>(2) as u64,
                error: t.get(3),
            })
            .collect();
            out.push(OutboxRow {
                message: serde_json::from_str(&r.get::<String, _>(0)).map_err(bad)?,
                status: r.get(1),
                detail: r.get(2),
                attempts: r.get::<i64, _>(3) as u32,
                created_at: r.get(4),
                next_at: r.get(5),
                tries,
            });
        }
        Ok(out)
    }
}
