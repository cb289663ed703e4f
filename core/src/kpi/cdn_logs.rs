//! CloudFront standard access logs (gzipped, tab-separated, described by their `#Fields:`
//! line) read into per-minute counts: update checks from pointer requests, downloads and
//! download failures per version from blob requests. A blob belongs to every release whose
//! manifest lists it; a request for it counts for the newest of those releases in the
//! channels the log's distribution serves ([`Index`]). Malformed lines are counted and kept
//! with their line number, never dropped unseen. This module only reads: the workspace
//! (ops/cdn_logs.rs) lists the files, remembers which were read, and stores the counts
//! (migration 0009) for [`super::samples::SampleSource`].

use super::source::Counter;
use std::collections::{HashMap, HashSet};
use std::io::BufRead;

/// What a log line can count for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogCounter {
    UpdateChecks,
    UpdateCheckErrors,
    Downloads,
    DownloadFailures,
}

impl LogCounter {
    /// Its rows' name in the samples: the judge's counter names for downloads.
    pub fn key(self) -> &'static str {
        match self {
            LogCounter::UpdateChecks => "update-checks",
            LogCounter::UpdateCheckErrors => "update-check-errors",
            LogCounter::Downloads => Counter::Downloads.key(),
            LogCounter::DownloadFailures => Counter::DownloadFailures.key(),
        }
    }
}

/// A series counts are kept for: a release in a channel, or (version empty) a channel's
/// update checks.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Series {
    pub app: String,
    pub channel: String,
    pub version: String,
}

/// A release placed in a channel, with the blobs its manifest lists.
#[derive(Clone, Debug)]
pub struct Placed {
    pub app: String,
    pub channel: String,
    pub version: String,
    /// Orders releases: the newest has the greatest (its release time, then its log seq).
    pub newness: (String, i64),
    /// Rolling out (0) before current (1) before rollback-ready (2) before anything else
    /// (3: reverted, archived, quarantined — served to nobody): which release a shared blob
    /// counts for, before newness.
    pub rank: u8,
    pub blobs: Vec<String>,
}

/// Who a request counts for.
#[derive(Debug, Default)]
pub struct Index {
    series: Vec<Series>,
    /// Blob SHA-256 → (series, channel) candidates, the newest release first.
    blobs: HashMap<String, Vec<(u32, String)>>,
    /// app → channel → the series of its update checks (looked up without allocating).
    pointers: HashMap<String, HashMap<String, u32>>,
    /// Distribution id → the channels it serves (`[channels.<name>.cdn] distribution`).
    distributions: HashMap<String, HashSet<String>>,
    /// The distributions whose logs are read: the channels' and those `[kpi.cdn-logs]
    /// distributions` lists (which count for any channel). Files of any other are refused.
    accepted: HashSet<String>,
    /// Lines dated after this (Unix seconds: now plus [`MAX_CLOCK_SKEW_SECONDS`]) are
    /// counted malformed, never as traffic.
    pub not_after: i64,
}

/// How far in the future a log line may be dated (clock skew between the edge and here).
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;

/// The distribution id of `key` if its base name is as CloudFront names standard log files:
/// `<DISTRIBUTION>.<YYYY-MM-DD-HH>.<unique>.gz`.
pub fn cloudfront_distribution(key: &str) -> Option<&str> {
    let base = key.rsplit('/').next().unwrap_or(key);
    let mut parts = base.split('.');
    let (dist, stamp, unique, gz) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let stamp_ok = stamp.len() == 13
        && stamp.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 | 10 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    let ok = parts.next().is_none()
        && gz == "gz"
        && !dist.is_empty()
        && dist.len() <= 64
        && dist
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && stamp_ok
        && !unique.is_empty()
        && unique.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then_some(dist)
}

impl Index {
    /// `channels`: every configured (app-independent) channel name with its distribution.
    pub fn new(
        mut placed: Vec<Placed>,
        apps: &[String],
        channels: &[(String, Option<String>)],
    ) -> Self {
        let mut ix = Index::default();
        for app in apps {
            for (channel, _) in channels {
                let id = ix.series.len() as u32;
                ix.series.push(Series {
                    app: app.clone(),
                    channel: channel.clone(),
                    version: String::new(),
                });
                ix.pointers
                    .entry(app.clone())
                    .or_default()
                    .insert(channel.clone(), id);
            }
        }
        for (channel, dist) in channels {
            if let Some(d) = dist {
                ix.accepted.insert(d.clone());
                ix.distributions
                    .entry(d.clone())
                    .or_default()
                    .insert(channel.clone());
            }
        }
        // What channels serve now first (rollouts, then currents), then the rest; newest
        // first within each.
        placed.sort_by(|a, b| {
            a.rank
                .cmp(&b.rank)
                .then(b.newness.cmp(&a.newness))
                .then(a.channel.cmp(&b.channel))
        });
        for p in placed {
            let id = ix.series.len() as u32;
            ix.series.push(Series {
                app: p.app,
                channel: p.channel.clone(),
                version: p.version,
            });
            for b in p.blobs {
                ix.blobs.entry(b).or_default().push((id, p.channel.clone()));
            }
        }
        ix
    }

    pub fn series(&self, id: u32) -> &Series {
        &self.series[id as usize]
    }

    /// Also reads the logs of `extra` distributions (for any channel), and refuses lines
    /// dated after `now` plus the allowed skew.
    pub fn accepting(mut self, extra: &[String], now: i64) -> Self {
        self.accepted.extend(extra.iter().cloned());
        self.not_after = now + MAX_CLOCK_SKEW_SECONDS;
        self
    }

    /// Why the log file `key` is not read, if it is not: not named as CloudFront names its
    /// logs, or from a distribution this workspace does not configure.
    pub fn refuses(&self, key: &str) -> Option<String> {
        let Some(dist) = cloudfront_distribution(key) else {
            return Some(
                "not named as CloudFront names standard logs \
                 (DISTRIBUTION.YYYY-MM-DD-HH.UNIQUE.gz)"
                    .into(),
            );
        };
        (!self.accepted.contains(dist)).then(|| {
            format!(
                "from distribution {dist}, which no channel's [channels.<name>.cdn] and no \
                 [kpi.cdn-logs] distributions names"
            )
        })
    }

    /// The channels a log file's distribution serves; `None`: any channel (a distribution
    /// `[kpi.cdn-logs] distributions` lists without a channel).
    pub fn channels_of(&self, file_name: &str) -> Option<&HashSet<String>> {
        let base = file_name.rsplit('/').next().unwrap_or(file_name);
        let dist = base.split('.').next().unwrap_or("");
        self.distributions.get(dist)
    }

    fn blob(&self, sha: &str, channels: Option<&HashSet<String>>) -> Option<u32> {
        self.blobs
            .get(sha)?
            .iter()
            .find(|(_, c)| channels.is_none_or(|set| set.contains(c)))
            .map(|(id, _)| *id)
    }
}

/// A line that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Malformed {
    pub line: u64,
    pub reason: String,
}

/// At most this many malformed lines are kept per file (all are counted).
pub const MALFORMED_KEPT: usize = 20;

/// What one file holds.
#[derive(Debug, Default)]
pub struct Tally {
    pub lines: u64,
    /// Pointer and blob requests (GET) counted for a series.
    pub counted: u64,
    /// Pointer or blob requests no known app, channel or release accounts for.
    pub unattributed: u64,
    pub malformed_total: u64,
    pub malformed: Vec<Malformed>,
    /// (series, counter, minute's end in Unix seconds) → requests.
    pub sums: HashMap<(u32, LogCounter, i64), u64>,
}

impl Tally {
    fn bad(&mut self, line: u64, reason: impl Into<String>) {
        self.malformed_total += 1;
        if self.malformed.len() < MALFORMED_KEPT {
            self.malformed.push(Malformed {
                line,
                reason: reason.into(),
            });
        }
    }

    fn add(&mut self, series: u32, counter: LogCounter, minute: i64) {
        *self.sums.entry((series, counter, minute)).or_default() += 1;
    }
}

/// Where the fields the counts need sit on a line.
struct Columns {
    count: usize,
    date: usize,
    time: usize,
    stem: usize,
    status: usize,
    method: Option<usize>,
    result: Option<usize>,
}

impl Columns {
    fn parse(header: &str) -> Result<Self, String> {
        let names: Vec<&str> = header.split_whitespace().collect();
        let find = |n: &str| names.iter().position(|x| *x == n);
        let need = |n: &str| find(n).ok_or_else(|| format!("the #Fields line has no {n}"));
        Ok(Self {
            count: names.len(),
            date: need("date")?,
            time: need("time")?,
            stem: need("cs-uri-stem")?,
            status: need("sc-status")?,
            method: find("cs-method"),
            result: find("x-edge-result-type"),
        })
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn number(s: &str) -> Option<i64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

/// `2026-12-04` and `05:43:39` (UTC) → Unix seconds.
fn unix(date: &str, time: &str) -> Option<i64> {
    let mut d = date.split('-').map(number);
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':').map(number);
    let (h, min, s) = (t.next()??, t.next()??, t.next()??);
    let valid = d.next().is_none()
        && t.next().is_none()
        && (1970..=9999).contains(&y)
        && (1..=12).contains(&m)
        && (1..=31).contains(&day)
        && h < 24
        && min < 60
        && s < 61;
    valid.then(|| days_from_civil(y, m, day) * 86_400 + h * 3600 + min * 60 + s)
}

/// Percent-decodes a URI stem (CloudFront encodes some characters); `None` if invalid.
fn decode(stem: &str) -> Option<std::borrow::Cow<'_, str>> {
    if !stem.contains('%') {
        return Some(stem.into());
    }
    let (mut out, bytes, mut i) = (Vec::with_capacity(stem.len()), stem.as_bytes(), 0);
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = stem.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(Into::into)
}

/// What a request asked for.
enum Target<'a> {
    Pointer { app: &'a str, channel: &'a str },
    Blob(&'a str),
    Other,
}

fn target(stem: &str) -> Target<'_> {
    if let Some(i) = stem.rfind("blobs/sha256/") {
        let sha = &stem[i + "blobs/sha256/".len()..];
        if sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Target::Blob(sha);
        }
        return Target::Other;
    }
    let pointer = || {
        let rest = stem.strip_suffix("/pointer.dsse.json")?;
        let (rest, channel) = rest.rsplit_once('/')?;
        let rest = rest.strip_suffix("/channels")?;
        let (rest, app) = rest.rsplit_once('/').unwrap_or(("", rest));
        (rest == "apps" || rest.ends_with("/apps")).then_some(Target::Pointer { app, channel })
    };
    pointer().unwrap_or(Target::Other)
}

/// A download or update check succeeded: a 2xx or 304 the edge did not mark as an error.
fn succeeded(status: u16, result: Option<&str>) -> bool {
    ((200..300).contains(&status) || status == 304) && result != Some("Error")
}

/// The largest log file read (compressed, as stored): CloudFront writes files of a few MB.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// The most one file may decompress to, and the most it may expand (a gzip bomb stops at
/// whichever comes first, with the file named).
pub const MAX_DECOMPRESSED_BYTES: u64 = 2 * 1024 * 1024 * 1024;
pub const MAX_RATIO: u64 = 100;
/// The longest line read; a longer one is counted malformed and skipped without holding it.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// A reader that fails once more than `left` bytes came through it: the decompressed-size
/// cap of one log file.
#[derive(Debug)]
pub struct Capped<R> {
    inner: R,
    left: u64,
    cap: u64,
}

impl<R> Capped<R> {
    /// At most `min(MAX_DECOMPRESSED_BYTES, compressed × MAX_RATIO)` bytes of `inner`.
    pub fn for_file(inner: R, compressed: u64) -> Self {
        let cap = MAX_DECOMPRESSED_BYTES.min(compressed.saturating_mul(MAX_RATIO).max(1 << 20));
        Self {
            inner,
            left: cap,
            cap,
        }
    }
}

impl<R: std::io::Read> std::io::Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(std::io::Error::other(format!(
                "it decompresses to more than {} bytes (the cap: at most {MAX_RATIO}× its \
                 size, and {MAX_DECOMPRESSED_BYTES} in all); a gzip bomb?",
                self.cap
            )));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Reads one line into `buf` (cleared first), holding at most [`MAX_LINE_BYTES`] of it: a
/// longer line is consumed to its end and reported as `Some(too_long) == true`. `None` at the
/// end of the input.
fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<Option<bool>> {
    buf.clear();
    let (mut any, mut too_long) = (false, false);
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(any.then_some(too_long));
        }
        any = true;
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let used = chunk.len();
        if !too_long {
            if buf.len() + used > MAX_LINE_BYTES {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        reader.consume(used);
        if done {
            return Ok(Some(too_long));
        }
    }
}

/// Reads one (decompressed) log file. `file` names it: its distribution id (the start of
/// its base name) picks the channels its blob requests may count for.
pub fn read(file: &str, reader: impl BufRead, index: &Index) -> std::io::Result<Tally> {
    let channels = index.channels_of(file);
    let mut reader = reader;
    let (mut tally, mut buf, mut columns, mut n) = (Tally::default(), Vec::new(), None, 0u64);
    // Where each field of the current line starts and ends (reused: no allocation per line).
    let mut spans: Vec<(usize, usize)> = Vec::with_capacity(40);
    while let Some(too_long) = read_line(&mut reader, &mut buf)? {
        n += 1;
        if too_long {
            tally.bad(n, format!("longer than {MAX_LINE_BYTES} bytes"));
            continue;
        }
        let Ok(text) = std::str::from_utf8(&buf) else {
            tally.bad(n, "not UTF-8");
            continue;
        };
        let line = text.trim_end_matches(['\n', '\r']);
        if let Some(header) = line.strip_prefix("#Fields:") {
            match Columns::parse(header) {
                Ok(c) => columns = Some(c),
                Err(e) => {
                    columns = None;
                    tally.bad(n, e);
                }
            }
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        tally.lines += 1;
        let Some(c) = &columns else {
            tally.bad(n, "a request before any valid #Fields line");
            continue;
        };
        spans.clear();
        let mut start = 0;
        for (i, b) in line.bytes().enumerate() {
            if b == b'\t' {
                spans.push((start, i));
                start = i + 1;
            }
        }
        spans.push((start, line.len()));
        if spans.len() != c.count {
            tally.bad(
                n,
                format!("{} fields where #Fields names {}", spans.len(), c.count),
            );
            continue;
        }
        let field = |k: usize| &line[spans[k].0..spans[k].1];
        let Some(at) = unix(field(c.date), field(c.time)) else {
            tally.bad(
                n,
                format!("date and time {:?} {:?}", field(c.date), field(c.time)),
            );
            continue;
        };
        if index.not_after > 0 && at > index.not_after {
            tally.bad(
                n,
                format!(
                    "dated {} {}, in the future (more than {MAX_CLOCK_SKEW_SECONDS} s ahead)",
                    field(c.date),
                    field(c.time)
                ),
            );
            continue;
        }
        let Some(status) = number(field(c.status)).and_then(|s| u16::try_from(s).ok()) else {
            tally.bad(
                n,
                format!("sc-status {:?} is not a number", field(c.status)),
            );
            continue;
        };
        let Some(stem) = decode(field(c.stem)) else {
            tally.bad(
                n,
                format!("cs-uri-stem {:?} is badly encoded", field(c.stem)),
            );
            continue;
        };
        if c.method.is_some_and(|i| field(i) != "GET") {
            continue;
        }
        let ok = succeeded(status, c.result.map(field));
        let minute = at.div_euclid(60) * 60 + 60;
        let (series, counter, failure) = match target(&stem) {
            Target::Other => continue,
            Target::Pointer { app, channel } => (
                index
                    .pointers
                    .get(app)
                    .and_then(|c| c.get(channel))
                    .copied(),
                LogCounter::UpdateChecks,
                LogCounter::UpdateCheckErrors,
            ),
            Target::Blob(sha) => (
                if sha.bytes().any(|b| b.is_ascii_uppercase()) {
                    index.blob(&sha.to_ascii_lowercase(), channels)
                } else {
                    index.blob(sha, channels)
                },
                LogCounter::Downloads,
                LogCounter::DownloadFailures,
            ),
        };
        let Some(series) = series else {
            tally.unattributed += 1;
            continue;
        };
        tally.counted += 1;
        tally.add(series, counter, minute);
        // A log is a complete record: no failure in a minute is a count of zero, not a gap
        // (the judge tells "none failed" from "no data").
        *tally.sums.entry((series, failure, minute)).or_default() += u64::from(!ok);
    }
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &str = "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken";

    fn line(time: &str, stem: &str, status: &str, result: &str) -> String {
        format!(
            "2026-12-04\t{time}\tFRA56-C1\t1234\t192.0.2.1\tGET\td1.cloudfront.net\t{stem}\t{status}\t-\tokhttp/4\t-\t-\t{result}\tabc==\tcdn.example\thttps\t120\t0.004"
        )
    }

    fn placed(version: &str, seq: i64, channel: &str, rank: u8, blobs: &[&str]) -> Placed {
        Placed {
            app: "shop".into(),
            channel: channel.into(),
            version: version.into(),
            newness: (format!("2026-12-0{seq}T00:00:00Z"), seq),
            rank,
            blobs: blobs.iter().map(|b| b.to_string()).collect(),
        }
    }

    fn index() -> Index {
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        Index::new(
            vec![
                placed("1.0.0", 1, "Production", 1, &[&a, &b]),
                placed("1.1.0", 2, "Production", 0, &[&a]),
                placed("1.2.0", 3, "Staging", 1, &[&a]),
            ],
            &["shop".into()],
            &[
                ("Production".into(), Some("EPROD".into())),
                ("Staging".into(), None),
            ],
        )
    }

    fn counts(ix: &Index, t: &Tally) -> Vec<(String, String, LogCounter, u64)> {
        let mut out: Vec<_> = t
            .sums
            .iter()
            .map(|((s, c, _), n)| {
                let s = ix.series(*s);
                (s.channel.clone(), s.version.clone(), *c, *n)
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn counts_checks_and_downloads_for_the_newest_release_the_distribution_serves() {
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let text = [
            "#Version: 1.0".to_string(),
            FIELDS.into(),
            line(
                "10:00:01",
                "/ota/apps/shop/channels/Production/pointer.dsse.json",
                "200",
                "Hit",
            ),
            line(
                "10:00:02",
                "/ota/apps/shop/channels/Production/pointer.dsse.json",
                "503",
                "Error",
            ),
            line("10:00:03", &format!("/ota/blobs/sha256/{a}"), "200", "Miss"),
            line("10:00:04", &format!("/ota/blobs/sha256/{b}"), "200", "Hit"),
            line(
                "10:00:05",
                &format!("/ota/blobs/sha256/{b}"),
                "000",
                "Error",
            ),
            line(
                "10:00:06",
                "/ota/apps/shop/releases/1.1.0/manifest.json",
                "200",
                "Hit",
            ),
            line(
                "10:00:07",
                &format!("/ota/blobs/sha256/{}", "c".repeat(64)),
                "404",
                "Error",
            ),
            line(
                "10:00:08",
                "/ota/apps/other/channels/Production/pointer.dsse.json",
                "200",
                "Hit",
            ),
        ]
        .join("\n");
        let ix = index();
        let t = read("logs/EPROD.2026-12-04-10.1a2b3c.gz", text.as_bytes(), &ix).unwrap();
        assert_eq!(
            (t.lines, t.counted, t.unattributed, t.malformed_total),
            (8, 5, 2, 0)
        );
        use LogCounter::*;
        assert_eq!(
            counts(&ix, &t),
            [
                ("Production".into(), "".into(), UpdateChecks, 2),
                ("Production".into(), "".into(), UpdateCheckErrors, 1),
                // Blob a is listed by 1.0.0, 1.1.0 and 1.2.0; 1.2.0 is only in Staging,
                // which this distribution does not serve.
                ("Production".into(), "1.0.0".into(), Downloads, 2),
                ("Production".into(), "1.0.0".into(), DownloadFailures, 1),
                ("Production".into(), "1.1.0".into(), Downloads, 1),
                ("Production".into(), "1.1.0".into(), DownloadFailures, 0),
            ]
        );
        // Without a distribution that names channels, any channel counts: blob a goes to
        // the release served first anywhere, 1.1.0 rolling out, not to Staging's newer
        // current; with 1.1.0 reverted (rank 3), to Staging's 1.2.0.
        let t = read("logs/EOTHER.2026-12-04-10.1a2b3c.gz", text.as_bytes(), &ix).unwrap();
        assert!(counts(&ix, &t).contains(&("Production".into(), "1.1.0".into(), Downloads, 1)));
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let reverted = Index::new(
            vec![
                placed("1.0.0", 1, "Production", 1, &[&a, &b]),
                placed("1.1.0", 2, "Production", 3, &[&a]),
                placed("1.2.0", 3, "Staging", 1, &[&a]),
            ],
            &["shop".into()],
            &[("Production".into(), None), ("Staging".into(), None)],
        );
        let t = read(
            "logs/EOTHER.2026-12-04-10.1a2b3c.gz",
            text.as_bytes(),
            &reverted,
        )
        .unwrap();
        assert!(counts(&reverted, &t).contains(&("Staging".into(), "1.2.0".into(), Downloads, 1)));
    }

    #[test]
    fn malformed_lines_are_counted_with_their_line_number() {
        let text = [
            line("10:00:01", "/x", "200", "Hit"),
            FIELDS.into(),
            "2026-12-04\t10:00:02\tonly three".into(),
            line("25:00:00", "/x", "200", "Hit"),
            line("10:00:03", "/x", "OK", "Hit"),
            line(
                "10:00:04",
                "/apps/shop/channels/Production/pointer.dsse.json",
                "200",
                "Hit",
            ),
        ]
        .join("\n");
        let t = read("f.gz", text.as_bytes(), &index()).unwrap();
        assert_eq!(t.malformed_total, 4);
        let lines: Vec<u64> = t.malformed.iter().map(|m| m.line).collect();
        assert_eq!(lines, [1, 3, 4, 5]);
        assert!(t.malformed[0].reason.contains("before any valid #Fields"));
        assert!(
            t.malformed[1]
                .reason
                .contains("3 fields where #Fields names 19")
        );
        assert_eq!(t.counted, 1);
    }

    #[test]
    fn dates_and_stems_are_read_exactly() {
        assert_eq!(unix("1970-01-01", "00:00:00"), Some(0));
        assert_eq!(unix("2026-12-04", "05:43:39"), Some(1_796_363_019));
        assert_eq!(unix("2024-02-29", "23:59:59"), Some(1_709_251_199));
        assert_eq!(unix("2026-13-01", "00:00:00"), None);
        assert_eq!(unix("999999999999-01-01", "00:00:00"), None, "no overflow");
        assert_eq!(decode("/apps/my%20app").as_deref(), Some("/apps/my app"));
        assert_eq!(decode("/bad%zz"), None);
        assert!(matches!(
            target("apps/shop/channels/Beta/pointer.dsse.json"),
            Target::Pointer {
                app: "shop",
                channel: "Beta"
            }
        ));
        assert!(matches!(
            target("/p/apps/shop/releases/1/manifest.json"),
            Target::Other
        ));
    }
}
