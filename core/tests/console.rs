//! What core gives the console, on the demo workspace made by `demo::create`: the demo's
//! stages, a release page, the rollout chart, typed actions previewed, performed and read
//! back from the store.

use airlock_core::keychain::MemoryKeychain;
use airlock_core::ops::action::Action;
use airlock_core::progress::{ProgressEvent, Task, reporting};
use airlock_core::{Attribution, ErrorKind, Services, Workspace};
use std::sync::Arc;

async fn demo() -> (tempfile::TempDir, Workspace, Arc<MemoryKeychain>) {
    let dir = tempfile::tempdir().unwrap();
    let keychain = Arc::new(MemoryKeychain::default());
    let services = || Services {
        keychain: Some(keychain.clone()),
        ..Services::default()
    };
    let demo = airlock_core::demo::create(dir.path(), services())
        .await
        .unwrap();
    let ws = Workspace::open(&demo.workspace, services()).await.unwrap();
    (dir, ws, keychain)
}

#[tokio::test]
async fn the_demo_stands_at_its_stages() {
    let (_dir, ws, _) = demo().await;
    let apps = ws.overview().await.unwrap();
    let checkout = apps.iter().find(|a| a.app == "checkout").unwrap();
    let prod = checkout
        .channels
        .iter()
        .find(|c| c.channel == "Production")
        .unwrap();
    assert_eq!(prod.current.as_deref(), Some("1.1.0"));
    let r = prod.rollout.as_ref().expect("1.2.0 rolls out");
    assert_eq!((r.version.as_str(), r.basis_points), ("1.2.0", 2000));
    assert_eq!(
        (r.step, r.steps),
        (Some(2), Some(4)),
        "step 2 of the 4-step plan"
    );
    assert_eq!(prod.rollback_target.as_deref(), Some("1.0.0"));
    let loyalty = apps.iter().find(|a| a.app == "loyalty").unwrap();
    assert_eq!(loyalty.pending_approvals[0].version, "2.1.0");

    let d = ws.release_detail("checkout", "1.2.0", None).await.unwrap();
    let diff = d.diff.expect("compared with Production's current");
    assert_eq!(diff.from, "1.1.0");
    assert_eq!((diff.added, diff.removed), (0, 0));
    assert!(diff.changed >= 2 && diff.download_bytes > 0, "{diff:?}");
    assert_eq!(d.description, "New address form");
    assert_eq!(d.signatures.len(), 1);
    assert!(
        d.timeline
            .iter()
            .any(|e| e.kind == "approved" && e.actor == "sam")
    );
    // A second read is served from the registry's cache and says the same.
    assert_eq!(
        ws.release_detail("checkout", "1.2.0", None)
            .await
            .unwrap()
            .biggest,
        d.biggest
    );

    let chart = ws.rollout_chart("checkout", "Production").await.unwrap();
    let shares: Vec<u32> = chart.points.iter().map(|p| p.basis_points).collect();
    assert_eq!(
        shares,
        [10_000, 10_000, 500, 2000],
        "1.0.0, 1.1.0 at 100 %, then 1.2.0"
    );
    assert!(chart.svg.contains("1.2.0"));
}

#[tokio::test]
async fn an_action_is_previewed_performed_and_read_back() {
    let (_dir, ws, _) = demo().await;
    let alex = Attribution::new("alex", None).unwrap();
    let expand = Action::Expand {
        app: "checkout".into(),
        channel: "Production".into(),
        percent: None,
    };
    let preview = ws.preview_action(&alex, &expand).await.unwrap();
    assert!(
        preview.summary[0].starts_with("About 50 % of Production devices will run 1.2.0"),
        "{:?}",
        preview.summary
    );
    let head = ws.overview().await.unwrap()[0].head_seq;
    assert_eq!(
        head,
        ws.overview().await.unwrap()[0].head_seq,
        "a preview writes nothing"
    );
    let done = ws.perform(&alex, &expand).await.unwrap();
    let outcome = ws.outcome(&done).await.unwrap();
    let seen = &outcome.devices_see[0];
    assert_eq!(seen.rollout.as_ref().unwrap().basis_points, 5000);
    assert_eq!(seen.current.as_deref(), Some("1.1.0"));
    assert!(
        seen.problem.is_none(),
        "devices accept the pointer: {seen:?}"
    );

    let rollback = Action::Rollback {
        app: "checkout".into(),
        channel: "Production".into(),
        to: None,
    };
    let e = ws.perform(&alex, &rollback).await.unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::InvalidInput,
        "a rollback needs a reason: {e}"
    );
    let sam = Attribution::new("sam", None).unwrap();
    let own = Action::Approve {
        app: "loyalty".into(),
        version: "2.1.0".into(),
        channel: "Production".into(),
    };
    assert!(
        ws.preview_action(&sam, &own).await.is_ok(),
        "sam may approve alex's release"
    );
    let e = ws.perform(&alex, &own).await.unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::Refused,
        "alex may not approve his own: {e}"
    );
}

/// Collects what an operation reports through the `reporting` scope.
fn collector() -> (
    Arc<dyn airlock_core::progress::Progress>,
    Arc<std::sync::Mutex<Vec<ProgressEvent>>>,
) {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = {
        let seen = seen.clone();
        move |e: ProgressEvent| seen.lock().unwrap().push(e)
    };
    (Arc::new(sink), seen)
}

#[tokio::test]
async fn a_rollback_reports_its_check_its_commit_then_its_pointer() {
    let (dir, ws, keychain) = demo().await;
    let alex = Attribution::new("alex", Some("checkout crashes on launch")).unwrap();
    let rollback = Action::Rollback {
        app: "checkout".into(),
        channel: "Production".into(),
        to: None,
    };
    let (sink, seen) = collector();
    let done = reporting(sink, ws.perform(&alex, &rollback)).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    let at = |what: &dyn Fn(&ProgressEvent) -> bool| {
        seen.iter()
            .position(what)
            .unwrap_or_else(|| panic!("missing from {seen:#?}"))
    };
    let checked = at(&|e| {
        matches!(e, ProgressEvent::Counting { task: Task::Checking, subject, done, total }
            if subject.starts_with("checkout 1.0.0") && done == total)
    });
    let committed = at(&|e| {
        *e == ProgressEvent::Committed {
            app: "checkout".into(),
            seq: done.entry.entry.seq,
        }
    });
    let pointer = at(
        &|e| matches!(e, ProgressEvent::Step { name } if name.starts_with("writing the Production pointer")),
    );
    assert!(
        checked < committed && committed < pointer,
        "the target is checked before the commit, the pointer written after: {seen:#?}"
    );

    // A second desktop's sync reports the entries it reads, app by app.
    let other = dir.path().join("desktop-b");
    std::fs::create_dir_all(&other).unwrap();
    let toml = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("airlock.toml"))
        .find(|p| p.exists())
        .expect("the demo workspace's airlock.toml");
    std::fs::copy(toml, other.join("airlock.toml")).unwrap();
    let b = Workspace::open(
        &other,
        Services {
            keychain: Some(keychain.clone()),
            ..Services::default()
        },
    )
    .await
    .unwrap();
    let (sink, seen) = collector();
    reporting(sink, b.sync()).await.unwrap();
    let head = ws.load("checkout").await.unwrap().head.unwrap().seq;
    assert!(
        seen.lock().unwrap().iter().any(|e| *e
            == ProgressEvent::Counting {
                task: Task::Reading,
                subject: "checkout".into(),
                done: head,
                total: head,
            }),
        "{:#?}",
        seen.lock().unwrap()
    );
}

/// The demo carries a fleet's numbers (CDN logs and a crash-tool export, read in when it was
/// made), so its gate has something to judge without a Prometheus: 1.2.0 is shown safe at
/// 20 %, and a pass of the loop expands it.
#[tokio::test]
async fn the_demo_s_gate_judges_checkout_on_its_fleet_s_numbers() {
    use airlock_core::kpi::judge::Outcome;
    use airlock_core::ops::analyze::AnalyzeRequest;
    use airlock_core::ops::watch::WatchAction;
    let (_dir, ws, _) = demo().await;
    let source = ws
        .kpi_source()
        .await
        .expect("the demo's samples are a source");
    let req = AnalyzeRequest {
        app: "checkout".into(),
        channel: "Production".into(),
        ..AnalyzeRequest::default()
    };
    let v = ws.analyze(&req, source.as_ref()).await.unwrap();
    assert_eq!(v.verdict, Outcome::Pass, "{v:#?}");
    assert_eq!(v.kpis.len(), 2, "crash-free sessions and JS errors");
    let r = ws
        .watch_once("alex", source.as_ref(), None, None)
        .await
        .unwrap();
    let checkout = r.iter().find(|x| x.app == "checkout").expect("judged");
    assert_eq!(checkout.action, WatchAction::Expanded, "{r:?}");
}
