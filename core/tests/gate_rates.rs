//! The gate's error rates, as rates: seeded Monte-Carlo rollouts (kpi/rollouts.rs: a fleet
//! that is not the judge's model, followed step by step from 5 % as the watcher follows it)
//! judged by the real judge, each test failing when the rate of a wrong decision moves
//! beyond its bound. Crash-free sessions and install time are in force here (the benchmark,
//! bench/gate.sh, runs all ten at four traffic levels and 300–600 rollouts a row); the
//! bounds are the targets of docs/KPIS.md with room for the few rollouts a test can afford:
//! with 80 rollouts, 3 or more wrong decisions happen with a chance below 5 % if the true
//! rate is at most 1 %, and 8 or more below 5 % if it is at most 5 %.

use airlock_core::kpi::policy::{GatePolicy, KpiSettings};
use airlock_core::kpi::rollouts::{self, Adversary, End, Fleet, Ran};

const ROLLOUTS: u64 = 80;

fn policy() -> GatePolicy {
    KpiSettings {
        kpis: Some(vec!["crash-free".into(), "install-time".into()]),
        ..KpiSettings::default()
    }
    .policy("Production")
    .unwrap()
}

fn fleet(candidate_per_hour: f64, worse: f64, adversary: Adversary) -> Fleet {
    Fleet {
        candidate_per_hour,
        worse,
        adversary,
        horizon_hours: 12.0,
        look_bins: 3,
    }
}

fn runs(f: &Fleet, salt: u64) -> Vec<Ran> {
    let policy = policy();
    (0..ROLLOUTS)
        .map(|seed| rollouts::run(f, &policy, seed * 1_000 + salt))
        .collect()
}

fn count(ran: &[Ran], end: End) -> usize {
    ran.iter().filter(|r| r.end == end).count()
}

#[test]
fn a_healthy_release_at_the_edge_of_its_boundary_is_rarely_stopped() {
    let edge = rollouts::crash_boundary(&policy());
    assert!((edge - 4.0 / 3.0).abs() < 1e-9, "0.3 % + 0.1 point: {edge}");
    let ran = runs(&fleet(10_000.0, edge, Adversary::default()), 1);
    let stopped = count(&ran, End::Stopped);
    assert!(
        stopped <= 2,
        "{stopped} of {ROLLOUTS} rollouts exactly at the boundary were stopped (target: 1 %)"
    );
}

#[test]
fn a_release_beyond_its_boundary_is_rarely_passed() {
    // 1.5× against a boundary of 1.33×, where the traffic lets the gate decide.
    let ran = runs(&fleet(50_000.0, 1.5, Adversary::default()), 2);
    let passed = count(&ran, End::Passed);
    assert!(
        passed <= 7,
        "{passed} of {ROLLOUTS} rollouts of a 1.5× worse release reached 100 % (target: 5 %)"
    );
    assert!(
        count(&ran, End::Stopped) >= ROLLOUTS as usize / 2,
        "at 50,000 sessions an hour most must be stopped within 12 h: {:?}",
        ran.iter().map(|r| r.end).collect::<Vec<_>>()
    );
}

#[test]
fn ten_times_worse_is_stopped_within_the_first_hour() {
    let ran = runs(&fleet(10_000.0, 10.0, Adversary::default()), 3);
    let early = ran
        .iter()
        .filter(|r| r.end == End::Stopped && r.step == 0 && r.hours <= 1.0)
        .count();
    assert!(
        early >= ROLLOUTS as usize * 95 / 100,
        "only {early} of {ROLLOUTS} tenfold regressions stopped within the first hour"
    );
}

#[test]
fn a_healthy_release_passes_where_the_traffic_allows() {
    let ran = runs(&fleet(50_000.0, 1.0, Adversary::default()), 4);
    let passed = count(&ran, End::Passed);
    assert!(
        passed >= ROLLOUTS as usize * 9 / 10,
        "{passed} of {ROLLOUTS} healthy rollouts at 50,000 sessions an hour reached 100 % in 12 h"
    );
    assert_eq!(count(&ran, End::Stopped), 0);
}

#[test]
fn a_crash_looping_device_does_not_revert_a_healthy_cohort() {
    let looping = Adversary {
        crash_loop: 20,
        ..Adversary::default()
    };
    let ran = runs(&fleet(10_000.0, 1.0, looping), 5);
    let stopped = count(&ran, End::Stopped);
    assert!(
        stopped <= 2,
        "{stopped} of {ROLLOUTS} healthy rollouts with one crash-looping device were stopped"
    );
}

#[test]
fn overdispersed_counts_keep_the_false_stop_budget() {
    let clustered = Adversary {
        phi: 3.0,
        ..Adversary::default()
    };
    let ran = runs(&fleet(10_000.0, 1.0, clustered), 6);
    let stopped = count(&ran, End::Stopped);
    assert!(
        stopped <= 2,
        "{stopped} of {ROLLOUTS} healthy rollouts with counts three times as variable as Poisson were stopped"
    );
}

#[test]
fn the_issue_s_crash_loop_at_500_sessions_an_hour_does_not_revert_under_the_contract() {
    // One device crash-looping ten times in an hour of a healthy 5 % cohort at 500 sessions
    // an hour. Within that hour its sessions are indistinguishable from a sevenfold
    // regression; what keeps it from reverting is the telemetry contract's cap (one crashed
    // session per device and hour, docs/KPIS.md). Uncapped, the dispersion factor only sees
    // it once later hours disagree: the benchmark measures that case.
    let looping = Adversary {
        crash_loop: 10,
        capped: true,
        ..Adversary::default()
    };
    let ran = runs(&fleet(500.0, 1.0, looping), 7);
    let stopped = count(&ran, End::Stopped);
    assert!(
        stopped <= 2,
        "{stopped} of {ROLLOUTS} healthy rollouts at 500 sessions an hour with one crash-looping device were stopped: {:?}",
        ran.iter()
            .filter(|r| r.end == End::Stopped)
            .map(|r| &r.reason)
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_fleet_wide_outage_at_the_50_percent_step_does_not_stop_a_healthy_release() {
    // Both cohorts crash ten times as often for the first hour at 50 %: half the
    // candidate's exposure then, a small part of the baseline's over the rollout. Compared
    // bin by bin and against the baseline's rate over the candidate's hours, it cancels.
    let spike = Adversary {
        spike_at_half: 10.0,
        ..Adversary::default()
    };
    let f = Fleet {
        horizon_hours: 24.0,
        ..fleet(50_000.0, 1.0, spike)
    };
    let ran = runs(&f, 8);
    let reached_half = ran.iter().filter(|r| r.step >= 2).count();
    assert!(
        reached_half >= ROLLOUTS as usize / 2,
        "most rollouts must reach the 50 % step for the test to mean anything: {reached_half}"
    );
    let stopped: Vec<&Ran> = ran.iter().filter(|r| r.end == End::Stopped).collect();
    assert!(
        stopped.len() <= 2,
        "{} of {ROLLOUTS} healthy rollouts stopped by a fleet-wide outage: {:?}",
        stopped.len(),
        stopped.iter().map(|r| &r.reason).collect::<Vec<_>>()
    );
}
