//! What the console's screens show, read from the local registry alone — no store request:
//! the overview of every app and channel, an app's releases with their statuses, the
//! approvals waiting, and the event log a page at a time. The registry is brought up to date
//! by `load` (every command) and `sync` (on start, on demand, on a timer); these reads never
//! touch the store, so a screen can redraw as often as it likes.
//!
//! Invariant: everything here is a projection the registry wrote from a verified, rule-checked
//! log (`Registry::record`); nothing here decides anything.

use crate::error::Result;
use crate::workspace::Workspace;
use airlock_protocol::time::Timestamp;
use serde::Serialize;
use sqlx::Row;

/// One app on the overview.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AppOverview {
    pub app: String,
    /// The newest log entry this desktop has seen.
    pub head_seq: u64,
    /// When it was written.
    pub head_at: Option<String>,
    pub channels: Vec<ChannelView>,
    pub pending_approvals: Vec<PendingApproval>,
}

/// Where one channel of an app stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ChannelView {
    pub channel: String,
    pub protected: bool,
    pub current: Option<String>,
    pub rollout: Option<RolloutView>,
    /// The randomized holdout kept on the previous release while it lasts (`None` once it
    /// has ended, or when the channel keeps none).
    pub holdout: Option<HoldoutView>,
    /// The newest rollback-ready release: where a rollback would go.
    pub rollback_target: Option<String>,
    /// The seq the channel's pointer should carry.
    pub served_seq: Option<u64>,
    /// The newest pointer this desktop wrote or read in the channel's store (by a command
    /// or a sync), `None` if it has seen none.
    pub pointer: Option<PointerSeen>,
}

/// A channel's holdout: the share of devices kept on `version`, chosen by lot, against
/// which the gate judges the current release, until `until`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct HoldoutView {
    pub version: String,
    pub basis_points: u32,
    pub until: String,
}

/// A channel's pointer as this desktop last saw it in the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PointerSeen {
    pub seq: u64,
    pub expires_at: String,
    /// When it was written or read (a sync refreshes it).
    pub seen_at: String,
    /// It expires within 48 h: `airlock resign`, or the console's Re-sign.
    pub expires_soon: bool,
    /// Devices refuse it now.
    pub expired: bool,
    /// The log has moved past it (`served_seq` is newer): devices do not see the newest
    /// state yet; a sync or the next command writes it.
    pub lagging: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RolloutView {
    pub version: String,
    pub rollout_id: String,
    pub basis_points: u32,
    pub paused: bool,
    /// 1 for the first step ("step 1 of 4"); `None` for rows written before this was kept
    /// (run `airlock sync`).
    pub step: Option<u32>,
    pub steps: Option<u32>,
    pub plan: Option<Vec<u32>>,
    pub step_started_at: Option<String>,
    pub step_started_seq: Option<u64>,
}

/// A release waiting for an approval into a protected channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PendingApproval {
    pub version: String,
    pub channel: String,
    pub author: String,
    pub released_at: String,
    /// The latest rejection, if a reviewer turned it down (it waits for a new approval).
    pub rejection: Option<RejectionView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RejectionView {
    pub actor: String,
    pub at: String,
    pub reason: String,
}

/// A release of an app and its status in each channel it has been in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ReleaseView {
    pub version: String,
    pub author: String,
    pub released_at: String,
    /// The channel it was released into.
    pub released_into: String,
    pub bundle_hash: String,
    pub files: u64,
    pub bytes: u64,
    pub min_native_version: Option<String>,
    pub quarantined_at: Option<String>,
    pub quarantine_reason: Option<String>,
    pub channels: Vec<crate::registry::StatusRow>,
    /// Who approved it, for which channel.
    pub approvals: Vec<ApprovalView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ApprovalView {
    pub channel: String,
    pub actor: String,
    pub at: String,
}

/// Which log entries to show, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase", default)]
pub struct LogQuery {
    /// Only entries older than this seq (the previous page's `next_before`).
    pub before_seq: Option<u64>,
    /// At most this many (default 50, at most 1,000).
    pub limit: Option<u32>,
    pub kinds: Vec<String>,
    pub actor: Option<String>,
    pub version: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct LogRow {
    pub seq: u64,
    pub hash: String,
    pub at: String,
    pub actor: String,
    pub kind: String,
    pub version: Option<String>,
    pub channel: Option<String>,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct LogPage {
    pub entries: Vec<LogRow>,
    /// Pass as `before_seq` for the next page; `None` on the last one.
    pub next_before: Option<u64>,
}

/// The open workspace, for the console's header and settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceInfo {
    pub dir: String,
    /// The home store's URL.
    pub store: String,
    pub signer: String,
    pub actor: Option<String>,
    /// True under `role = "viewer"`: every changing command is refused.
    pub read_only: bool,
    pub channels: Vec<String>,
    /// How often an open console re-reads the store.
    pub sync_interval_seconds: u32,
}

/// The default of `sync-interval-seconds`.
pub const DEFAULT_SYNC_SECONDS: u32 = 30;

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 1000;

impl Workspace {
    /// The workspace in brief, for the console's header and settings.
    pub fn info(&self) -> WorkspaceInfo {
        let c = self.config();
        WorkspaceInfo {
            dir: self.dir().display().to_string(),
            store: self.store().url().to_string(),
            signer: c.signer.clone(),
            actor: c.actor.clone(),
            read_only: self.read_only(),
            channels: c.channels.keys().cloned().collect(),
            sync_interval_seconds: c.sync_interval_seconds.unwrap_or(DEFAULT_SYNC_SECONDS),
        }
    }

    /// Every app the registry knows, with its channels and waiting approvals.
    pub async fn overview(&self) -> Result<Vec<AppOverview>> {
        let mut out = Vec::new();
        for app in self.registry.apps().await? {
            out.push(self.app_overview(&app).await?);
        }
        Ok(out)
    }

    pub async fn app_overview(&self, app: &str) -> Result<AppOverview> {
        let pool = &self.registry.pool;
        let now = self.clock.now();
        let head =
            sqlx::query("SELECT seq, at FROM events WHERE app = ? ORDER BY seq DESC LIMIT 1")
                .bind(app)
                .fetch_optional(pool)
                .await?;
        let rows = sqlx::query(
            "SELECT c.channel, c.current_version, c.rollout_version, c.basis_points, \
             c.rollout_id, c.paused, c.served_seq, c.plan, c.step, c.step_started_at, \
             c.step_started_seq, p.seq, p.expires_at, p.seen_at, c.holdout_version, \
             c.holdout_basis_points, c.holdout_until \
             FROM channels c LEFT JOIN pointers_seen p \
             ON p.app = c.app AND p.channel = c.channel \
             WHERE c.app = ? ORDER BY c.channel",
        )
        .bind(app)
        .fetch_all(pool)
        .await?;
        let mut channels = Vec::new();
        for r in rows {
            let channel: String = r.get(0);
            let rollout = match r.get::<Option<String>, _>(2) {
                Some(version) => {
                    let plan: Option<Vec<u32>> = r
                        .get::<Option<String>, _>(7)
                        .and_then(|p| serde_json::from_str(&p).ok());
                    Some(RolloutView {
                        version,
                        rollout_id: r.get::<Option<String>, _>(4).unwrap_or_default(),
                        basis_points: r.get::<Option<i64>, _>(3).unwrap_or(0) as u32,
                        paused: r.get(5),
                        step: r.get::<Option<i64>, _>(8).map(|s| s as u32 + 1),
                        steps: plan.as_ref().map(|p| p.len() as u32),
                        plan,
                        step_started_at: r.get(9),
                        step_started_seq: r.get::<Option<i64>, _>(10).map(|s| s as u64),
                    })
                }
                None => None,
            };
            let rollback_target: Option<String> = sqlx::query_scalar(
                "SELECT version FROM release_channels WHERE app = ? AND channel = ? \
                 AND status = 'rollback-ready' ORDER BY since_seq DESC LIMIT 1",
            )
            .bind(app)
            .bind(&channel)
            .fetch_optional(pool)
            .await?;
            let served_seq = r.get::<Option<i64>, _>(6).map(|s| s as u64);
            let pointer = r.get::<Option<i64>, _>(11).map(|seq| {
                let seq = seq as u64;
                let expires_at: String = r.get(12);
                let left = Timestamp::parse(&expires_at).map_or(0, |t| t.unix() - now.unix());
                PointerSeen {
                    seq,
                    expires_soon: left < crate::ops::sync::EXPIRY_WARNING_SECONDS,
                    expired: left <= 0,
                    lagging: served_seq.is_some_and(|s| s > seq),
                    expires_at,
                    seen_at: r.get(13),
                }
            });
            let holdout = match (
                r.get::<Option<String>, _>(14),
                r.get::<Option<i64>, _>(15),
                r.get::<Option<String>, _>(16),
            ) {
                (Some(version), Some(bp), Some(until))
                    if Timestamp::parse(&until).is_ok_and(|t| now < t) =>
                {
                    Some(HoldoutView {
                        version,
                        basis_points: bp as u32,
                        until,
                    })
                }
                _ => None,
            };
            channels.push(ChannelView {
                holdout,
                protected: self.is_protected(&channel),
                current: r.get(1),
                rollout,
                rollback_target,
                served_seq,
                pointer,
                channel,
            });
        }
        Ok(AppOverview {
            app: app.to_string(),
            head_seq: head.as_ref().map_or(0, |h| h.get::<i64, _>(0) as u64),
            head_at: head.map(|h| h.get(1)),
            pending_approvals: self.pending_approvals(app).await?,
            channels,
        })
    }

    /// Releases staged in an unprotected channel, not quarantined, never yet in a protected
    /// channel and not approved for it by anyone but their author.
    pub async fn pending_approvals(&self, app: &str) -> Result<Vec<PendingApproval>> {
        let protected: Vec<&String> = self
            .config
            .channels
            .iter()
            .filter(|(_, c)| c.protected)
            .map(|(n, _)| n)
            .collect();
        let staged = sqlx::query(
            "SELECT r.version, r.author, r.released_at FROM releases r \
             JOIN release_channels rc ON rc.app = r.app AND rc.version = r.version \
             WHERE r.app = ? AND r.quarantined_at IS NULL AND rc.status = 'staged' \
             ORDER BY rc.since_seq DESC",
        )
        .bind(app)
        .fetch_all(&self.registry.pool)
        .await?;
        let mut out = Vec::new();
        for row in staged {
            let (version, author): (String, String) = (row.get(0), row.get(1));
            for channel in &protected {
                let been_there: Option<i64> = sqlx::query_scalar(
                    "SELECT 1 FROM release_channels WHERE app = ? AND version = ? AND channel = ?",
                )
                .bind(app)
                .bind(&version)
                .bind(channel.as_str())
                .fetch_optional(&self.registry.pool)
                .await?;
                let rejection = sqlx::query(
                    "SELECT actor, at, reason, seq FROM rejections WHERE app = ? AND version = ? \
                     AND channel = ? ORDER BY seq DESC LIMIT 1",
                )
                .bind(app)
                .bind(&version)
                .bind(channel.as_str())
                .fetch_optional(&self.registry.pool)
                .await?;
                let rejected_at = rejection.as_ref().map_or(0, |r| r.get::<i64, _>(3));
                let approved: Option<i64> = sqlx::query_scalar(
                    "SELECT 1 FROM approvals WHERE app = ? AND version = ? AND channel = ? \
                     AND actor <> ? AND COALESCE(seq, 0) > ?",
                )
                .bind(app)
                .bind(&version)
                .bind(channel.as_str())
                .bind(&author)
                .bind(rejected_at)
                .fetch_optional(&self.registry.pool)
                .await?;
                if been_there.is_none() && approved.is_none() {
                    out.push(PendingApproval {
                        version: version.clone(),
                        channel: channel.to_string(),
                        author: author.clone(),
                        released_at: row.get(2),
                        rejection: rejection.map(|r| RejectionView {
                            actor: r.get(0),
                            at: r.get(1),
                            reason: r.get(2),
                        }),
                    });
                }
            }
        }
        Ok(out)
    }

    /// An app's releases, newest first, with their statuses and approvals.
    pub async fn releases_view(&self, app: &str) -> Result<Vec<ReleaseView>> {
        self.release_views(app, None).await
    }

    /// One release of `app`, as [`Self::releases_view`] shows it (one row read, not all).
    pub async fn release_view(&self, app: &str, version: &str) -> Result<Option<ReleaseView>> {
        Ok(self.release_views(app, Some(version)).await?.pop())
    }

    async fn release_views(&self, app: &str, version: Option<&str>) -> Result<Vec<ReleaseView>> {
        let pool = &self.registry.pool;
        let statuses = self.registry.statuses(app).await?;
        let rows = sqlx::query(
            "SELECT version, author, released_at, first_channel, bundle_hash, files, bytes, \
             min_native_version, quarantined_at, quarantine_reason FROM releases \
             WHERE app = ? AND (?2 IS NULL OR version = ?2) \
             ORDER BY released_at DESC, version DESC",
        )
        .bind(app)
        .bind(version)
        .fetch_all(pool)
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let version: String = r.get(0);
            let approvals = sqlx::query(
                "SELECT channel, actor, at FROM approvals WHERE app = ? AND version = ? \
                 ORDER BY at",
            )
            .bind(app)
            .bind(&version)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|a| ApprovalView {
                channel: a.get(0),
                actor: a.get(1),
                at: a.get(2),
            })
            .collect();
            out.push(ReleaseView {
                channels: statuses
                    .iter()
                    .filter(|s| s.version == version)
                    .cloned()
                    .collect(),
                author: r.get(1),
                released_at: r.get(2),
                released_into: r.get(3),
                bundle_hash: r.get(4),
                files: r.get::<i64, _>(5) as u64,
                bytes: r.get::<i64, _>(6) as u64,
                min_native_version: r.get(7),
                quarantined_at: r.get(8),
                quarantine_reason: r.get(9),
                approvals,
                version,
            });
        }
        Ok(out)
    }

    /// One page of an app's event log, newest first, filtered.
    pub async fn log_page(&self, app: &str, q: &LogQuery) -> Result<LogPage> {
        let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
        let mut sql = String::from(
            "SELECT seq, hash, at, actor, kind, version, channel, reason FROM events \
             WHERE app = ? AND seq < ?",
        );
        if !q.kinds.is_empty() {
            sql.push_str(&format!(
                " AND kind IN ({})",
                vec!["?"; q.kinds.len()].join(", ")
            ));
        }
        if q.actor.is_some() {
            sql.push_str(" AND actor = ?");
        }
        if q.version.is_some() {
            sql.push_str(" AND version = ?");
        }
        sql.push_str(" ORDER BY seq DESC LIMIT ?");
        let before = q.before_seq.map_or(i64::MAX, |b| b as i64);
        let mut query = sqlx::query(&sql).bind(app).bind(before);
        for k in &q.kinds {
            query = query.bind(k);
        }
        if let Some(a) = &q.actor {
            query = query.bind(a);
        }
        if let Some(v) = &q.version {
            query = query.bind(v);
        }
        let rows = query
            .bind(i64::from(limit) + 1)
            .fetch_all(&self.registry.pool)
            .await?;
        let more = rows.len() > limit as usize;
        let entries: Vec<LogRow> = rows
            .into_iter()
            .take(limit as usize)
            .map(|r| LogRow {
                seq: r.get::<i64, _>(0) as u64,
                hash: r.get(1),
                at: r.get(2),
                actor: r.get(3),
                kind: r.get(4),
                version: r.get(5),
                channel: r.get(6),
                reason: r.get(7),
            })
            .collect();
        let next_before = if more {
            entries.last().map(|e| e.seq)
        } else {
            None
        };
        Ok(LogPage {
            entries,
            next_before,
        })
    }
}
