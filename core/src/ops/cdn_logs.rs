//! `airlock kpi ingest`: the CDN's access logs (CloudFront standard logs, in the store
//! `[kpi.cdn-logs]` names) read into the registry as KPI samples — update checks per channel,
//! downloads and download failures per release (kpi/cdn_logs.rs says how a line counts).
//! Incremental: each file is read once (the registry remembers its store and key), so
//! running it twice adds nothing twice, and a file that arrives late is still read. A file
//! is stored whole or not at all; one that cannot be decompressed is recorded with why and
//! counts nothing. Malformed lines are counted and reported with file and line.

use crate::error::{Error, Result};
use crate::kpi::cdn_logs::{self, Index, LogCounter, Malformed, Placed, Tally};
use crate::parallel::{self, Job};
use crate::progress::{self, Task};
use crate::registry::Registry;
use crate::state::Placement;
use crate::store::Store;
use crate::workspace::Workspace;
use serde::Serialize;
use std::collections::HashSet;
use std::io::BufReader;
use std::sync::Arc;

/// What one ingest read.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngestReport {
    pub store: String,
    /// Log files read by this run.
    pub files: u64,
    /// Log files read by an earlier run (nothing of them was added again).
    pub already_read: u64,
    /// Objects in the store that are not gzipped log files (not read).
    pub ignored: u64,
    /// Request lines in the files read.
    pub lines: u64,
    /// Pointer and blob requests counted for a channel or release.
    pub counted: u64,
    /// Pointer or blob requests no known app, channel or release accounts for.
    pub unattributed: u64,
    pub malformed: u64,
    /// Malformed lines (at most 20 per file) and files that could not be read, by file.
    pub problems: Vec<FileProblem>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileProblem {
    pub file: String,
    /// The line (from 1, counting `#` lines); `None`: the file as a whole.
    pub line: Option<u64>,
    pub reason: String,
}

/// One file's outcome: its tally, or why it could not be read.
type Outcome = (String, std::result::Result<Tally, String>);

impl Workspace {
    /// Reads the access-log files not read before; see the module note.
    pub async fn ingest_cdn_logs(&self) -> Result<IngestReport> {
        let settings = self
            .config
            .kpi
            .as_ref()
            .and_then(|k| k.cdn_logs.as_ref())
            .ok_or_else(|| {
                Error::Config(
                    "no CDN logs to read: add `[kpi.cdn-logs]` with `store = \"s3://…\"` (where \
                     the distribution writes its standard logs) to airlock.toml (docs/KPIS.md)"
                        .into(),
                )
            })?;
        let spec = self.config.resolve_store(&settings.store)?;
        let store = crate::store::open(&spec, self.aws())?;
        progress::step(format!("listing the CDN logs in {}", store.url()));
        let keys = store.list("", None).await?;
        let read = self.registry.cdn_files_read(store.id()).await?;
        let mut report = IngestReport {
            store: store.url().to_string(),
            ..IngestReport::default()
        };
        let mut todo = Vec::new();
        for key in keys {
            if !key.ends_with(".gz") {
                report.ignored += 1;
            } else if read.contains(&key) {
                report.already_read += 1;
            } else {
                todo.push(key);
            }
        }
        if todo.is_empty() {
            return Ok(report);
        }
        progress::step("reading which releases each blob belongs to");
        let index = Arc::new(
            self.cdn_index()
                .await?
                .accepting(&settings.distributions, self.now().unix()),
        );
        todo.retain(|key| match index.refuses(key) {
            None => true,
            Some(reason) => {
                report.ignored += 1;
                report.problems.push(FileProblem {
                    file: key.clone(),
                    line: None,
                    reason,
                });
                false
            }
        });
        let total = todo.len() as u64;
        let subject = store.url().to_string();
        progress::count(Task::Ingesting, &subject, 0, total);
        // Decompressing and parsing is CPU work: one file per core on the blocking pool;
        // each file is stored (in its own transaction) as soon as it is read.
        let limit = std::thread::available_parallelism().map_or(2, |n| n.get());
        let jobs: Vec<Job<'_, Result<Outcome>>> = todo
            .into_iter()
            .map(|key| {
                let (store, index) = (store.clone(), index.clone());
                Box::pin(async move {
                    let (key, outcome) = read_file(store.clone(), key, index.clone()).await?;
                    self.registry
                        .store_cdn_file(store.id(), &key, &outcome, &index, self.now())
                        .await?;
                    Ok((key, outcome))
                }) as Job<'_, Result<Outcome>>
            })
            .collect();
        parallel::bounded(jobs, limit, |done| {
            let (key, outcome) = done?;
            report.add(&key, outcome);
            progress::count(Task::Ingesting, &subject, report.files, total);
            Ok(())
        })
        .await?;
        Ok(report)
    }

    /// Every release placed in a channel with the blobs its manifest lists, and the
    /// channels with their CDN distributions: who a request counts for.
    async fn cdn_index(&self) -> Result<Index> {
        let apps = self.apps().await?;
        let mut placed = Vec::new();
        for app in &apps {
            let state = self.load(app).await?;
            // A release placed in several channels lists the same blobs: read it once.
            let mut blobs: std::collections::HashMap<&str, Vec<String>> = Default::default();
            for (channel, c) in &state.channels {
                for (version, p) in &c.placements {
                    let rank = match p.placement {
                        Placement::RollingOut { .. } => 0,
                        Placement::Current => 1,
                        Placement::RollbackReady => 2,
                        Placement::Reverted | Placement::Archived => 3,
                    };
                    let release = state.release(version)?;
                    if !blobs.contains_key(version.as_str()) {
                        let manifest = self.release_objects(app, version).await?.manifest;
                        let listed = manifest.files.into_iter().map(|f| f.sha256).collect();
                        blobs.insert(version, listed);
                    }
                    placed.push(Placed {
                        app: app.clone(),
                        channel: channel.clone(),
                        version: version.clone(),
                        newness: (release.released_at.to_string(), release.released_seq as i64),
                        rank,
                        blobs: blobs[version.as_str()].clone(),
                    });
                }
            }
        }
        let channels: Vec<(String, Option<String>)> = self
            .config
            .channels
            .iter()
            .map(|(name, c)| (name.clone(), c.cdn.as_ref().map(|d| d.distribution.clone())))
            .collect();
        Ok(Index::new(placed, &apps, &channels))
    }
}

/// Fetches, decompresses and tallies one file (the last two on the blocking pool).
async fn read_file(store: Arc<dyn Store>, key: String, index: Arc<Index>) -> Result<Outcome> {
    let cap = airlock_protocol::limits::Cap::new("CDN log file", cdn_logs::MAX_FILE_BYTES);
    let object = match store.get(&key, cap).await {
        Ok(object) => object,
        Err(e @ Error::Protocol(airlock_protocol::Error::OverCap { .. })) => {
            return Ok((key, Err(e.to_string())));
        }
        Err(e) => return Err(e),
    };
    let Some(object) = object else {
        // Deleted between the listing and now (a lifecycle rule): nothing to read.
        return Ok((
            key,
            Err("the file was removed before it could be read".into()),
        ));
    };
    let name = key.clone();
    let tally = tokio::task::spawn_blocking(move || {
        let size = object.bytes.len() as u64;
        let gz = cdn_logs::Capped::for_file(
            flate2::read::MultiGzDecoder::new(object.bytes.as_slice()),
            size,
        );
        cdn_logs::read(&name, BufReader::with_capacity(1 << 16, gz), &index)
            .map_err(|e| format!("the file is not a readable gzip file: {e}"))
    })
    .await
    .map_err(|e| Error::Store {
        store: store.url().to_string(),
        op: "read",
        key: key.clone(),
        detail: format!("reading the log stopped: {e}"),
    })?;
    Ok((key, tally))
}

impl IngestReport {
    fn add(&mut self, key: &str, outcome: std::result::Result<Tally, String>) {
        self.files += 1;
        match outcome {
            Ok(t) => {
                self.lines += t.lines;
                self.counted += t.counted;
                self.unattributed += t.unattributed;
                self.malformed += t.malformed_total;
                self.problems
                    .extend(t.malformed.into_iter().map(|m| FileProblem {
                        file: key.to_string(),
                        line: Some(m.line),
                        reason: m.reason,
                    }));
            }
            Err(reason) => self.problems.push(FileProblem {
                file: key.to_string(),
                line: None,
                reason,
            }),
        }
    }
}

impl Registry {
    /// The keys of `store` whose logs were read before.
    pub async fn cdn_files_read(&self, store: &str) -> Result<HashSet<String>> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT key FROM cdn_log_files WHERE store = ?")
            .bind(store)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Records one file as read, with its counts, in one transaction (a file read by a
    /// concurrent run meanwhile is left as that run stored it).
    async fn store_cdn_file(
        &self,
        store: &str,
        key: &str,
        outcome: &std::result::Result<Tally, String>,
        index: &Index,
        now: airlock_protocol::time::Timestamp,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let empty = Tally::default();
        let (tally, problems) = match outcome {
            Ok(t) => (t, serde_json::to_string(&t.malformed)),
            Err(why) => (
                &empty,
                serde_json::to_string(&[Malformed {
                    line: 0,
                    reason: why.clone(),
                }]),
            ),
        };
        let problems = problems.map_err(|e| Error::Database(format!("problems of {key}: {e}")))?;
        let inserted =
            sqlx::query("INSERT OR IGNORE INTO cdn_log_files VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                .bind(store)
                .bind(key)
                .bind(now.to_string())
                .bind(tally.lines as i64)
                .bind(tally.counted as i64)
                .bind(tally.unattributed as i64)
                .bind(tally.malformed_total as i64)
                .bind(problems)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if inserted == 0 {
            return Ok(());
        }
        for ((series, counter, at), n) in &tally.sums {
            let s = index.series(*series);
            sqlx::query("INSERT INTO cdn_samples VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                .bind(&s.app)
                .bind(&s.channel)
                .bind(&s.version)
                .bind(counter.key())
                .bind(at)
                .bind(*n as f64)
                .bind(store)
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Update checks and their errors for `app`'s `channel` between `from` and `to` (Unix
    /// seconds, minute ends in `(from, to]`), from the CDN logs: `None` when none were read.
    pub async fn update_checks(
        &self,
        app: &str,
        channel: &str,
        from: i64,
        to: i64,
    ) -> Result<Option<(f64, f64)>> {
        let sum = |counter: LogCounter| {
            sqlx::query_as::<_, (Option<f64>,)>(
                "SELECT SUM(value) FROM cdn_samples WHERE app = ? AND channel = ? AND \
                 counter = ? AND version = '' AND at > ? AND at <= ?",
            )
            .bind(app)
            .bind(channel)
            .bind(counter.key())
            .bind(from)
            .bind(to)
            .fetch_one(&self.pool)
        };
        let checks = sum(LogCounter::UpdateChecks).await?.0;
        let errors = sum(LogCounter::UpdateCheckErrors).await?.0;
        Ok(checks.map(|c| (c, errors.unwrap_or(0.0))))
    }
}
