//! The console's reads (core/src/views.rs): the overview, an app's releases and the event log
//! a page at a time, all from the registry — shown here by taking the store away first.

mod common;

use airlock_core::ops::rollout::ExpandTo;
use airlock_core::views::LogQuery;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screens_read_the_registry_without_the_store() {
    let env = Env::new();
    let ws = env.console().await;
    ship(&ws, "1.0.0").await;
    ship(&ws, "1.1.0").await;
    release(&ws, "ana", APP, "1.2.0").await.unwrap();
    ws.approve(&by("ben"), APP, "1.2.0", PRODUCTION)
        .await
        .unwrap();
    ws.promote(&by("ana"), &promotion("1.2.0", None))
        .await
        .unwrap();
    env.clock.advance(600);
    let expanded = ws
        .expand(&by("ana"), APP, PRODUCTION, ExpandTo::Next)
        .await
        .unwrap();
    release(&ws, "ana", APP, "1.3.0").await.unwrap();

    // Take the store away: nothing below may read it.
    let gone = env.store_dir.path().with_extension("gone");
    std::fs::rename(env.store_dir.path(), &gone).unwrap();

    let overview = ws
        .overview()
        .await
        .expect("the overview reads the registry only");
    assert_eq!(overview.len(), 1);
    let app = &overview[0];
    assert_eq!(app.head_seq, expanded.entry.entry.seq + 1);
    let production = app
        .channels
        .iter()
        .find(|c| c.channel == PRODUCTION)
        .expect("Production is listed");
    assert!(production.protected);
    assert_eq!(production.current.as_deref(), Some("1.1.0"));
    assert_eq!(production.rollback_target.as_deref(), Some("1.0.0"));
    let rollout = production.rollout.as_ref().expect("a rollout in progress");
    assert_eq!(
        (
            rollout.version.as_str(),
            rollout.basis_points,
            rollout.step,
            rollout.steps
        ),
        ("1.2.0", 2000, Some(2), Some(4)),
        "step 2 of 4: {rollout:?}"
    );
    assert_eq!(rollout.step_started_seq, Some(expanded.entry.entry.seq));
    assert_eq!(
        rollout.step_started_at.as_deref(),
        Some(expanded.entry.entry.at.to_string().as_str())
    );
    let staging = app.channels.iter().find(|c| c.channel == STAGING).unwrap();
    assert_eq!(staging.current.as_deref(), Some("1.3.0"));
    assert!(staging.rollout.is_none() && !staging.protected);
    assert_eq!(
        app.pending_approvals
            .iter()
            .map(|p| (p.version.as_str(), p.channel.as_str(), p.author.as_str()))
            .collect::<Vec<_>>(),
        vec![("1.3.0", PRODUCTION, "ana")],
        "only 1.3.0 waits: 1.2.0 is approved and rolling out"
    );

    let releases = ws.releases_view(APP).await.unwrap();
    let versions: Vec<&str> = releases.iter().map(|r| r.version.as_str()).collect();
    assert_eq!(
        versions,
        ["1.3.0", "1.2.0", "1.1.0", "1.0.0"],
        "newest first"
    );
    let r12 = &releases[1];
    assert_eq!(r12.author, "ana");
    assert_eq!(r12.approvals.len(), 1);
    assert_eq!(r12.approvals[0].actor, "ben");
    assert!(
        r12.channels
            .iter()
            .any(|c| c.channel == PRODUCTION && c.status == "rolling-out"),
        "{:?}",
        r12.channels
    );

    // The log, three at a time, newest first.
    let first = ws
        .log_page(
            APP,
            &LogQuery {
                limit: Some(3),
                ..LogQuery::default()
            },
        )
        .await
        .unwrap();
    let seqs: Vec<u64> = first.entries.iter().map(|e| e.seq).collect();
    let head = app.head_seq;
    assert_eq!(seqs, [head, head - 1, head - 2]);
    assert_eq!(first.next_before, Some(head - 2));
    let mut all = first.entries.clone();
    let mut before = first.next_before;
    while let Some(b) = before {
        let page = ws
            .log_page(
                APP,
                &LogQuery {
                    before_seq: Some(b),
                    limit: Some(3),
                    ..LogQuery::default()
                },
            )
            .await
            .unwrap();
        all.extend(page.entries);
        before = page.next_before;
    }
    assert_eq!(all.len() as u64, head, "the pages cover the whole log once");
    let approvals = ws
        .log_page(
            APP,
            &LogQuery {
                kinds: vec!["approved".into()],
                actor: Some("ben".into()),
                ..LogQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        approvals
            .entries
            .iter()
            .map(|e| e.version.as_deref())
            .collect::<Vec<_>>(),
        [Some("1.2.0"), Some("1.1.0"), Some("1.0.0")]
    );
    let about_120 = ws
        .log_page(
            APP,
            &LogQuery {
                version: Some("1.2.0".into()),
                ..LogQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        about_120
            .entries
            .iter()
            .map(|e| e.kind.as_str())
            .collect::<Vec<_>>(),
        ["expanded", "promoted", "approved", "released"]
    );
    std::fs::rename(&gone, env.store_dir.path()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_announced_typed_including_a_teammates_actions() {
    use airlock_core::log::entry::EventKind;
    use airlock_core::workspace::ChangeKind;
    let env = Env::new();
    let mine = env.console().await;
    let theirs = env.console().await;
    let mut changes = mine.subscribe();
    release(&mine, "ana", APP, "1.0.0").await.unwrap();
    release(&theirs, "ben", APP, "1.1.0").await.unwrap();
    mine.load(APP).await.unwrap();
    let mut seen = Vec::new();
    while let Ok(c) = changes.try_recv() {
        seen.push(c);
    }
    let entries: Vec<_> = seen
        .iter()
        .filter_map(|c| match &c.kind {
            ChangeKind::Entry { event, found } => {
                Some((c.seq, *event, *found, c.actor.clone(), c.channel.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        entries,
        vec![
            (
                Some(1),
                EventKind::Released,
                false,
                Some("ana".into()),
                Some(STAGING.into())
            ),
            (
                Some(2),
                EventKind::Released,
                true,
                Some("ben".into()),
                Some(STAGING.into())
            ),
        ],
        "my entry, then the teammate's found in the store: {seen:?}"
    );
    assert!(
        seen.iter().any(|c| c.kind == ChangeKind::PointerPublished
            && c.seq == Some(1)
            && c.channel.as_deref() == Some(STAGING)),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previews_say_what_devices_would_see_and_write_nothing() {
    use airlock_core::ErrorKind;
    let env = Env::new();
    let ws = env.console().await;
    ship(&ws, "1.0.0").await;
    release(&ws, "ana", APP, "1.1.0").await.unwrap();
    let (kind, _) = kind_of(
        "previewing an unapproved promotion",
        ws.preview_promote(&by("ana"), &promotion("1.1.0", None))
            .await,
    );
    assert_eq!(
        kind,
        ErrorKind::ApprovalMissing,
        "the same rules as the promotion"
    );
    ws.approve(&by("ben"), APP, "1.1.0", PRODUCTION)
        .await
        .unwrap();
    let files = env.store_files();
    let head = ws.load(APP).await.unwrap().head.unwrap().seq;

    let promote = ws
        .preview_promote(&by("ana"), &promotion("1.1.0", None))
        .await
        .unwrap();
    assert_eq!(promote.entry.seq, head + 1);
    assert_eq!(
        promote.summary,
        ["About 5 % of Production devices will receive 1.1.0; 1.0.0 stays current for the rest."]
    );
    assert_eq!(env.store_files(), files, "a preview writes nothing");
    assert_eq!(ws.load(APP).await.unwrap().head.unwrap().seq, head);

    ws.promote(&by("ana"), &promotion("1.1.0", None))
        .await
        .unwrap();
    let expand = ws
        .preview_expand(&by("ana"), APP, PRODUCTION, ExpandTo::Next)
        .await
        .unwrap();
    assert_eq!(
        expand.summary,
        [
            "About 20 % of Production devices will run 1.1.0; the 5 % who already have it keep \
          it. 1.0.0 stays current for the rest."
        ]
    );
    let revert = ws
        .preview_revert(&by("ana"), APP, PRODUCTION)
        .await
        .unwrap();
    assert_eq!(
        revert.summary,
        ["The rollout of 1.1.0 in Production ends: the 5 % who had it go back to 1.0.0."]
    );
    let full = ws
        .preview_expand(&by("ana"), APP, PRODUCTION, ExpandTo::Percent(100.0))
        .await
        .unwrap();
    assert_eq!(
        full.summary,
        [
            "1.1.0 becomes current in Production: every device will run it (the 5 % who have it \
          keep it)."
        ]
    );
    ws.expand(&by("ana"), APP, PRODUCTION, ExpandTo::Percent(100.0))
        .await
        .unwrap();
    let rollback = ws
        .preview_rollback(&by("ana"), APP, PRODUCTION, None)
        .await
        .unwrap();
    assert_eq!(
        rollback.summary,
        [
            "Every Production device will run 1.0.0 instead of 1.1.0.",
            // Staging serves the bad release too: the quarantine withdraws it there.
            "Every Staging device will run 1.0.0 instead of 1.1.0.",
            "1.1.0 is quarantined: it is never served again, in any channel."
        ]
    );
    assert_eq!(rollback.channels[0].after.current.as_deref(), Some("1.0.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_says_when_a_pointer_expires_or_lags() {
    let env = Env::new();
    let ws = env.console().await;
    ship(&ws, "1.0.0").await;
    let channel = |apps: &[airlock_core::views::AppOverview]| {
        apps[0]
            .channels
            .iter()
            .find(|c| c.channel == PRODUCTION)
            .cloned()
            .expect("Production is on the overview")
    };
    let prod = channel(&ws.overview().await.unwrap());
    let seen = prod
        .pointer
        .clone()
        .expect("the pointer this desktop wrote");
    assert_eq!(Some(seen.seq), prod.served_seq);
    assert!(
        !seen.lagging && !seen.expires_soon && !seen.expired,
        "{seen:?}"
    );

    // Close to its expiry, then past it: said from the registry, no store read.
    let expires = airlock_protocol::time::Timestamp::parse(&seen.expires_at).unwrap();
    env.clock.advance(expires.unix() - env.now().unix() - 3600);
    let soon = channel(&ws.overview().await.unwrap()).pointer.unwrap();
    assert!(soon.expires_soon && !soon.expired, "{soon:?}");
    env.clock.advance(7200);
    assert!(
        channel(&ws.overview().await.unwrap())
            .pointer
            .unwrap()
            .expired
    );

    // A second desktop that has only synced knows the pointer too; one whose newest noted
    // pointer is older than the log says it lags.
    let other = env.console().await;
    other.sync().await.unwrap();
    let theirs = channel(&other.overview().await.unwrap());
    assert_eq!(theirs.pointer.map(|p| p.seq), prod.served_seq);
    release(&ws, "ana", APP, "1.1.0").await.unwrap();
    ws.approve(&by("ben"), APP, "1.1.0", PRODUCTION)
        .await
        .unwrap();
    ws.promote(&by("ana"), &promotion("1.1.0", None))
        .await
        .unwrap();
    // The other desktop reads the new entries, not the pointer: the one it noted is older.
    other.load(APP).await.unwrap();
    let lag = channel(&other.overview().await.unwrap());
    assert!(
        lag.pointer.unwrap().lagging,
        "the log moved past the pointer this desktop last saw"
    );
}
