//! Two consoles — separate registries, one store, one signing key — acting at the same time.
//! Where both cannot succeed (both promote the same release, both expand to the same step,
//! both pause, both revert) exactly one wins and the other is told so with a refusal naming
//! the app; where both can (an approval while the rollout is paused) both land, one after
//! the other. Throughout, the log stays one unbroken chain that a third console can read,
//! and every pointer carries its log's seq.

mod common;

use airlock_core::ops::rollout::ExpandTo;
use airlock_core::{ErrorKind, Result, Workspace};
use common::*;

const ROUNDS: usize = 12;
const DEVICES: usize = 500;

/// Runs `op` on both consoles at once. Both futures are polled on one task, so they
/// interleave at every store access, which is where the race is decided (two OS processes
/// race in cli/tests/cli.rs).
async fn race<'w, T, F, Fut>(a: &'w Workspace, b: &'w Workspace, op: F) -> (Result<T>, Result<T>)
where
    F: Fn(&'w Workspace, &'static str) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    tokio::join!(op(a, "ana"), op(b, "carl"))
}

/// Exactly one of the two succeeded; the other was refused clearly.
fn one_winner<T>(what: &str, round: usize, results: (Result<T>, Result<T>)) -> bool {
    let (a, b) = results;
    let a_won = a.is_ok();
    let loser = match (a, b) {
        (Ok(_), Err(e)) | (Err(e), Ok(_)) => e,
        (Ok(_), Ok(_)) => panic!("round {round}: both consoles' {what} succeeded; one must lose"),
        (Err(a), Err(b)) => panic!("round {round}: both consoles' {what} failed: {a} / {b}"),
    };
    assert!(
        matches!(loser.kind(), ErrorKind::Conflict | ErrorKind::Refused),
        "round {round}: the console that lost the {what} race must be told it lost (conflict \
         or refusal), not {:?}: {loser}",
        loser.kind()
    );
    assert!(
        loser.to_string().contains(APP),
        "round {round}: the loser's message must name the app: {loser}"
    );
    a_won
}

/// Checks the chain as a console with a fresh registry reads it, and returns its length.
async fn assert_chain(env: &Env, when: &str) -> u64 {
    let third = env.console().await;
    let synced = third
        .sync()
        .await
        .expect("a third console reads and checks the whole log");
    let entries = third.history(APP).await.expect("the history reads");
    let seqs: Vec<u64> = entries.iter().map(|e| e.entry.seq).collect();
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(
        seqs, expected,
        "{when}: seqs must run 1, 2, 3… without gaps or repeats"
    );
    for pair in entries.windows(2) {
        assert_eq!(
            pair[1].entry.prev.as_deref(),
            Some(pair[0].hash.as_str()),
            "{when}: each entry must name the hash of the one before"
        );
    }
    assert!(
        synced.iter().all(|s| !s.rebuilt),
        "{when}: a fresh registry has nothing to rebuild"
    );
    for channel in [STAGING, PRODUCTION] {
        assert_pointer_current(third.store().as_ref(), APP, channel, when).await;
    }
    seqs.len() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_consoles_have_one_winner_and_one_unbroken_log() {
    let env = Env::new();
    let a = env.console().await;
    let b = env.console().await;
    ship(&a, "1.0.0").await;
    release(&a, "ana", APP, "1.1.0")
        .await
        .expect("1.1.0 passes the gates");
    b.approve(&by("ben"), APP, "1.1.0", PRODUCTION)
        .await
        .expect("ben approves on console B");
    let mut wins = [0usize; 2];
    let mut entries = assert_chain(&env, "after the set-up").await;

    for round in 0..ROUNDS {
        let promote = race(&a, &b, |ws, actor| async move {
            ws.promote(&by(actor), &promotion("1.1.0", None)).await
        });
        let a_won = one_winner("promotion of 1.1.0", round, promote.await);
        wins[usize::from(!a_won)] += 1;

        let expand = race(&a, &b, |ws, actor| async move {
            ws.expand(&by(actor), APP, PRODUCTION, ExpandTo::Percent(20.0))
                .await
        });
        one_winner("expansion to 20 %", round, expand.await);

        let pause = race(&a, &b, |ws, actor| async move {
            ws.pause(&by(actor), APP, PRODUCTION).await
        });
        one_winner("pause", round, pause.await);

        // Not in each other's way: both land, one re-deciding on the other's entry.
        let (reviewer, ana) = (by(&format!("reviewer-{round}")), by("ana"));
        let (approval, resume) = tokio::join!(
            b.approve(&reviewer, APP, "1.1.0", STAGING),
            a.resume(&ana, APP, PRODUCTION),
        );
        let (approval, resume) = (approval.expect("an approval"), resume.expect("a resume"));
        assert_ne!(
            approval.entry.entry.seq, resume.entry.entry.seq,
            "round {round}: two entries that both landed must have different seqs"
        );

        let revert = race(&a, &b, |ws, actor| async move {
            ws.revert(&by(actor), APP, PRODUCTION).await
        });
        one_winner("revert", round, revert.await);

        let after = assert_chain(&env, &format!("after round {round}")).await;
        assert_eq!(
            after,
            entries + 6,
            "round {round}: six entries landed, one per winner"
        );
        entries = after;
    }

    // Both consoles agree with each other and with what devices see.
    let rows_a = sorted_rows(a.status(APP).await.expect("status on A").releases);
    let rows_b = sorted_rows(b.status(APP).await.expect("status on B").releases);
    assert_eq!(
        rows_a, rows_b,
        "two consoles on one store must show the same statuses"
    );
    let key = a
        .signer()
        .await
        .expect("the key loads")
        .public_key()
        .clone();
    let mut devices = fleet(DEVICES);
    let t = check_fleet(env.store(), PRODUCTION, &key, env.now(), &mut devices).await;
    t.assert_no_refusals("after the races");
    assert_eq!(
        t.running("1.0.0"),
        DEVICES,
        "the last race was a revert: everyone is on 1.0.0"
    );
    println!("promotion races won by A/B: {wins:?}");
}

/// Both consoles see the rollout at 5 % and ask for "the next step" (20 %), saying what they
/// saw (`--expect-percent 5`, as the console and the KPI watcher do). Whether the two really
/// overlap (the loser is retried on fresh state, where "next" would mean 50 %) or one
/// finishes before the other starts, the rollout moves one step and the other is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_expand_next_moves_the_rollout_one_step() {
    let env = Env::new();
    let a = env.console().await;
    let b = env.console().await;
    ship(&a, "1.0.0").await;
    release(&a, "ana", APP, "1.1.0")
        .await
        .expect("1.1.0 passes the gates");
    b.approve(&by("ben"), APP, "1.1.0", PRODUCTION)
        .await
        .expect("ben approves");
    for round in 0..ROUNDS {
        a.promote(&by("ana"), &promotion("1.1.0", None))
            .await
            .expect("a rollout at 5 %");
        // Both consoles have read the rollout at 5 %.
        a.load(APP).await.expect("A reads");
        b.load(APP).await.expect("B reads");
        let expand = race(&a, &b, |ws, actor| async move {
            let saw = by(actor).expecting(airlock_core::Expectation {
                rollout_id: None,
                basis_points: Some(500),
                ..Default::default()
            });
            ws.expand(&saw, APP, PRODUCTION, ExpandTo::Next).await
        });
        let (ra, rb) = expand.await;
        assert!(
            ra.is_ok() != rb.is_ok(),
            "round {round}: exactly one expansion wins (A: {:?}, B: {:?})",
            ra.as_ref().map(|c| c.entry.entry.seq),
            rb.as_ref().map(|c| c.entry.entry.seq)
        );
        let state = a.load(APP).await.expect("the state loads");
        let bp = state.channel(PRODUCTION).rollout.map(|r| r.basis_points);
        assert_eq!(
            bp,
            Some(2000),
            "round {round}: two operators who each saw 5 % and asked for the next step must \
             not move the rollout to {bp:?} basis points (A: {:?}, B: {:?})",
            ra.map(|c| c.entry.entry.seq),
            rb.map(|c| c.entry.entry.seq)
        );
        a.revert(&by("ana"), APP, PRODUCTION)
            .await
            .expect("the rollout is reverted");
    }
}

/// Whether a value's type is `Send`, decided at compile time but reported at run time (autoref
/// specialisation), so a missing `Send` shows up as a failing test instead of a broken build.
struct SendProbe<'a, T>(std::marker::PhantomData<&'a T>);

fn probe<T>(_: &T) -> SendProbe<'_, T> {
    SendProbe(std::marker::PhantomData)
}

trait IsSend {
    fn is_send(&self) -> bool {
        true
    }
}

impl<T: Send> IsSend for SendProbe<'_, T> {}

trait NotSend {
    fn is_send(&self) -> bool {
        false
    }
}

impl<T> NotSend for &SendProbe<'_, T> {}

macro_rules! is_send {
    ($value:expr) => {
        (&probe(&$value)).is_send()
    };
}

/// A desktop shell runs each command on a multi-threaded runtime (`tokio::spawn`, async Tauri
/// commands), which needs `Send` futures. The probe itself is checked on known types first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_can_run_on_a_spawned_task() {
    assert!(
        is_send!(async { 1 }),
        "the probe must recognise a Send future"
    );
    assert!(
        !is_send!(std::rc::Rc::new(1)),
        "the probe must recognise a type that is not Send"
    );
    let env = Env::new();
    let ws = env.console().await;
    let ana = by("ana");
    let request = promotion("1.0.0", None);
    let not_send: Vec<&str> = [
        ("load", is_send!(ws.load(APP))),
        ("sync", is_send!(ws.sync())),
        ("status", is_send!(ws.status(APP))),
        ("release", is_send!(release(&ws, "ana", APP, "1.0.0"))),
        (
            "approve",
            is_send!(ws.approve(&ana, APP, "1.0.0", PRODUCTION)),
        ),
        ("promote", is_send!(ws.promote(&ana, &request))),
        (
            "expand",
            is_send!(ws.expand(&ana, APP, PRODUCTION, ExpandTo::Next)),
        ),
        (
            "rollback",
            is_send!(ws.rollback(&ana, APP, PRODUCTION, None)),
        ),
        ("gc", is_send!(ws.gc(true))),
    ]
    .into_iter()
    .filter(|(_, send)| !send)
    .map(|(name, _)| name)
    .collect();
    assert!(
        not_send.is_empty(),
        "these operations cannot be spawned (not Send): {not_send:?}"
    );
}
