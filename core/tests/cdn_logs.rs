//! CDN access logs as CloudFront writes them (data/cloudfront/standard-log.tsv: its two header
//! lines, the AWS documentation's own example line, and requests for Airlock's pointer and
//! blobs, with the blobs' real SHA-256 filled in) read into the registry by `kpi ingest`:
//! downloads and failures per release, update checks per channel, each malformed line
//! counted and named with its file and line, a file that is not gzip reported and counted
//! for nothing, and a second run adding nothing.

mod common;

use airlock_core::kpi::policy::{CdnLogSettings, KpiSettings};
use airlock_core::kpi::source::{Counter, Scope, Window};
use airlock_protocol::digest::sha256_hex;
use common::*;
use std::io::Write;

fn template() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/cloudfront/standard-log.tsv");
    std::fs::read_to_string(path).expect("the fixture is readable")
}

/// The fixture with the blob placeholders replaced by the test releases' blobs.
fn log_text() -> String {
    let main = |v: &str| sha256_hex(format!("console.log('shop {v}');\n").as_bytes());
    template()
        .replace("{MAIN_1_1_0}", &main("1.1.0"))
        .replace("{MAIN_1_0_0}", &main("1.0.0"))
        .replace(
            "{LOGO}",
            &sha256_hex(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n"),
        )
}

fn gzip(text: &str) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap()
}

#[tokio::test]
async fn cloudfront_logs_are_read_once_with_every_bad_line_named() {
    let logs = tempfile::tempdir().unwrap();
    let url = format!("file://{}", logs.path().display());
    let env = Env::with_config(|c| {
        c.kpi = Some(KpiSettings {
            cdn_logs: Some(CdnLogSettings {
                store: url,
                distributions: vec!["E2EXAMPLE".into()],
            }),
            ..KpiSettings::default()
        });
    });
    let ws = env.console().await;
    rolling_out_at_5_percent(&ws).await;
    // The logs are of 2027-01-15 08:00–09:00; read them an hour later (lines dated after
    // now are refused as future-dated).
    let read_at = airlock_protocol::time::Timestamp::parse("2027-01-15T10:00:00Z").unwrap();
    env.clock.advance(read_at.unix() - env.now().unix());
    let good = "E2EXAMPLE.2027-01-15-08.9f3a61c2.gz";
    std::fs::write(logs.path().join(good), gzip(&log_text())).unwrap();
    let broken = "E2EXAMPLE.2027-01-15-09.0d1e2f3a.gz";
    std::fs::write(logs.path().join(broken), b"this is not gzip").unwrap();
    std::fs::write(logs.path().join("README.txt"), b"not a log").unwrap();

    let r = ws.ingest_cdn_logs().await.unwrap();
    assert_eq!((r.files, r.already_read, r.ignored), (2, 0, 1), "{r:?}");
    // 17 request lines: the AWS example, 4 checks, a manifest, 8 blob requests, 3 malformed.
    assert_eq!(r.lines, 17, "{r:?}");
    assert_eq!(
        (r.counted, r.unattributed, r.malformed),
        (11, 1, 3),
        "4 checks and 7 downloads counted; one blob nobody lists; three bad lines: {r:?}"
    );
    let bad: Vec<(Option<u64>, &str)> = r
        .problems
        .iter()
        .filter(|p| p.file == good)
        .map(|p| (p.line, p.reason.as_str()))
        .collect();
    assert_eq!(
        bad.iter().map(|b| b.0).collect::<Vec<_>>(),
        [Some(17), Some(18), Some(19)],
        "each malformed line by its number in the file: {bad:?}"
    );
    assert!(
        bad[0].1.contains("6 fields where #Fields names 33"),
        "{}",
        bad[0].1
    );
    assert!(bad[1].1.contains("date and time"), "{}", bad[1].1);
    assert!(bad[2].1.contains("sc-status"), "{}", bad[2].1);
    let unreadable = r.problems.iter().find(|p| p.file == broken).expect("named");
    assert_eq!(unreadable.line, None);
    assert!(unreadable.reason.contains("gzip"), "{}", unreadable.reason);

    let again = ws.ingest_cdn_logs().await.unwrap();
    assert_eq!(
        (again.files, again.already_read, again.counted),
        (0, 2, 0),
        "a second run reads nothing twice: {again:?}"
    );

    // What the judge reads: downloads and failures per release, from the samples.
    let source = ws.kpi_source().await.unwrap();
    let scope = Scope {
        app: APP.into(),
        channel: PRODUCTION.into(),
        versions: vec!["1.1.0".into(), "1.0.0".into()],
        holdout: false,
    };
    let t0 = airlock_protocol::time::Timestamp::parse("2027-01-15T08:00:00Z").unwrap();
    let w = Window::new(t0, t0.plus_seconds(3600), 300).unwrap();
    let total = |c: &airlock_core::kpi::source::Counts, v: &str| -> f64 {
        c.get(v).map(|b| b.iter().sum()).unwrap_or(0.0)
    };
    let downloads = source.counts(Counter::Downloads, &scope, &w).await.unwrap();
    let failures = source
        .counts(Counter::DownloadFailures, &scope, &w)
        .await
        .unwrap();
    assert_eq!(
        (total(&downloads, "1.1.0"), total(&failures, "1.1.0")),
        (5.0, 1.0),
        "four requests of 1.1.0's main.js (one failed) and the logo, whose newest release is 1.1.0"
    );
    assert_eq!(
        (total(&downloads, "1.0.0"), total(&failures, "1.0.0")),
        (2.0, 0.0)
    );
    assert_eq!(
        (downloads["1.1.0"][1], downloads["1.1.0"][2]),
        (0.0, 5.0),
        "counted in the minutes they happened: all in the bin of 08:10–08:15"
    );
    let checks = ws
        .registry()
        .update_checks(APP, PRODUCTION, t0.unix(), t0.unix() + 3600)
        .await
        .unwrap();
    assert_eq!(checks, Some((4.0, 1.0)), "four checks, the 503 an error");
}

#[tokio::test]
async fn without_a_logs_store_ingest_says_how_to_set_one() {
    let env = Env::new();
    let ws = env.console().await;
    let (kind, e) = kind_of("ingest", ws.ingest_cdn_logs().await);
    assert_eq!(kind, airlock_core::ErrorKind::Config);
    assert!(e.to_string().contains("[kpi.cdn-logs]"), "{e}");
}
