//! The judge replayed at every drawn bin of a rollout: what the gate would have said had it
//! looked then, over the window it uses (from the start of the rollout to that moment,
//! across its steps). Each look runs `judge::decide` — the gate's own function — on the re-binned
//! counts, so the bounds drawn are the judge's own, and the moment a decision was reached
//! is where a look's outcome first leaves "inconclusive" within a step.

use super::data::ChartData;
use super::rebin;
use crate::kpi::judge::{self, Numbers, Question, Verdict};
use crate::kpi::policy::{GatePolicy, Kpi};
use crate::kpi::source::{Counter, Counts, Histograms, Window};
use airlock_protocol::bucketing::FULL;
use airlock_protocol::time::Timestamp;
use std::collections::BTreeMap;

/// The judge's answer had it looked at `at`.
#[derive(Clone, Debug)]
pub struct Look {
    pub at: i64,
    /// When the step this look belongs to began.
    pub step_started: i64,
    pub verdict: Verdict,
}

fn coarse_counts(c: &Counts, versions: &[&str], fine: std::ops::Range<usize>, k: usize) -> Counts {
    versions
        .iter()
        .filter_map(|v| {
            let series = c.get(*v)?.get(fine.clone())?;
            Some((v.to_string(), rebin::sum_counts(series, k)))
        })
        .collect()
}

fn coarse_hists(
    h: &Histograms,
    versions: &[&str],
    fine: std::ops::Range<usize>,
    k: usize,
) -> Histograms {
    versions
        .iter()
        .filter_map(|v| {
            let series = h.get(*v)?.get(fine.clone())?;
            Some((v.to_string(), rebin::sum_histograms(series, k)))
        })
        .collect()
}

fn cut<T: Clone>(
    by: &std::collections::BTreeMap<String, Vec<T>>,
    range: std::ops::Range<usize>,
) -> std::collections::BTreeMap<String, Vec<T>> {
    by.iter()
        .filter_map(|(v, s)| Some((v.clone(), s.get(range.clone())?.to_vec())))
        .collect()
}

/// Looks at the end of every drawn bin while the rollout ran — the rollout's span re-binned
/// into about `target` bins aligned on its start — judging `kpis` (all the policy's when
/// empty). Also returns the seconds per drawn bin. Nothing when the range shows no rollout
/// or it has no release to be judged against.
pub fn looks(d: &ChartData, target: usize, kpis: &[Kpi]) -> (Vec<Look>, i64) {
    let Some(r) = &d.rollout else {
        return (Vec::new(), d.step);
    };
    let Some(baseline) = &r.baseline else {
        return (Vec::new(), d.step);
    };
    // `step_seconds` is set below to the drawn bin's length: the judge's per-hour checks
    // count bins by it, and a replay on wider bins must not count several hours as one.
    let mut policy = GatePolicy {
        kpis: d
            .policy
            .kpis
            .iter()
            .filter(|(kpi, _)| kpis.is_empty() || kpis.contains(kpi))
            .cloned()
            .collect(),
        ..d.policy.clone()
    };
    let fine_index = |t: i64| -> usize {
        let i = (t - d.from).max(0);
        usize::try_from((i + d.step - 1) / d.step)
            .unwrap_or(0)
            .min(d.bins)
    };
    let start = fine_index(r.started);
    // The last whole fine bin before the rollout ended (a bin straddling its end holds
    // numbers from after it).
    let stop = r.ended.map_or(d.bins, |e| {
        usize::try_from((e - d.from).max(0) / d.step)
            .unwrap_or(0)
            .min(d.bins)
    });
    let span = stop.saturating_sub(start);
    if span == 0 {
        return (Vec::new(), d.step);
    }
    let k = rebin::factor(span, target);
    let cs = d.step * k as i64;
    policy.step_seconds = cs;
    let versions = [r.version.as_str(), baseline.as_str()];
    // Re-bin once (whole bins only); each look slices.
    let fine = start..start + span / k * k;
    let counts: Vec<_> = d
        .counts
        .iter()
        .map(|(c, v)| (*c, coarse_counts(v, &versions, fine.clone(), k)))
        .collect();
    let hists: Vec<_> = d
        .histograms
        .iter()
        .map(|(l, v)| (*l, coarse_hists(v, &versions, fine.clone(), k)))
        .collect();
    // The baseline's day before the rollout, as far as the range shows it: the judge fixes
    // each rate's boundary from it (kpi/boundary.rs), as `watch` did.
    let day = usize::try_from(24 * 3600 / d.step.max(1)).unwrap_or(0);
    let prior_counts: BTreeMap<Counter, Counts> = d
        .counts
        .iter()
        .filter_map(|(c, by)| {
            let series = by
                .get(baseline.as_str())?
                .get(start.saturating_sub(day)..start)?;
            (!series.is_empty()).then(|| {
                let sum = series
                    .iter()
                    .copied()
                    .filter(|x| x.is_finite() && *x > 0.0)
                    .sum();
                (*c, BTreeMap::from([(baseline.clone(), vec![sum])]))
            })
        })
        .collect();
    let share = |bp: u32| f64::from(bp) / f64::from(FULL);
    let origin = d.from + start as i64 * d.step;
    let mut out = Vec::new();
    for j in 0..span / k {
        let end = origin + (j as i64 + 1) * cs;
        let Some(step) = r.steps.iter().rev().find(|s| s.at < end) else {
            continue;
        };
        // The judge's evidence runs from the rollout's start, across its steps.
        let first = 0usize;
        let (Ok(from), Ok(to)) = (
            Timestamp::from_unix(origin + first as i64 * cs),
            Timestamp::from_unix(end),
        ) else {
            continue;
        };
        let Ok(window) = Window::new(from, to, cs) else {
            continue;
        };
        let range = first..j + 1;
        let numbers = Numbers {
            counts: counts
                .iter()
                .map(|(c, by)| (*c, cut(by, range.clone())))
                .collect(),
            histograms: hists
                .iter()
                .map(|(l, by)| (*l, cut(by, range.clone())))
                .collect(),
            prior_counts: prior_counts.clone(),
            ..Numbers::default()
        };
        let q = Question {
            app: d.app.clone(),
            channel: d.channel.clone(),
            candidate: r.version.clone(),
            baseline: baseline.clone(),
            window,
            rollout_share: Some(share(step.basis_points)),
            next_share: step.next.map(share),
            alpha_share: judge::ROLLOUT_ALPHA,
            holdout: false,
        };
        out.push(Look {
            at: end,
            step_started: step.at,
            verdict: judge::decide(&q, &policy, &numbers),
        });
    }
    (out, cs)
}
