//! Where one KPI's line between a safe and a harmful release lies, fixed once per rollout so
//! every look of the gate asks the same question (docs/KPIS.md, "One boundary per KPI"):
//!
//! - a rate is harmful beyond `max((1 + harm-margin) × b, b + tolerance)`, `b` the
//!   baseline's rate: by default 1.2 times the baseline's rate or 0.1 point above it,
//!   whichever is larger. As a ratio of rates, the boundary is fixed by the baseline's rate
//!   over the day before the rollout, and, when that day had fewer than [`FIX_EVENTS`]
//!   events, over it and the rollout's bins up to the first where they reach that many (so
//!   it stops moving once it is known, and rests on data the tests do not also judge). A
//!   boundary more than [`MAX_RATIO`] times the baseline's rate (a floor far above a rare
//!   event's rate, as for signature failures) is judged on the two cohorts' bounds only:
//!   the ratio test's alternatives do not reach past it;
//! - a latency is judged as the share of observations above one bucket bound, the
//!   baseline's p95 over the bins up to the first where it has [`FIX_OBSERVATIONS`]
//!   observations (a shift below a bound chosen later would go unseen), and its boundary is
//!   `1 + harm-margin` (1.5) times the baseline's share there.
//!
//! *Harm* is evidence the candidate is beyond the boundary; *pass* is evidence it is within
//! it, so no release is both. This module also says what waiting can rule out.

use super::histogram::{self, Buckets};
use super::policy::Limits;
use super::stats::{self, Bin, Side};
use super::words;

/// Baseline events that fix a rate's boundary ratio (its relative error is then about
/// 1/√100 = 10 %, so a boundary of 1.33× is known to within about 1.30–1.37×).
pub const FIX_EVENTS: f64 = 100.0;
/// Baseline observations that fix a latency's bucket bound.
pub const FIX_OBSERVATIONS: f64 = 400.0;
/// No ratio test is asked of a wider boundary (its alternatives reach 30 times the null).
pub const MAX_RATIO: f64 = 30.0;
/// The regressions the waiting message says can or cannot be ruled out yet.
const EXCLUDED: [f64; 4] = [1.5, 2.0, 3.0, 10.0];

/// A value taken from the first bins of a rollout, and whether it is settled (`false`: too
/// little data yet, so it may still move at the next look).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fixed<T> {
    pub value: T,
    pub fixed: bool,
}

/// The highest rate still within the boundary when the baseline's rate is `b`.
pub fn limit_of(b: f64, limits: &Limits) -> f64 {
    ((1.0 + limits.harm_margin) * b).max(b + limits.tolerance)
}

/// A rate KPI's boundary as a ratio of the candidate's rate to the baseline's, from
/// `prior` (the baseline's events and exposure over the day before the rollout, when
/// known) and then the rollout's first bins; `None` while the baseline has no events, or
/// when the boundary is more than [`MAX_RATIO`] times its rate (both judged on bounds only).
pub fn rate_ratio(bins: &[Bin], prior: Option<(f64, f64)>, limits: &Limits) -> Option<Fixed<f64>> {
    let (mut x, mut n) = prior.unwrap_or((0.0, 0.0));
    let mut fixed = x >= FIX_EVENTS;
    for b in bins {
        if fixed {
            break;
        }
        x += b.baseline_events;
        n += b.baseline_exposure;
        fixed = x >= FIX_EVENTS;
    }
    if n <= 0.0 || x <= 0.0 {
        return None;
    }
    let rate = x / n;
    let ratio = limit_of(rate, limits) / rate;
    (ratio <= MAX_RATIO).then_some(Fixed {
        value: ratio.max(1.0 + f64::EPSILON),
        fixed,
    })
}

/// A latency's bucket bound: the baseline's p95 bound over the bins up to the first with
/// [`FIX_OBSERVATIONS`] observations (all of them, unfixed, before that).
pub fn latency_bound(baseline: &[Buckets]) -> Option<Fixed<f64>> {
    let (mut seen, mut upto) = (0.0, 0);
    for h in baseline {
        upto += 1;
        seen += histogram::count(h).max(0.0);
        if seen >= FIX_OBSERVATIONS {
            break;
        }
    }
    let summed = histogram::sum(&baseline[..upto]);
    histogram::bound_of_quantile(&summed, 0.95).map(|value| Fixed {
        value,
        fixed: seen >= FIX_OBSERVATIONS,
    })
}

/// Harm and pass on confidence bounds: the candidate's lower bound beyond the boundary at
/// the baseline's upper bound (harm), or its upper bound within the boundary at the
/// baseline's lower bound (pass). Both monotone, so never both.
pub fn beyond_on_bounds(c_lo: f64, b_hi: f64, limits: &Limits) -> bool {
    c_lo > limit_of(b_hi, limits)
}

pub fn within_on_bounds(c_hi: f64, b_lo: f64, limits: &Limits) -> bool {
    c_hi <= limit_of(b_lo, limits)
}

/// What waiting can rule out at the current traffic, if the future brings `hourly` every
/// hour: for each of 1.5×, 2×, 3×, 10× (those beyond the boundary) and the boundary itself,
/// the hours until the pass test against that ratio would be shown (`Some(0.0)`: ruled out
/// already; `None`: not within 30 days at these rates).
pub fn exclusions(
    bins: &[Bin],
    hourly: Bin,
    boundary: f64,
    alpha: f64,
    phi: f64,
) -> Vec<(f64, Option<f64>)> {
    let mut ratios: Vec<f64> = EXCLUDED.into_iter().filter(|r| *r > boundary).collect();
    ratios.push(boundary);
    ratios
        .into_iter()
        .map(|r| {
            let h = stats::time_to_decide_tempered(
                bins,
                hourly,
                r,
                Side::Below,
                alpha,
                30.0 * 24.0,
                phi,
            );
            (r, h)
        })
        .collect()
}

/// "a 3× regression is ruled out; 2× in about 40 min; 1.5× in about 6 h; the boundary
/// (1.3×) in more than 30 days" — the first already ruled out, then each still open.
pub fn exclusions_words(ex: &[(f64, Option<f64>)]) -> String {
    let ratio = |r: f64| {
        if (r - r.round()).abs() < 0.05 {
            format!("{r:.0}×")
        } else {
            format!("{r:.1}×")
        }
    };
    let mut parts = Vec::new();
    if let Some(least) = ex
        .iter()
        .filter(|(_, h)| *h == Some(0.0))
        .map(|(r, _)| *r)
        .reduce(f64::min)
    {
        parts.push(format!("a {} regression is ruled out", ratio(least)));
    }
    let last = ex.len().saturating_sub(1);
    for (i, (r, h)) in ex.iter().enumerate() {
        if *h == Some(0.0) {
            continue;
        }
        let when = h.map_or("more than 30 days".to_string(), |h| {
            format!("about {}", words::duration(h))
        });
        if i == last {
            parts.push(format!("the boundary ({}) in {when}", ratio(*r)));
        } else {
            parts.push(format!("{} in {when}", ratio(*r)));
        }
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        super::super::policy::Kpi::CrashFree.default_limits()
    }

    fn bin(nb: f64, xb: f64) -> Bin {
        Bin {
            candidate_exposure: nb / 19.0,
            candidate_events: 0.0,
            baseline_exposure: nb,
            baseline_events: xb,
        }
    }

    #[test]
    fn the_boundary_is_the_larger_of_the_ratio_and_the_points() {
        let l = limits();
        // 0.3 %: 1.2 × 0.3 = 0.36 %, 0.3 + 0.1 = 0.4 %: the points win (1.33×).
        assert!((limit_of(0.003, &l) - 0.004).abs() < 1e-12);
        // 1 %: 1.2 % against 1.1 %: the ratio wins.
        assert!((limit_of(0.01, &l) - 0.012).abs() < 1e-12);
        let r = rate_ratio(&[bin(100_000.0, 300.0)], None, &l).unwrap();
        assert!(r.fixed && (r.value - 4.0 / 3.0).abs() < 1e-9, "{r:?}");
        // A floor 100 times a rare event's rate is left to the bounds.
        let rare = super::super::policy::Kpi::SignatureFailures.default_limits();
        assert_eq!(rate_ratio(&[bin(1_000_000.0, 100.0)], None, &rare), None);
    }

    #[test]
    fn the_boundary_stops_moving_once_the_baseline_has_enough_events() {
        let l = limits();
        let first = [bin(10_000.0, 100.0)];
        let later = [bin(10_000.0, 100.0), bin(10_000.0, 10.0)];
        assert_eq!(rate_ratio(&first, None, &l), rate_ratio(&later, None, &l));
        let early = rate_ratio(&[bin(1_000.0, 2.0)], None, &l).unwrap();
        assert!(!early.fixed);
        assert_eq!(rate_ratio(&[bin(1_000.0, 0.0)], None, &l), None);
    }

    #[test]
    fn the_day_before_fixes_the_boundary_when_it_has_enough_events() {
        let l = limits();
        // The day before: 0.3 % on 200,000 sessions; the rollout's first bins say 0.2 %.
        let r = rate_ratio(&[bin(10_000.0, 20.0)], Some((600.0, 200_000.0)), &l).unwrap();
        assert!(r.fixed && (r.value - 4.0 / 3.0).abs() < 1e-9, "{r:?}");
        // A quiet day before (40 events) is topped up from the rollout's bins.
        let r = rate_ratio(
            &[bin(20_000.0, 40.0), bin(20_000.0, 40.0), bin(20_000.0, 1.0)],
            Some((40.0, 20_000.0)),
            &l,
        )
        .unwrap();
        assert!(r.fixed && (r.value - 1.5).abs() < 1e-9, "{r:?}");
    }

    #[test]
    fn bounds_never_say_both() {
        let l = limits();
        for (c_lo, c_hi, b_lo, b_hi) in [
            (0.001, 0.002, 0.0029, 0.0031),
            (0.004, 0.005, 0.002, 0.003),
            (0.0035, 0.0036, 0.0029, 0.0031),
        ] {
            assert!(!(beyond_on_bounds(c_lo, b_hi, &l) && within_on_bounds(c_hi, b_lo, &l)));
        }
        assert!(beyond_on_bounds(0.0045, 0.003, &l));
        assert!(within_on_bounds(0.0039, 0.003, &l));
    }

    #[test]
    fn exclusions_read_as_a_person_would_say_them() {
        let ex = vec![
            (3.0, Some(0.0)),
            (2.0, Some(0.0)),
            (1.5, Some(3.0)),
            (1.33, None),
        ];
        assert_eq!(
            exclusions_words(&ex),
            "a 2× regression is ruled out; 1.5× in about 3 h; the boundary (1.3×) in more than 30 days"
        );
    }
}
