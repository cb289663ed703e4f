//! Crash-tool exports imported into the registry and judged: a Sentry-style CSV and a
//! Crashlytics-style JSON (other column names, mapped), a malformed row that fails the whole
//! import with its line and column (nothing written), and a re-import that adds nothing.
//! Imports replace, never add: two exports whose hours overlap leave the second one's
//! numbers in those hours (not the sum), an import can be removed by its file or SHA-256, or
//! all of a channel's at once, and migration 0012 settles rows stored before it the same way.

mod common;

use airlock_core::ErrorKind;
use airlock_core::Workspace;
use airlock_core::kpi::imports::Removal;
use airlock_core::kpi::judge::Outcome;
use airlock_core::kpi::policy::KpiSettings;
use airlock_core::kpi::samples::{Columns, ImportRequest, SampleSource};
use airlock_core::kpi::source::{Counter, Counts, KpiSource, Scope, Window};
use airlock_core::kpi::synthetic::Cohorts;
use airlock_core::ops::analyze::AnalyzeRequest;
use airlock_core::registry::Registry;
use airlock_protocol::time::Timestamp;
use common::*;
use std::fmt::Write;
use std::path::{Path, PathBuf};

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

/// A CSV export of `rows` (version, hour after t0, sessions, crashed sessions) in `dir`.
fn export(dir: &Path, name: &str, rows: &[(&str, i64, f64, f64)]) -> PathBuf {
    let mut text = String::from("release,time,sessions,crashed_sessions\n");
    for (v, hour, sessions, crashed) in rows {
        writeln!(
            text,
            "{v},{},{sessions},{crashed}",
            t0().plus_seconds(3600 * hour)
        )
        .unwrap();
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Hours 0 to 2 (`first.csv`) and 1 to 3 (`second.csv`) of both releases: two exports that
/// share hours 1 and 2, with other numbers in them.
fn overlapping(dir: &Path) -> (PathBuf, PathBuf) {
    let mut first = Vec::new();
    let mut second = Vec::new();
    for v in ["1.0.0", "1.1.0"] {
        for h in 0..3 {
            first.push((v, h, 1000.0 + h as f64, 10.0));
            second.push((v, h + 1, 2000.0 + h as f64 + 1.0, 20.0));
        }
    }
    (
        export(dir, "first.csv", &first),
        export(dir, "second.csv", &second),
    )
}

/// What the judge would read, per release and hour (hours 0 to 3 after t0).
async fn counts(ws: &Workspace, what: Counter) -> Counts {
    SampleSource::new(ws.registry().clone())
        .counts(
            what,
            &Scope {
                app: APP.into(),
                channel: PRODUCTION.into(),
                versions: vec!["1.0.0".into(), "1.1.0".into()],
                holdout: false,
            },
            &Window::new(t0(), t0().plus_seconds(4 * 3600), 3600).unwrap(),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn overlapping_exports_replace_the_hours_they_share_instead_of_adding() {
    let env = env();
    let ws = env.console().await;
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = overlapping(dir.path());
    let a = ws
        .import_kpi(&request(&first, Columns::default()))
        .await
        .unwrap();
    assert_eq!((a.rows, a.new_rows, a.replaced_rows), (6, 6, 0));
    let b = ws
        .import_kpi(&request(&second, Columns::default()))
        .await
        .unwrap();
    assert_eq!(
        (b.rows, b.new_rows, b.replaced_rows),
        (6, 2, 4),
        "hours 1 and 2 of both releases were the first file's"
    );
    let expected = vec![1000.0, 2001.0, 2002.0, 2003.0];
    let sessions = counts(&ws, Counter::Sessions).await;
    assert_eq!(
        sessions["1.1.0"], expected,
        "the shared hours hold the second export's sessions, not the sum; the first keeps hour 0"
    );
    assert_eq!(sessions["1.0.0"], expected);
    assert_eq!(
        counts(&ws, Counter::CrashedSessions).await["1.1.0"],
        vec![10.0, 20.0, 20.0, 20.0]
    );

    // The same bytes again are still "imported before": they add nothing and do not put
    // the older numbers back over the newer ones.
    let again = ws
        .import_kpi(&request(&first, Columns::default()))
        .await
        .unwrap();
    assert!(!again.added, "a file is imported once");
    assert_eq!((again.new_rows, again.replaced_rows), (0, 0));
    assert_eq!(counts(&ws, Counter::Sessions).await["1.1.0"], expected);

    let listed = ws.registry().kpi_imports(APP, PRODUCTION).await.unwrap();
    let remaining: Vec<(&str, usize, usize)> = listed
        .iter()
        .map(|i| (i.file.rsplit('/').next().unwrap(), i.rows, i.rows_remaining))
        .collect();
    assert_eq!(
        remaining,
        [("first.csv", 6, 2), ("second.csv", 6, 6)],
        "the first import stays listed with the rows the second did not replace"
    );
}

#[tokio::test]
async fn a_release_and_bucket_repeated_in_one_file_fails_the_import() {
    let env = env();
    let ws = env.console().await;
    let dir = tempfile::tempdir().unwrap();
    let twice = export(
        dir.path(),
        "twice.csv",
        &[
            ("1.0.0", 0, 100.0, 1.0),
            ("1.0.0", 1, 100.0, 1.0),
            ("1.0.0", 0, 50.0, 0.0),
        ],
    );
    let (kind, e) = kind_of(
        "a repeated release and bucket",
        ws.import_kpi(&request(&twice, Columns::default())).await,
    );
    assert_eq!(kind, ErrorKind::InvalidInput);
    assert!(
        e.to_string().contains("twice.csv line 4, column 2 (time)")
            && e.to_string().contains("on line 2 already"),
        "{e}"
    );
    assert!(
        ws.registry()
            .kpi_imports(APP, PRODUCTION)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_import_is_removed_by_its_file_or_its_sha256() {
    let env = env();
    let ws = env.console().await;
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = overlapping(dir.path());
    for f in [&first, &second] {
        ws.import_kpi(&request(f, Columns::default()))
            .await
            .unwrap();
    }
    let gone = ws
        .remove_kpi_imports(APP, PRODUCTION, &Removal::One(first.display().to_string()))
        .await
        .unwrap();
    assert_eq!(gone.removed.len(), 1);
    assert_eq!(
        (
            gone.removed[0].file.as_str(),
            gone.removed[0].rows_remaining
        ),
        (first.display().to_string().as_str(), 2),
        "the first file held only hour 0 of each release any more"
    );
    assert_eq!(
        counts(&ws, Counter::Sessions).await["1.1.0"],
        vec![0.0, 2001.0, 2002.0, 2003.0],
        "its hour is gone; the second file's hours stay"
    );

    let (kind, e) = kind_of(
        "removing it twice",
        ws.remove_kpi_imports(APP, PRODUCTION, &Removal::One(first.display().to_string()))
            .await,
    );
    assert_eq!(kind, ErrorKind::NotFound);
    assert!(
        e.to_string().contains("no import of")
            && e.to_string().contains("first.csv")
            && e.to_string().contains("second.csv  (6 of 6 rows remaining"),
        "the error names the file and lists what is imported: {e}"
    );
    let (kind, e) = kind_of(
        "an unknown hash",
        ws.remove_kpi_imports(APP, PRODUCTION, &Removal::One("0123abcd".into()))
            .await,
    );
    assert_eq!(kind, ErrorKind::NotFound, "{e}");

    let sha = airlock_protocol::digest::sha256_hex(&std::fs::read(&second).unwrap());
    let prefix = sha[..8].to_ascii_uppercase();
    let gone = ws
        .remove_kpi_imports(APP, PRODUCTION, &Removal::One(prefix))
        .await
        .unwrap();
    assert_eq!(gone.removed[0].sha256, sha, "named by 8 hex digits");
    assert!(
        counts(&ws, Counter::Sessions).await.is_empty(),
        "nothing imported is left"
    );
    // Removed, the file can be imported again.
    let back = ws
        .import_kpi(&request(&first, Columns::default()))
        .await
        .unwrap();
    assert!(back.added && back.new_rows == 6, "{back:?}");
}

#[tokio::test]
async fn remove_all_takes_out_every_import_of_the_channel_and_nothing_else() {
    let env = env();
    let ws = env.console().await;
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = overlapping(dir.path());
    for f in [&first, &second] {
        ws.import_kpi(&request(f, Columns::default()))
            .await
            .unwrap();
    }
    let staging = export(dir.path(), "staging.csv", &[("1.1.0", 0, 10.0, 0.0)]);
    ws.import_kpi(&ImportRequest {
        channel: STAGING.into(),
        ..request(&staging, Columns::default())
    })
    .await
    .unwrap();

    let gone = ws
        .remove_kpi_imports(APP, PRODUCTION, &Removal::All)
        .await
        .unwrap();
    let files: Vec<(&str, usize)> = gone
        .removed
        .iter()
        .map(|i| (i.file.rsplit('/').next().unwrap(), i.rows_remaining))
        .collect();
    assert_eq!(files, [("first.csv", 2), ("second.csv", 6)]);
    assert!(counts(&ws, Counter::Sessions).await.is_empty());
    assert_eq!(
        ws.registry().kpi_imports(APP, STAGING).await.unwrap().len(),
        1,
        "another channel's import stays"
    );
    let none = ws
        .remove_kpi_imports(APP, PRODUCTION, &Removal::All)
        .await
        .expect("removing all of nothing is not an error");
    assert!(none.removed.is_empty());
}

/// A registry that summed overlapping imports before migration 0012: the migration keeps,
/// per release and bucket, the latest import's row, and sums a file's own repeated rows.
#[tokio::test]
async fn migration_0012_keeps_the_latest_import_of_each_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let before = dir.path().join("migrations");
    std::fs::create_dir(&before).unwrap();
    let all = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for f in std::fs::read_dir(&all).unwrap() {
        let f = f.unwrap();
        if f.file_name().to_string_lossy().as_ref() < "0012" {
            std::fs::copy(f.path(), before.join(f.file_name())).unwrap();
        }
    }
    let db = dir.path().join("airlock.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", db.display()))
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(before.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    for (sha, at) in [
        ("old", "2026-11-02T00:00:00Z"),
        ("new", "2026-11-03T00:00:00Z"),
    ] {
        sqlx::query("INSERT INTO kpi_imports VALUES (?, ?, ?, ?, 1, ?)")
            .bind(sha)
            .bind(format!("{sha}.csv"))
            .bind(APP)
            .bind(PRODUCTION)
            .bind(at)
            .execute(&pool)
            .await
            .unwrap();
    }
    let end = t0().plus_seconds(3600).unix();
    // "new" was stored first but imported later; "old" repeated hour 1 (summed as read).
    for (import, at, value) in [
        ("new", end, 200.0),
        ("old", end, 100.0),
        ("old", end + 3600, 40.0),
        ("old", end + 3600, 2.0),
    ] {
        sqlx::query("INSERT INTO kpi_samples VALUES (?, ?, '1.1.0', 'sessions', ?, ?, ?)")
            .bind(APP)
            .bind(PRODUCTION)
            .bind(at)
            .bind(value)
            .bind(import)
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;

    let registry = Registry::open(&db).await.expect("migration 0012 runs");
    let env = env();
    let ws = env.console_with(None, Some(registry)).await;
    assert_eq!(
        counts(&ws, Counter::Sessions).await["1.1.0"],
        vec![200.0, 42.0, 0.0, 0.0],
        "hour 0 is the later import's alone; hour 1 is what the one file said"
    );
    let remaining: Vec<(String, usize)> = ws
        .registry()
        .kpi_imports(APP, PRODUCTION)
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.sha256, i.rows_remaining))
        .collect();
    assert_eq!(remaining, [("old".to_string(), 1), ("new".to_string(), 1)]);
}
