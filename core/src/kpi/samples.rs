//! KPI numbers imported from crash tools' exports — Crashlytics, Sentry, anything that can
//! write per release and time bucket the sessions, crashed sessions and sessions with errors
//! — kept in the registry's SQLite (`kpi_samples`, migrations 0008 and 0012) and read by the
//! judge through [`SampleSource`]. This module parses an export; [`super::imports`] stores it.
//! An import is all or nothing: a malformed row (or a release and bucket the file repeats)
//! fails it with its line and column and nothing is written; a file already imported (same
//! SHA-256) adds nothing; a row for a release and bucket an earlier import already gave
//! replaces that import's numbers, never adds to them. The column mapping is documented in
//! docs/KPIS.md ("Importing crash-tool exports").
//! [`SampleSource`] also reads the counts ops/cdn_logs.rs keeps from CDN access logs.

use super::source::{Counter, Counts, Histograms, KpiSource, Latency, Scope, Window};
use crate::error::{Error, Result};
use crate::registry::Registry;
use airlock_protocol::time::Timestamp;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Which column holds what; the defaults are the canonical names in docs/KPIS.md.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Columns {
    pub version: String,
    pub time: String,
    pub sessions: String,
    pub crashed: String,
    pub errors: String,
}

impl Default for Columns {
    fn default() -> Self {
        Self {
            version: "release".into(),
            time: "time".into(),
            sessions: "sessions".into(),
            crashed: "crashed_sessions".into(),
            errors: "errored_sessions".into(),
        }
    }
}

impl Columns {
    /// Applies `name=column,…` (e.g. `version=app_version,time=bucket_start`) to the defaults.
    pub fn parse(spec: &str) -> Result<Self> {
        let mut c = Self::default();
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').ok_or_else(|| bad_spec(pair))?;
            let slot = match k.trim() {
                "version" => &mut c.version,
                "time" => &mut c.time,
                "sessions" => &mut c.sessions,
                "crashed" => &mut c.crashed,
                "errors" => &mut c.errors,
                _ => return Err(bad_spec(pair)),
            };
            *slot = v.trim().to_string();
        }
        Ok(c)
    }
}

fn bad_spec(pair: &str) -> Error {
    Error::InvalidInput(format!(
        "--columns {pair:?}: write NAME=COLUMN with NAME one of version, time, sessions, \
         crashed, errors"
    ))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

/// What to import.
#[derive(Clone, Debug)]
pub struct ImportRequest {
    pub file: std::path::PathBuf,
    pub app: String,
    pub channel: String,
    /// `None`: from the file's extension (`.json`, else CSV).
    pub format: Option<Format>,
    pub columns: Columns,
    /// Each row's bucket length; its counts are placed at the bucket's end.
    pub bucket_minutes: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub file: String,
    pub sha256: String,
    /// False when this file was imported before (nothing was added).
    pub added: bool,
    pub rows: usize,
    /// Of `rows`, those for a release and bucket no earlier import had given.
    pub new_rows: usize,
    /// Of `rows`, those that replaced an earlier import's numbers for their release and
    /// bucket (that import keeps its other rows).
    pub replaced_rows: usize,
    pub versions: Vec<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

/// One parsed row.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Row {
    pub(super) version: String,
    /// The bucket's end.
    pub(super) at: Timestamp,
    pub(super) sessions: f64,
    pub(super) crashed: f64,
    pub(super) errors: Option<f64>,
}

fn at(file: &str, line: usize, column: usize, name: &str, why: impl std::fmt::Display) -> Error {
    Error::InvalidInput(format!(
        "{file} line {line}, column {column} ({name}): {why}; nothing was imported"
    ))
}

/// Splits one CSV line (RFC 4180 quoting, no line breaks inside fields).
fn csv_fields(line: &str) -> std::result::Result<Vec<String>, String> {
    let (mut out, mut field, mut quoted, mut chars) =
        (Vec::new(), String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => out.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed on its line".into());
    }
    out.push(field);
    Ok(out)
}

struct Cell<'a> {
    file: &'a str,
    line: usize,
    column: usize,
    name: &'a str,
    text: &'a str,
}

impl Cell<'_> {
    fn count(&self) -> Result<f64> {
        let v: f64 = self.text.trim().parse().map_err(|_| {
            at(
                self.file,
                self.line,
                self.column,
                self.name,
                format!("{:?} is not a number", self.text),
            )
        })?;
        if !(v.is_finite() && v >= 0.0) {
            return Err(at(
                self.file,
                self.line,
                self.column,
                self.name,
                "a count must be zero or more",
            ));
        }
        Ok(v)
    }

    fn time(&self, bucket: i64) -> Result<Timestamp> {
        Timestamp::parse(self.text.trim())
            .map(|t| t.plus_seconds(bucket))
            .map_err(|e| at(self.file, self.line, self.column, self.name, e))
    }
}

fn rows_from(
    file: &str,
    header: &[String],
    records: Vec<(usize, Vec<String>)>,
    c: &Columns,
    bucket: i64,
) -> Result<Vec<Row>> {
    let index = |name: &str, required: bool| -> Result<Option<usize>> {
        match header.iter().position(|h| h.trim() == name) {
            Some(i) => Ok(Some(i)),
            None if !required => Ok(None),
            None => Err(Error::InvalidInput(format!(
                "{file}: no column {name:?} (the columns are {}); name it with --columns; nothing was imported",
                header.join(", ")
            ))),
        }
    };
    let (iv, it, is, ic) = (
        index(&c.version, true)?.unwrap_or(0),
        index(&c.time, true)?.unwrap_or(0),
        index(&c.sessions, true)?.unwrap_or(0),
        index(&c.crashed, true)?.unwrap_or(0),
    );
    let ie = index(&c.errors, false)?;
    let mut out = Vec::with_capacity(records.len());
    // Each release and bucket once: a later import replaces a stored row, so a file that
    // repeated one would silently lose all but its last.
    let mut seen: HashMap<(String, i64), usize> = HashMap::new();
    for (line, fields) in records {
        let cell = |i: usize, name: &'static str| -> Result<Cell<'_>> {
            let text = fields.get(i).ok_or_else(|| {
                at(
                    file,
                    line,
                    i + 1,
                    name,
                    format!(
                        "missing: the row has {} fields, the header {}",
                        fields.len(),
                        header.len()
                    ),
                )
            })?;
            Ok(Cell {
                file,
                line,
                column: i + 1,
                name,
                text,
            })
        };
        let version = cell(iv, "version")?.text.trim().to_string();
        if version.is_empty() {
            return Err(at(file, line, iv + 1, "version", "empty"));
        }
        let row = Row {
            version,
            at: cell(it, "time")?.time(bucket)?,
            sessions: cell(is, "sessions")?.count()?,
            crashed: cell(ic, "crashed")?.count()?,
            errors: ie
                .map(|i| cell(i, "errors").and_then(|c| c.count()))
                .transpose()?,
        };
        if row.crashed > row.sessions {
            return Err(at(
                file,
                line,
                ic + 1,
                "crashed",
                format!(
                    "{} crashed sessions of {} sessions",
                    row.crashed, row.sessions
                ),
            ));
        }
        if let Some(first) = seen.insert((row.version.clone(), row.at.unix()), line) {
            return Err(at(
                file,
                line,
                it + 1,
                "time",
                format!(
                    "release {} has a row for this bucket on line {first} already (one row \
                     per release and bucket; add them up first)",
                    row.version
                ),
            ));
        }
        out.push(row);
    }
    Ok(out)
}

fn parse_csv(file: &str, text: &str, c: &Columns, bucket: i64) -> Result<Vec<Row>> {
    // Spreadsheet exports often start with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (hl, header) = lines
        .next()
        .ok_or_else(|| Error::InvalidInput(format!("{file} is empty; nothing was imported")))?;
    let header = csv_fields(header).map_err(|e| at(file, hl + 1, 1, "header", e))?;
    let mut records = Vec::new();
    for (n, l) in lines {
        let fields = csv_fields(l).map_err(|e| at(file, n + 1, 1, "row", e))?;
        records.push((n + 1, fields));
    }
    rows_from(file, &header, records, c, bucket)
}

fn parse_json(file: &str, text: &str, c: &Columns, bucket: i64) -> Result<Vec<Row>> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| at(file, e.line(), e.column(), "JSON", e))?;
    let items = value.as_array().ok_or_else(|| {
        Error::InvalidInput(format!(
            "{file}: expected a JSON array of rows; nothing was imported"
        ))
    })?;
    // The errors column is optional, as in a CSV: present when any row has it.
    let with_errors = items.iter().any(|i| i.get(c.errors.as_str()).is_some());
    let mut names = vec![&c.version, &c.time, &c.sessions, &c.crashed];
    if with_errors {
        names.push(&c.errors);
    }
    let header: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut records = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let obj = item
            .as_object()
            .ok_or_else(|| at(file, i + 1, 1, "row", "not an object"))?;
        let fields = names
            .iter()
            .map(|n| match obj.get(n.as_str()) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Null) | None => String::new(),
                Some(v) => v.to_string(),
            })
            .collect();
        // JSON rows have no lines: "line" is the row's position in the array (from 1).
        records.push((i + 1, fields));
    }
    rows_from(file, &header, records, c, bucket)
}

impl Registry {
    /// Whether any KPI samples were ever imported into this registry, or read from CDN logs.
    pub async fn has_kpi_samples(&self) -> Result<bool> {
        let n: (i64,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM kpi_imports) OR EXISTS (SELECT 1 FROM cdn_log_files)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(n.0 > 0)
    }
}

/// Parses and stores an import; see the module note.
pub async fn import(
    registry: &Registry,
    req: &ImportRequest,
    now: Timestamp,
) -> Result<ImportReport> {
    let bytes = std::fs::read(&req.file).map_err(|e| Error::io("read", &req.file, e))?;
    let name = req.file.display().to_string();
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        Error::InvalidInput(format!(
            "{name} is not UTF-8 text ({e}); nothing was imported"
        ))
    })?;
    if req.bucket_minutes == 0 {
        return Err(Error::InvalidInput(
            "--bucket-minutes must be at least 1".into(),
        ));
    }
    let bucket = i64::from(req.bucket_minutes) * 60;
    let format = req.format.unwrap_or_else(|| {
        if Path::new(&req.file)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            Format::Json
        } else {
            Format::Csv
        }
    });
    let rows = match format {
        Format::Csv => parse_csv(&name, text, &req.columns, bucket)?,
        Format::Json => parse_json(&name, text, &req.columns, bucket)?,
    };
    let sha256 = airlock_protocol::digest::sha256_hex(&bytes);
    let stored = registry.store_import(&sha256, req, &rows, now).await?;
    let mut versions: Vec<String> = rows.iter().map(|r| r.version.clone()).collect();
    versions.sort();
    versions.dedup();
    Ok(ImportReport {
        file: name,
        sha256,
        added: stored.is_some(),
        rows: rows.len(),
        new_rows: stored.map_or(0, |s| s.new),
        replaced_rows: stored.map_or(0, |s| s.replaced),
        versions,
        from: rows.iter().map(|r| r.at.plus_seconds(-bucket)).min(),
        to: rows.iter().map(|r| r.at).max(),
    })
}

/// The stored samples as a KPI source: sessions, crashed sessions and sessions with errors
/// from imports, downloads and download failures from CDN logs; nothing else (those KPIs
/// answer "no data").
#[derive(Clone, Debug)]
pub struct SampleSource {
    registry: Registry,
}

impl SampleSource {
    pub fn new(registry: Registry) -> Self {
        Self { registry }
    }
}

#[async_trait::async_trait]
impl KpiSource for SampleSource {
    async fn counts(&self, what: Counter, scope: &Scope, window: &Window) -> Result<Counts> {
        let mut out = Counts::new();
        // Crash-tool exports and CDN logs do not say which devices were in a holdout.
        let Some(end) = window.last_bin_end().filter(|_| !scope.holdout) else {
            return Ok(out);
        };
        let (bins, from, to) = (window.bins(), window.from.unix(), end.unix());
        for v in &scope.versions {
            let rows: Vec<(i64, f64)> = sqlx::query_as(
                "SELECT at, value FROM kpi_samples WHERE app = ? AND channel = ? AND counter = ? \
                 AND version = ? AND at > ? AND at <= ? UNION ALL \
                 SELECT at, value FROM cdn_samples WHERE app = ? AND channel = ? AND counter = ? \
                 AND version = ? AND at > ? AND at <= ?",
            )
            .bind(&scope.app)
            .bind(&scope.channel)
            .bind(what.key())
            .bind(v)
            .bind(from)
            .bind(to)
            .bind(&scope.app)
            .bind(&scope.channel)
            .bind(what.key())
            .bind(v)
            .bind(from)
            .bind(to)
            .fetch_all(&self.registry.pool)
            .await?;
            if rows.is_empty() {
                continue;
            }
            let mut b = vec![0.0; bins];
            for (t, value) in rows {
                let i = usize::try_from((t - window.from.unix() - 1) / window.step_seconds)
                    .unwrap_or(0);
                if let Some(slot) = b.get_mut(i) {
                    *slot += value;
                }
            }
            out.insert(v.clone(), b);
        }
        Ok(out)
    }

    async fn histograms(&self, _: Latency, _: &Scope, _: &Window) -> Result<Histograms> {
        Ok(Histograms::new())
    }

    async fn active_devices(&self, _: &Scope, _: Timestamp) -> Result<BTreeMap<String, f64>> {
        Ok(BTreeMap::new())
    }

    async fn update_checks(&self, scope: &Scope, window: &Window) -> Result<Option<(f64, f64)>> {
        let Some(end) = window.last_bin_end() else {
            return Ok(None);
        };
        self.registry
            .update_checks(&scope.app, &scope.channel, window.from.unix(), end.unix())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_follow_rfc_4180_quoting() {
        assert_eq!(
            csv_fields("a,\"b,c\",\"d \"\"e\"\"\",").unwrap(),
            ["a", "b,c", "d \"e\"", ""]
        );
        assert!(csv_fields("a,\"b").is_err());
    }

    #[test]
    fn a_malformed_row_names_its_line_and_column() {
        let text = "release,time,sessions,crashed_sessions\n1.0.0,2026-11-01T00:00:00Z,100,1\n1.1.0,2026-11-01T00:00:00Z,ten,1\n";
        let e = parse_csv("x.csv", text, &Columns::default(), 3600).unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.csv line 3, column 3 (sessions): \"ten\" is not a number; nothing was imported"
        );
        let more = "release,time,sessions,crashed_sessions\n1.0.0,2026-11-01T00:00:00Z,10,11\n";
        assert!(
            parse_csv("y.csv", more, &Columns::default(), 3600)
                .unwrap_err()
                .to_string()
                .contains("line 2, column 4 (crashed)")
        );
        let bad_time = "release,time,sessions,crashed_sessions\n1.0.0,yesterday,10,1\n";
        assert!(
            parse_csv("z.csv", bad_time, &Columns::default(), 3600)
                .unwrap_err()
                .to_string()
                .contains("line 2, column 2 (time)")
        );
    }

    #[test]
    fn columns_are_mapped_by_name() {
        let c = Columns::parse("version=app_version, time=bucket_start").unwrap();
        assert_eq!(
            (c.version.as_str(), c.time.as_str(), c.sessions.as_str()),
            ("app_version", "bucket_start", "sessions")
        );
        assert!(Columns::parse("colour=red").is_err());
    }
}
