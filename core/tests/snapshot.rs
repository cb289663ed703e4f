//! The registry's snapshot of each app's folded state (`app_states`, migration 0006): a
//! command or a sync folds only the entries the store has beyond it, the snapshot agrees with
//! a fold of the whole log, it is dropped when the policy it was checked under changes, and
//! `sync --full` still checks every entry from seq 1.

mod common;

use airlock_core::ErrorKind;
use airlock_core::config::ChannelConfig;
use airlock_core::ops::sync::SyncDepth;
use airlock_core::registry::Registry;
use airlock_protocol::layout;
use common::*;
use std::path::Path;

async fn file_registry(path: &Path) -> Registry {
    Registry::open(path).await.expect("a registry file opens")
}

/// A raw connection to the registry file, to damage what a test must prove is not read.
async fn raw(path: &Path) -> sqlx::SqlitePool {
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(path))
        .await
        .expect("the registry file opens")
}

/// A console with its registry in a file (so a test can reach it), whose rollout at 5 % was
/// paused and resumed.
async fn paused_and_resumed_on_a_registry_file(
    env: &Env,
) -> (airlock_core::Workspace, std::path::PathBuf) {
    let db = env.work.path().join("a.db");
    let ws = env.console_with(None, Some(file_registry(&db).await)).await;
    rolling_out_at_5_percent(&ws).await;
    ws.pause(&by("ana"), APP, PRODUCTION).await.expect("paused");
    ws.resume(&by("ana"), APP, PRODUCTION)
        .await
        .expect("resumed");
    (ws, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_folds_from_the_snapshot_and_it_agrees_with_a_whole_fold() {
    let env = Env::new();
    let (ws, db) = paused_and_resumed_on_a_registry_file(&env).await;
    let mine = ws.load(APP).await.expect("loads");

    let fresh = env.console().await;
    fresh
        .sync_with(SyncDepth::Full)
        .await
        .expect("a fresh console reads the whole log");
    let whole = fresh.load(APP).await.expect("loads");
    assert_eq!(mine, whole, "the snapshot is the fold of the whole log");

    let pool = raw(&db).await;
    // A registry without a snapshot (one from before them) gets one on its first load.
    sqlx::query("DELETE FROM app_states WHERE app = ?")
        .bind(APP)
        .execute(&pool)
        .await
        .expect("snapshot dropped");
    assert_eq!(ws.load(APP).await.expect("folds the entries"), mine);
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM app_states WHERE app = ?")
        .bind(APP)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(kept, 1, "the fold is kept as the new snapshot");
    // Damage every recorded entry but the newest: a load that folded the registry's
    // entries could not read them, one that starts from the snapshot never does.
    let head = mine.head.as_ref().expect("a head").seq as i64;
    sqlx::query("UPDATE events SET body = x'00' WHERE app = ? AND seq < ?")
        .bind(APP)
        .bind(head)
        .execute(&pool)
        .await
        .expect("damaged");
    let again = ws.load(APP).await.expect("the snapshot is enough");
    assert_eq!(again, mine);
    release(&ws, "ana", APP, "1.2.0")
        .await
        .expect("a command folds only the new entry onto the snapshot");

    // Without the snapshot the registry's entries are folded, and the damage shows.
    sqlx::query("DELETE FROM app_states WHERE app = ?")
        .bind(APP)
        .execute(&pool)
        .await
        .expect("snapshot dropped");
    let (kind, _) = kind_of("a fold of damaged entries", ws.load(APP).await);
    assert_ne!(kind, ErrorKind::Refused, "the damaged entries were read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_checked_under_other_protection_is_folded_again() {
    let env = Env::with_config(|c| {
        c.channels.insert(
            "Dev".into(),
            ChannelConfig {
                protected: false,
                ..c.channels[STAGING].clone()
            },
        );
    });
    let db = env.work.path().join("a.db");
    let ws = env.console_with(None, Some(file_registry(&db).await)).await;
    ship(&ws, "1.0.0").await;
    drop(ws);

    // The same registry read by a workspace whose airlock.toml protects Staging: releases
    // straight into Staging now break a rule, so the log must be refused as it would be on
    // a fresh registry, not accepted from a snapshot checked under the old settings.
    let mut strict = env.config.clone();
    strict
        .channels
        .get_mut(STAGING)
        .expect("Staging is configured")
        .protected = true;
    let strict_env = Env {
        config: strict,
        ..env
    };
    let ws = strict_env
        .console_with(None, Some(file_registry(&db).await))
        .await;
    let (kind, e) = kind_of("a log that breaks today's protection", ws.load(APP).await);
    assert_eq!(kind, ErrorKind::Integrity, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_reads_only_new_entries_and_sync_full_finds_an_entry_changed_behind_it() {
    let env = Env::new();
    let ws = env.console().await;
    ship(&ws, "1.0.0").await;
    release(&ws, "ana", APP, "1.1.0").await.expect("released");
    let other = env.console().await;
    let first = other.sync().await.expect("a first sync reads everything");
    assert_eq!(first[0].new_entries, first[0].entries);

    // The first entry is replaced in the store by a copy of the second (a bad restore).
    let log = env.store_dir.path();
    let one = log.join(layout::log_key(APP, 1));
    std::fs::copy(log.join(layout::log_key(APP, 2)), &one).expect("replaced");

    let quick = other.sync().await.expect("a sync reads what is new");
    assert_eq!(
        (quick[0].new_entries, quick[0].rebuilt),
        (0, false),
        "{quick:?}"
    );
    let (kind, e) = kind_of(
        "a full sync over a changed entry",
        other.sync_with(SyncDepth::Full).await,
    );
    assert_eq!(kind, ErrorKind::Integrity, "{e}");
    assert!(e.to_string().contains("seq"), "{e}");
}

/// Every projection table of `app`, row by row, as text.
async fn projection(pool: &sqlx::SqlitePool) -> Vec<String> {
    let mut out = Vec::new();
    for (table, order) in [
        ("releases", "version"),
        ("release_channels", "version, channel"),
        ("channels", "channel"),
        ("approvals", "version, channel, actor"),
        ("rejections", "seq"),
    ] {
        let columns: Vec<(String,)> =
            sqlx::query_as(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .fetch_all(pool)
                .await
                .expect("columns");
        let row = columns
            .iter()
            .map(|(c,)| format!("quote({c})"))
            .collect::<Vec<_>>()
            .join(" || ',' || ");
        let rows: Vec<(String,)> = sqlx::query_as(&format!(
            "SELECT {row} FROM {table} WHERE app = ? ORDER BY {order}"
        ))
        .bind(APP)
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("{table}: {e}"));
        out.extend(rows.into_iter().map(|(r,)| format!("{table} {r}")));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projection_moved_row_by_row_equals_one_written_whole() {
    let env = Env::new();
    let (ws, db) = paused_and_resumed_on_a_registry_file(&env).await;
    ws.revert(&by("ana"), APP, PRODUCTION)
        .await
        .expect("reverted");
    release(&ws, "ana", APP, "1.2.0").await.expect("released");
    let no = airlock_core::Attribution::new("ben", Some("crashes on launch")).unwrap();
    ws.reject(&no, APP, "1.2.0", PRODUCTION)
        .await
        .expect("rejected");
    ws.approve(&by("cleo"), APP, "1.2.0", PRODUCTION)
        .await
        .expect("approved after all");
    ws.promote(&by("ana"), &promotion("1.2.0", Some(100.0)))
        .await
        .expect("promoted to everyone");
    let why = airlock_core::Attribution::new("ana", Some("bad build")).unwrap();
    ws.rollback(&why, APP, PRODUCTION, None)
        .await
        .expect("rolled back (which quarantines 1.2.0)");
    release(&ws, "ana", APP, "1.3.0").await.expect("released");

    // A second registry written whole, in one first sync.
    let db2 = env.work.path().join("b.db");
    let fresh = env
        .console_with(None, Some(file_registry(&db2).await))
        .await;
    fresh.sync().await.expect("a first sync");
    let (moved, whole) = (
        projection(&raw(&db).await).await,
        projection(&raw(&db2).await).await,
    );
    assert!(moved.len() > 10, "{moved:#?}");
    assert_eq!(moved, whole, "step by step and all at once agree");
}
