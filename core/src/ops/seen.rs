//! What this desktop has seen of its store, and the check that the store never goes back
//! from it. Per app it remembers the newest log entry (seq and hash) it has read or written,
//! per store the newest key-set version; both live in `seen_logs` / `seen_key_sets`
//! (migration 0010), which — unlike the projection — are never forgotten or rebuilt.
//!
//! Invariant: a load whose chain does not contain the seen entry (a shorter log, another
//! entry at that seq, a gap where it was) fails with [`Error::Tampered`] naming the app and
//! seq, and nothing is recorded, signed or pointed at from it. Marks only move forward,
//! except through `airlock recover` ([`Workspace::recover`]), an explicit signed act.

use crate::error::{Error, Result};
use crate::log::reader::{Head, StoredEntry};
use crate::registry::Registry;
use crate::workspace::Workspace;
use airlock_protocol::keyset::SignedKeySet;
use sqlx::Row;

impl Registry {
    /// The newest entry of `app`'s log in `store` this desktop has seen.
    pub(crate) async fn seen_log(&self, store: &str, app: &str) -> Result<Option<Head>> {
        let row = sqlx::query("SELECT seq, hash FROM seen_logs WHERE store = ? AND app = ?")
            .bind(store)
            .bind(app)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| Head {
            seq: r.get::<i64, _>(0) as u64,
            hash: r.get(1),
        }))
    }

    /// Moves `app`'s mark forward to `head` (never back: a lower seq is ignored).
    pub(crate) async fn note_seen_log(&self, store: &str, app: &str, head: &Head) -> Result<()> {
        self.set_seen_log(store, app, head, false).await
    }

    /// Sets `app`'s mark to `head` whatever it was: only for `airlock recover`.
    pub(crate) async fn reset_seen_log(&self, store: &str, app: &str, head: &Head) -> Result<()> {
        self.set_seen_log(store, app, head, true).await
    }

    async fn set_seen_log(&self, store: &str, app: &str, head: &Head, back: bool) -> Result<()> {
        sqlx::query(
            "INSERT INTO seen_logs (store, app, seq, hash) VALUES (?, ?, ?, ?) \
             ON CONFLICT (store, app) DO UPDATE SET seq = excluded.seq, hash = excluded.hash \
             WHERE ? OR excluded.seq > seen_logs.seq",
        )
        .bind(store)
        .bind(app)
        .bind(head.seq as i64)
        .bind(&head.hash)
        .bind(back)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets `app`'s mark: only for `airlock recover` of a log the store has nothing of.
    pub(crate) async fn forget_seen_log(&self, store: &str, app: &str) -> Result<()> {
        sqlx::query("DELETE FROM seen_logs WHERE store = ? AND app = ?")
            .bind(store)
            .bind(app)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The newest key-set version (and its hash) this desktop has trusted from `store`.
    pub(crate) async fn seen_key_set(&self, store: &str) -> Result<Option<(u64, String)>> {
        let row = sqlx::query("SELECT version, hash FROM seen_key_sets WHERE store = ?")
            .bind(store)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (r.get::<i64, _>(0) as u64, r.get(1))))
    }

    pub(crate) async fn note_seen_key_set(&self, store: &str, doc: &SignedKeySet) -> Result<()> {
        sqlx::query(
            "INSERT INTO seen_key_sets (store, version, hash) VALUES (?, ?, ?) \
             ON CONFLICT (store) DO UPDATE SET version = excluded.version, hash = excluded.hash \
             WHERE excluded.version > seen_key_sets.version",
        )
        .bind(store)
        .bind(doc.set.version as i64)
        .bind(&doc.hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The hash of `app`'s recorded entry at `seq`, if the registry holds one.
    pub(crate) async fn entry_hash_at(&self, app: &str, seq: u64) -> Result<Option<String>> {
        let row = sqlx::query("SELECT hash FROM events WHERE app = ? AND seq = ?")
            .bind(app)
            .bind(seq as i64)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get(0)))
    }
}

impl Workspace {
    /// Checks that the chain just loaded — the registry's entries up to `base` plus `fresh`
    /// from the store — still holds the entry this desktop saw last (`seen`).
    pub(crate) async fn check_seen_log(
        &self,
        app: &str,
        seen: &Head,
        head: Option<&Head>,
        fresh: &[StoredEntry],
    ) -> Result<()> {
        let head_seq = head.map_or(0, |h| h.seq);
        if head_seq < seen.seq {
            return Err(Error::Tampered {
                app: app.to_string(),
                seq: seen.seq,
                detail: format!(
                    "the log of {app} in {} ends at seq {head_seq}, but this desktop has seen \
                     it reach seq {} (entry {}): entries were removed",
                    self.store.url(),
                    seen.seq,
                    short(&seen.hash)
                ),
            });
        }
        let found = match fresh.iter().find(|e| e.entry.seq == seen.seq) {
            Some(e) => Some(e.hash.clone()),
            None => self.registry.entry_hash_at(app, seen.seq).await?,
        };
        if found.as_deref() != Some(seen.hash.as_str()) {
            return Err(Error::Tampered {
                app: app.to_string(),
                seq: seen.seq,
                detail: format!(
                    "the log of {app} in {} has {} at seq {}, where this desktop saw entry {}: \
                     the history was replaced",
                    self.store.url(),
                    found.map_or("no entry".to_string(), |h| format!("entry {}", short(&h))),
                    seen.seq,
                    short(&seen.hash)
                ),
            });
        }
        Ok(())
    }

    /// Checks the newest key set read from the store against the newest this desktop has
    /// trusted before (`versions` are every stored version), then remembers it.
    pub(crate) async fn check_seen_key_set(
        &self,
        versions: &[(u64, Vec<u8>)],
        newest: &SignedKeySet,
    ) -> Result<()> {
        let store = self.store.id();
        if let Some((version, hash)) = self.registry.seen_key_set(store).await? {
            let tampered = |detail: String| Error::Tampered {
                app: String::new(),
                seq: version,
                detail,
            };
            if newest.set.version < version {
                return Err(tampered(format!(
                    "the key set in {} ends at version {}, but this desktop has trusted version \
                     {version}: a version was removed (it may have retired a key)",
                    self.store.url(),
                    newest.set.version
                )));
            }
            let there = versions
                .iter()
                .find(|(v, _)| *v == version)
                .map(|(_, b)| airlock_protocol::digest::sha256_hex(b));
            if there.as_deref() != Some(hash.as_str()) {
                return Err(tampered(format!(
                    "key-set version {version} in {} is not the one this desktop trusted ({})",
                    self.store.url(),
                    short(&hash)
                )));
            }
        }
        self.registry.note_seen_key_set(store, newest).await
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}
