//! The statistics the canary gate judges with. Both tests stay valid however often they are
//! looked at (the gate looks every few minutes for a whole window), because each is an
//! e-process: a nonnegative supermartingale under its null, so by Ville's inequality the
//! chance it ever reaches `1/alpha` is at most `alpha` (docs/KPIS.md, "Why it stays honest").
//!
//! - [`ratio_e_value`] compares two cohorts' event rates (crashes per session, failures per
//!   download, slow installs per install). Within each time bin the cohorts' events are
//!   conditioned on their total: each event is the candidate's with probability
//!   `theta = rho*s / (rho*s + 1 - s)`, `s` the candidate's share of the bin's exposure and
//!   `rho` the ratio of the two rates (Lindon & Malek 2022's count test, here per bin so
//!   that a changing share or a spike that hits both cohorts cancels out). The e-value is
//!   a mixture of likelihood ratios over a grid of alternatives against the null ratio.
//! - [`rate_bounds`] is a confidence sequence for one cohort's rate: the beta-binomial
//!   mixture (Robbins 1970; Howard et al. 2021, section 3), Jeffreys prior.
//!
//! Counts are `f64`: Prometheus's `increase()` extrapolates to fractions, and every formula
//! here holds for real-valued counts. Pure functions, no I/O; answers are checked against
//! scipy in `core/tests/kpi_stats.rs` (reference values from tests/kpi/reference.py).

use serde::Serialize;

/// One time bin of a two-cohort comparison: each cohort's exposure (sessions, downloads)
/// and events (crashed sessions, failed downloads) in that bin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Bin {
    pub candidate_exposure: f64,
    pub candidate_events: f64,
    pub baseline_exposure: f64,
    pub baseline_events: f64,
}

impl Bin {
    /// Sums bins (the whole window's counts).
    pub fn total(bins: &[Bin]) -> Bin {
        bins.iter().fold(Bin::default(), |a, b| Bin {
            candidate_exposure: a.candidate_exposure + b.candidate_exposure,
            candidate_events: a.candidate_events + b.candidate_events,
            baseline_exposure: a.baseline_exposure + b.baseline_exposure,
            baseline_events: a.baseline_events + b.baseline_events,
        })
    }

    pub fn candidate_rate(&self) -> Option<f64> {
        (self.candidate_exposure > 0.0).then(|| self.candidate_events / self.candidate_exposure)
    }

    pub fn baseline_rate(&self) -> Option<f64> {
        (self.baseline_exposure > 0.0).then(|| self.baseline_events / self.baseline_exposure)
    }

    /// The candidate's rate over the baseline's; `None` when either is unknown or the
    /// baseline's is zero.
    pub fn ratio(&self) -> Option<f64> {
        match (self.candidate_rate(), self.baseline_rate()) {
            (Some(c), Some(b)) if b > 0.0 => Some(c / b),
            _ => None,
        }
    }

    /// The bin with every count multiplied by `k`.
    pub fn scaled(&self, k: f64) -> Bin {
        Bin {
            candidate_exposure: self.candidate_exposure * k,
            candidate_events: self.candidate_events * k,
            baseline_exposure: self.baseline_exposure * k,
            baseline_events: self.baseline_events * k,
        }
    }
}

/// Which way the alternative lies from the null ratio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// "The candidate's rate is more than `null` times the baseline's" (harm).
    Above,
    /// "The candidate's rate is less than `null` times the baseline's" (safety).
    Below,
}

/// The grid of alternatives the mixture spreads its weight over, evenly in log scale with
/// equal weights: for harm, ratios from 1.05 to 30 times the null (a tenfold regression is
/// among them); for a pass, from 1/1.02 to 1/4 of the null (a release as good as the
/// baseline sits at 1/1.2 to 1/1.5 of its boundary, where the grid is dense).
const GRID: usize = 24;
const GRID_SPAN: (f64, f64) = (1.05, 30.0);
const PASS_SPAN: (f64, f64) = (1.02, 4.0);

fn grid(null: f64, side: Side) -> impl Iterator<Item = f64> {
    let span = match side {
        Side::Above => GRID_SPAN,
        Side::Below => PASS_SPAN,
    };
    let (lo, hi) = (span.0.ln(), span.1.ln());
    (0..GRID).map(move |i| {
        let m = (lo + (hi - lo) * i as f64 / (GRID - 1) as f64).exp();
        match side {
            Side::Above => null * m,
            Side::Below => null / m,
        }
    })
}

/// The share of a bin's events expected from the candidate when its rate is `ratio` times
/// the baseline's and it has share `share` of the exposure.
pub fn candidate_share(ratio: f64, share: f64) -> f64 {
    ratio * share / (ratio * share + 1.0 - share)
}

/// ln of the likelihood ratio of rate ratio `alt` against `null` over `bins`.
pub fn ln_likelihood_ratio(bins: &[Bin], alt: f64, null: f64) -> f64 {
    bins.iter()
        .filter_map(|b| {
            let exposure = b.candidate_exposure + b.baseline_exposure;
            let events = b.candidate_events + b.baseline_events;
            // A bin with one cohort only, or no events, says nothing about the ratio.
            if !(b.candidate_exposure > 0.0 && b.baseline_exposure > 0.0 && events > 0.0) {
                return None;
            }
            let s = b.candidate_exposure / exposure;
            let (t1, t0) = (candidate_share(alt, s), candidate_share(null, s));
            Some(
                b.candidate_events * (t1 / t0).ln()
                    + b.baseline_events * ((1.0 - t1) / (1.0 - t0)).ln(),
            )
        })
        .sum()
}

/// ln of the e-value against "the candidate's rate is `null` times the baseline's (or, for
/// [`Side::Above`], less; for [`Side::Below`], more)". Reject the null once it reaches
/// `ln(1/alpha)`; it is valid at every look, so the decision may be taken at any of them.
pub fn ratio_e_value(bins: &[Bin], null: f64, side: Side) -> f64 {
    tempered_e_value(bins, null, side, 1.0)
}

/// [`ratio_e_value`] with each alternative's log-likelihood ratio divided by `phi` (the
/// quasi-likelihood of counts `phi` times as variable as Poisson's, [`dispersion`]): one
/// crash-looping device or duplicated rows then weigh as what they are, not as many
/// independent sessions. `phi = 1` is the plain test.
pub fn tempered_e_value(bins: &[Bin], null: f64, side: Side, phi: f64) -> f64 {
    let phi = phi.max(1.0);
    let terms: Vec<f64> = grid(null, side)
        .map(|alt| ln_likelihood_ratio(bins, alt, null) / phi)
        .collect();
    log_mean_exp(&terms)
}

/// Consecutive bins merged until each group holds at least this many events of both
/// cohorts together, so Pearson's statistic is not ruled by groups with a fraction of one.
const GROUP_EVENTS: f64 = 10.0;
/// Fewer groups than this cannot tell overdispersion from chance.
const MIN_GROUPS: usize = 4;
/// The largest dispersion believed: beyond it the counts carry almost no evidence anyway.
const MAX_PHI: f64 = 1_000.0;

/// The maximum-likelihood rate ratio of the conditional model over `bins` (`None` when one
/// cohort has every event, or there are none).
pub fn fitted_ratio(bins: &[Bin]) -> Option<f64> {
    let used: Vec<&Bin> = bins
        .iter()
        .filter(|b| b.candidate_exposure > 0.0 && b.baseline_exposure > 0.0)
        .collect();
    let xc: f64 = used.iter().map(|b| b.candidate_events).sum();
    let xb: f64 = used.iter().map(|b| b.baseline_events).sum();
    if xc <= 0.0 || xb <= 0.0 {
        return None;
    }
    // The score (observed minus expected candidate events) rises with the ratio.
    let score = |ln_rho: f64| {
        used.iter()
            .map(|b| {
                let s = b.candidate_exposure / (b.candidate_exposure + b.baseline_exposure);
                b.candidate_events
                    - (b.candidate_events + b.baseline_events) * candidate_share(ln_rho.exp(), s)
            })
            .sum::<f64>()
    };
    let (mut lo, mut hi) = (-20.0f64, 20.0f64);
    for _ in 0..80 {
        let mid = (lo + hi) / 2.0;
        if score(mid) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(((lo + hi) / 2.0).exp())
}

/// The dispersion of the candidate's share of events between groups of bins, against the
/// conditional binomial model at the fitted ratio: Pearson's X² over its degrees of
/// freedom, used only when X² exceeds the 95th percentile of its chi-square distribution
/// (so Poisson data is not tempered by chance), else 1. Counts that are clustered (a device
/// crash-looping in one hour), duplicated or otherwise more variable than Poisson give more
/// than 1; a constant ratio, a changing share and a spike in both cohorts do not.
pub fn dispersion(bins: &[Bin]) -> f64 {
    let Some(rho) = fitted_ratio(bins) else {
        return 1.0;
    };
    let mut groups: Vec<Bin> = Vec::new();
    let mut open = Bin::default();
    for b in bins
        .iter()
        .filter(|b| b.candidate_exposure > 0.0 && b.baseline_exposure > 0.0)
    {
        open = Bin::total(&[open, *b]);
        if open.candidate_events + open.baseline_events >= GROUP_EVENTS {
            groups.push(open);
            open = Bin::default();
        }
    }
    if groups.len() < MIN_GROUPS {
        return 1.0;
    }
    let x2: f64 = groups
        .iter()
        .map(|g| {
            let n = g.candidate_events + g.baseline_events;
            let s = g.candidate_exposure / (g.candidate_exposure + g.baseline_exposure);
            let t = candidate_share(rho, s);
            let var = n * t * (1.0 - t);
            if var > 0.0 {
                (g.candidate_events - n * t).powi(2) / var
            } else {
                0.0
            }
        })
        .sum();
    let df = (groups.len() - 1) as f64;
    if x2 > chi_square_95(df) {
        (x2 / df).clamp(1.0, MAX_PHI)
    } else {
        1.0
    }
}

/// The 95th percentile of the chi-square distribution with `df` degrees of freedom
/// (Wilson–Hilferty; within 1 % of the exact value from 3 degrees of freedom up).
pub fn chi_square_95(df: f64) -> f64 {
    const Z95: f64 = 1.644_853_626_951_472_2;
    let a = 2.0 / (9.0 * df);
    df * (1.0 - a + Z95 * a.sqrt()).powi(3)
}

fn log_mean_exp(terms: &[f64]) -> f64 {
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    let sum: f64 = terms.iter().map(|t| (t - max).exp()).sum();
    max + (sum / terms.len() as f64).ln()
}

/// How long until `ratio_e_value` reaches `ln(1/alpha)`, in multiples of the time `hourly`
/// stands for, if the future brings `hourly` every unit of time; `None` when it would
/// take more than `limit` units (or never, at these rates). A bin scaled by `h` has `h`
/// times its log-likelihood ratio (the share, and so each event's odds, stay the same), so
/// the e-value after `h` more units is a mixture of `exp(base + h * slope)` terms.
pub fn time_to_decide(
    bins: &[Bin],
    hourly: Bin,
    null: f64,
    side: Side,
    alpha: f64,
    limit: f64,
) -> Option<f64> {
    time_to_decide_tempered(bins, hourly, null, side, alpha, limit, 1.0)
}

/// [`time_to_decide`] for [`tempered_e_value`] with dispersion `phi`.
pub fn time_to_decide_tempered(
    bins: &[Bin],
    hourly: Bin,
    null: f64,
    side: Side,
    alpha: f64,
    limit: f64,
    phi: f64,
) -> Option<f64> {
    let target = (1.0 / alpha).ln();
    let phi = phi.max(1.0);
    let terms: Vec<(f64, f64)> = grid(null, side)
        .map(|alt| {
            (
                ln_likelihood_ratio(bins, alt, null) / phi,
                ln_likelihood_ratio(&[hourly], alt, null) / phi,
            )
        })
        .collect();
    let reached = |h: f64| {
        let at: Vec<f64> = terms.iter().map(|(b, s)| b + h * s).collect();
        log_mean_exp(&at) >= target
    };
    if reached(0.0) {
        return Some(0.0);
    }
    if !reached(limit) {
        return None;
    }
    let (mut lo, mut hi) = (0.0, limit);
    for _ in 0..50 {
        let mid = (lo + hi) / 2.0;
        if reached(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, nine terms; relative error about 1e-15).
pub fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1-x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let a = C[1..]
        .iter()
        .enumerate()
        .fold(C[0], |a, (i, c)| a + c / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// The prior of the rate confidence sequence: Jeffreys, Beta(1/2, 1/2).
const PRIOR: (f64, f64) = (0.5, 0.5);

/// ln of the beta-binomial mixture's e-value against "the rate is `p`", after `events` in
/// `trials`.
pub fn ln_rate_e_value(events: f64, trials: f64, p: f64) -> f64 {
    let misses = trials - events;
    let ln_lik = |p: f64| {
        let hit = if events > 0.0 { events * p.ln() } else { 0.0 };
        let miss = if misses > 0.0 {
            misses * (1.0 - p).ln()
        } else {
            0.0
        };
        hit + miss
    };
    ln_beta(PRIOR.0 + events, PRIOR.1 + misses) - ln_beta(PRIOR.0, PRIOR.1) - ln_lik(p)
}

/// The confidence sequence's bounds on a rate after `events` in `trials`, at level
/// `1 - alpha`: every rate whose e-value stays below `1/alpha`. (0, 1) with no trials.
pub fn rate_bounds(events: f64, trials: f64, alpha: f64) -> (f64, f64) {
    if trials <= 0.0 {
        return (0.0, 1.0);
    }
    let events = events.clamp(0.0, trials);
    let target = (1.0 / alpha).ln();
    let estimate = events / trials;
    let outside = |p: f64| ln_rate_e_value(events, trials, p) >= target;
    // Bisect between the estimate (inside) and an end (outside, or the end itself).
    let bound = |end: f64| {
        if !outside(end) {
            return end;
        }
        let (mut inside, mut out) = (estimate, end);
        for _ in 0..60 {
            let mid = (inside + out) / 2.0;
            if outside(mid) {
                out = mid;
            } else {
                inside = mid;
            }
        }
        inside
    };
    let lower = if events > 0.0 { bound(0.0) } else { 0.0 };
    let upper = if events < trials { bound(1.0) } else { 1.0 };
    (lower, upper)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bin(ne: f64, xe: f64, nb: f64, xb: f64) -> Bin {
        Bin {
            candidate_exposure: ne,
            candidate_events: xe,
            baseline_exposure: nb,
            baseline_events: xb,
        }
    }

    #[test]
    fn a_bin_with_one_cohort_or_no_events_carries_no_evidence() {
        for b in [
            bin(0.0, 0.0, 100.0, 3.0),
            bin(100.0, 3.0, 0.0, 0.0),
            bin(50.0, 0.0, 50.0, 0.0),
        ] {
            assert_eq!(
                ln_likelihood_ratio(&[b], 2.0, 1.2),
                0.0,
                "{b:?} has nothing to compare, so it must leave the evidence as it was"
            );
        }
        assert_eq!(
            ratio_e_value(&[], 1.2, Side::Above),
            0.0,
            "no data: e-value 1"
        );
    }

    #[test]
    fn evidence_points_the_right_way() {
        // 30 of 1,000 candidate sessions crashed against 30 of 10,000: harm.
        let bad = [bin(1_000.0, 30.0, 10_000.0, 30.0)];
        assert!(ratio_e_value(&bad, 1.2, Side::Above) > (100.0f64).ln());
        assert!(ratio_e_value(&bad, 2.0, Side::Below) < 0.0);
        // Equal rates on plenty of data: no harm, and safety against a ratio of 2.
        let same = [bin(20_000.0, 60.0, 200_000.0, 600.0)];
        assert!(ratio_e_value(&same, 1.2, Side::Above) < 0.0);
        assert!(ratio_e_value(&same, 2.0, Side::Below) > (20.0f64).ln());
    }

    #[test]
    fn bounds_cover_the_estimate_and_narrow_with_data() {
        let (lo, hi) = rate_bounds(3.0, 1_000.0, 0.05);
        assert!(
            lo < 0.003 && 0.003 < hi,
            "({lo}, {hi}) must hold the estimate"
        );
        let (lo2, hi2) = rate_bounds(300.0, 100_000.0, 0.05);
        assert!(
            hi2 - lo2 < hi - lo,
            "a hundred times the data must narrow the bounds"
        );
        assert_eq!(
            rate_bounds(0.0, 0.0, 0.05),
            (0.0, 1.0),
            "no trials: anything"
        );
        assert_eq!(rate_bounds(0.0, 500.0, 0.05).0, 0.0);
        assert_eq!(rate_bounds(500.0, 500.0, 0.05).1, 1.0);
    }

    #[test]
    fn time_to_decide_is_zero_when_decided_and_none_when_hopeless() {
        let bad = [bin(1_000.0, 30.0, 10_000.0, 30.0)];
        let hourly = bin(100.0, 3.0, 1_000.0, 3.0);
        assert_eq!(
            time_to_decide(&bad, hourly, 1.2, Side::Above, 0.01, 100.0),
            Some(0.0)
        );
        // The candidate is 10 times worse: safety at 2 is never shown.
        assert_eq!(
            time_to_decide(&bad, hourly, 2.0, Side::Below, 0.05, 1e4),
            None
        );
        let same = bin(100.0, 0.3, 1_000.0, 3.0);
        let t = time_to_decide(&[same], same, 2.0, Side::Below, 0.05, 1e5).expect("decidable");
        assert!(
            t > 1.0,
            "a few events cannot show safety; needs {t} more hours"
        );
    }
}
