//! Crash-tool exports imported into the registry and judged: a Sentry-style CSV and a
//! Crashlytics-style JSON (other column names, mapped), a malformed row that fails the whole
//! import with its line and column (nothing written), and a re-import that adds nothing.

mod common;

use airlock_core::ErrorKind;
use airlock_core::kpi::judge::Outcome;
use airlock_core::kpi::policy::KpiSettings;
use airlock_core::kpi::samples::{Columns, ImportRequest};
use airlock_core::kpi::synthetic::Cohorts;
use airlock_core::ops::analyze::AnalyzeRequest;
use airlock_protocol::time::Timestamp;
use common::*;
use std::fmt::Write;

fn env() -> Env {
    Env::with_config(|c| {
        c.kpi = Some(KpiSettings {
            kpis: Some(vec!["crash-free".into()]),
            ..KpiSettings::default()
        });
    })
}

fn t0() -> Timestamp {
    Timestamp::parse("2026-11-01T00:00:00Z").unwrap()
}

/// Three hours of hourly buckets: 3 % crashes for 1.1.0 against 0.3 % for 1.0.0.
fn hourly() -> Vec<(String, Timestamp, f64, f64, f64)> {
    let c = Cohorts {
        minutes: 180,
        sessions_per_hour: 40_000.0,
        crash_rate: (0.03, 0.003),
        seed: 17,
        ..Cohorts::new(APP, PRODUCTION, "1.1.0", "1.0.0", t0())
    };
    let (cand, base) = c.minutes();
    let mut out = Vec::new();
    for (version, minutes) in [("1.1.0", &cand), ("1.0.0", &base)] {
        for (h, hour) in minutes.chunks(60).enumerate() {
            let sessions: f64 = hour.iter().map(|m| m.sessions).sum();
            let crashed: f64 = hour.iter().map(|m| m.crashed).sum();
            out.push((
                version.to_string(),
                t0().plus_seconds(3600 * h as i64),
                sessions,
                crashed,
                (sessions * 0.01).round(),
            ));
        }
    }
    out
}

fn request(file: &std::path::Path, columns: Columns) -> ImportRequest {
    ImportRequest {
        file: file.to_path_buf(),
        app: APP.into(),
        channel: PRODUCTION.into(),
        format: None,
        columns,
        bucket_minutes: 60,
    }
}

fn backtest() -> AnalyzeRequest {
    AnalyzeRequest {
        app: APP.into(),
        channel: PRODUCTION.into(),
        candidate: Some("1.1.0".into()),
        from: Some(t0()),
        to: Some(t0().plus_seconds(3 * 3600)),
        ..AnalyzeRequest::default()
    }
}

#[tokio::test]
async fn a_sentry_csv_is_imported_once_and_judged() {
    let env = env();
    let ws = env.console().await;
    with_approved_candidate(&ws).await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("sentry-release-health.csv");
    let mut text = String::from("release,time,sessions,crashed_sessions,errored_sessions\n");
    for (v, at, s, c, e) in hourly() {
        writeln!(text, "\"{v}\",{at},{s},{c},{e}").unwrap();
    }
    std::fs::write(&csv, &text).unwrap();
    let r = ws
        .import_kpi(&request(&csv, Columns::default()))
        .await
        .unwrap();
    assert!(r.added);
    assert_eq!(
        (r.rows, r.versions.clone()),
        (6, vec!["1.0.0".to_string(), "1.1.0".to_string()])
    );
    let source = ws
        .kpi_source()
        .await
        .expect("imported samples are a KPI source");
    let first = ws.analyze(&backtest(), source.as_ref()).await.unwrap();
    assert_eq!(first.verdict, Outcome::Fail, "{}", first.summary);
    let again = ws
        .import_kpi(&request(&csv, Columns::default()))
        .await
        .unwrap();
    assert!(!again.added, "the same file again adds nothing");
    let second = ws.analyze(&backtest(), source.as_ref()).await.unwrap();
    assert_eq!(
        first.kpis[0].candidate, second.kpis[0].candidate,
        "no count doubled"
    );
}

#[tokio::test]
async fn a_crashlytics_json_with_its_own_column_names_is_mapped() {
    let env = env();
    let ws = env.console().await;
    with_approved_candidate(&ws).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("crashlytics.json");
    let rows: Vec<serde_json::Value> = hourly()
        .into_iter()
        .map(|(v, at, s, c, _)| serde_json::json!({"app_version": v, "bucket_start": at.to_string(), "sessions": s, "crashed_sessions": c}))
        .collect();
    std::fs::write(&json, serde_json::to_vec_pretty(&rows).unwrap()).unwrap();
    let columns = Columns::parse("version=app_version,time=bucket_start").unwrap();
    let r = ws.import_kpi(&request(&json, columns)).await.unwrap();
    assert_eq!(r.rows, 6);
    let v = ws
        .analyze(&backtest(), ws.kpi_source().await.unwrap().as_ref())
        .await
        .unwrap();
    assert_eq!(v.verdict, Outcome::Fail, "{}", v.summary);
}

#[tokio::test]
async fn a_malformed_row_fails_the_whole_import() {
    let env = env();
    let ws = env.console().await;
    with_approved_candidate(&ws).await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("broken.csv");
    std::fs::write(
        &csv,
        "release,time,sessions,crashed_sessions\n\
         1.0.0,2026-11-01T00:00:00Z,38000,114\n\
         1.1.0,2026-11-01T00:00:00Z,2000,-3\n",
    )
    .unwrap();
    let (kind, e) = kind_of(
        "a negative count",
        ws.import_kpi(&request(&csv, Columns::default())).await,
    );
    assert_eq!(kind, ErrorKind::InvalidInput);
    assert!(
        e.to_string()
            .contains("broken.csv line 3, column 4 (crashed)"),
        "{e}"
    );
    let (kind, _) = kind_of("nothing was imported", ws.kpi_source().await.map(|_| ()));
    assert_eq!(
        kind,
        ErrorKind::Config,
        "no row of the broken file was kept"
    );
    let missing = dir.path().join("no-header.csv");
    std::fs::write(&missing, "version,when,n\n1.0.0,x,1\n").unwrap();
    let (_, e) = kind_of(
        "missing columns",
        ws.import_kpi(&request(&missing, Columns::default())).await,
    );
    assert!(e.to_string().contains("no column \"release\""), "{e}");
}
