//! One KPI's two nested questions over a rollout's bins, as numbers (the judge puts them in
//! words): *harm*, evidence the candidate is beyond its boundary (kpi/boundary.rs), and
//! *pass*, evidence it is within it. Each is asked two ways — the ratio test of
//! [`super::stats`] and the two cohorts' confidence bounds (which also serve KPIs with no
//! events at all, such as signature failures) — and both ways are tempered by the counts'
//! dispersion, so a crash-looping device or duplicated rows weigh as what they are.
//!
//! Error rates: harm spends `alpha` (this KPI's share of the rollout's), half on the ratio
//! test and half on the bounds, which the absolute limits share; pass spends `pass_alpha`,
//! half on each way. Both tests are anytime-valid, so the whole rollout is one test however
//! often it is looked at (docs/KPIS.md, "What is controlled").

use super::boundary;
use super::policy::Limits;
use super::stats::{self, Bin, Side};
use serde::Serialize;

/// One of the two tests: its null ratio, its e-value (capped at 1e15) and the e-value it
/// needs (`1/alpha`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    pub null_ratio: f64,
    pub e_value: f64,
    pub needed: f64,
    pub shown: bool,
}

fn evidence(bins: &[Bin], null: f64, side: Side, alpha: f64, phi: f64) -> Evidence {
    let ln_e = stats::tempered_e_value(bins, null, side, phi);
    Evidence {
        null_ratio: null,
        e_value: ln_e.exp().min(1e15),
        needed: 1.0 / alpha,
        shown: ln_e >= (1.0 / alpha).ln(),
    }
}

/// A cohort's confidence bounds on its rate, counts divided by the dispersion.
pub fn bounds(events: f64, exposure: f64, alpha: f64, phi: f64) -> (f64, f64) {
    let phi = phi.max(1.0);
    stats::rate_bounds(events / phi, exposure / phi, alpha)
}

/// The two cohorts over the bins both have exposure in, as the bounds routes and the limits
/// compare them: the candidate's counts, and the baseline's rate *standardized to the
/// candidate's hours* (each bin's baseline rate weighted by the candidate's share of its
/// exposure in that bin).
///
/// Pooling the baseline instead would weigh its hours differently from the candidate's
/// whenever the share changes: a fleet-wide spike during the 50 % step is half the
/// candidate's exposure but a small part of the baseline's, and an identical release would
/// look worse (Simpson's paradox). The standardized rate's bounds are those of effective
/// counts with its mean and variance — for the upper bound with the largest weight added,
/// so a baseline without events still has an honest one (Fay & Feuer 1997's gamma interval
/// for directly standardized rates). With a constant share they are the pooled counts'.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Matched {
    pub candidate_events: f64,
    pub candidate_exposure: f64,
    /// The baseline's standardized rate, its variance (as Poisson counts) and the largest
    /// weight of one baseline event.
    pub baseline_rate: f64,
    pub baseline_variance: f64,
    pub largest_weight: f64,
}

impl Matched {
    pub fn of(bins: &[Bin]) -> Matched {
        let used: Vec<&Bin> = bins
            .iter()
            .filter(|b| b.candidate_exposure > 0.0 && b.baseline_exposure > 0.0)
            .collect();
        let nc: f64 = used.iter().map(|b| b.candidate_exposure).sum();
        if nc <= 0.0 {
            return Matched::default();
        }
        let mut m = Matched {
            candidate_events: used.iter().map(|b| b.candidate_events).sum(),
            candidate_exposure: nc,
            ..Matched::default()
        };
        for b in &used {
            let w = b.candidate_exposure / nc / b.baseline_exposure;
            m.baseline_rate += w * b.baseline_events;
            m.baseline_variance += w * w * b.baseline_events;
            m.largest_weight = m.largest_weight.max(w);
        }
        m
    }

    /// The candidate's rate over the baseline's standardized rate (the standardized ratio).
    pub fn ratio(&self) -> Option<f64> {
        (self.candidate_exposure > 0.0 && self.baseline_rate > 0.0)
            .then(|| self.candidate_events / self.candidate_exposure / self.baseline_rate)
    }

    /// The baseline's effective (events, exposure): with the largest weight added for its
    /// upper bound (`upper`), without it for its lower bound.
    pub fn baseline_counts(&self, upper: bool) -> (f64, f64) {
        let (y, v) = (self.baseline_rate, self.baseline_variance);
        let w = if upper || v <= 0.0 {
            self.largest_weight
        } else {
            0.0
        };
        if v + w * w <= 0.0 {
            return (0.0, 0.0);
        }
        let exposure = (y + w) / (v + w * w);
        (y * exposure, exposure)
    }

    /// Each cohort's bounds at `alpha`, tempered by `phi`: (candidate, baseline).
    pub fn bounds(&self, alpha: f64, phi: f64) -> ((f64, f64), (f64, f64)) {
        let (xl, nl) = self.baseline_counts(false);
        let (xu, nu) = self.baseline_counts(true);
        (
            bounds(self.candidate_events, self.candidate_exposure, alpha, phi),
            (bounds(xl, nl, alpha, phi).0, bounds(xu, nu, alpha, phi).1),
        )
    }
}

/// Both questions for one KPI.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub total: Bin,
    /// The cohorts as the bounds routes and the limits compare them.
    pub matched: Matched,
    /// The counts' dispersion (1: as variable as Poisson).
    pub phi: f64,
    /// The boundary as a ratio: the one harm is tested against and the one pass is (the
    /// same once fixed; before, each the cautious end of the baseline's bounds).
    pub harm_ratio: Option<f64>,
    pub pass_ratio: Option<f64>,
    pub fixed: bool,
    pub harm: Option<Evidence>,
    pub pass: Option<Evidence>,
    pub harm_on_bounds: bool,
    pub pass_on_bounds: bool,
    /// The bounds harm and the limits are judged on (each at a quarter of `alpha`), the
    /// baseline's standardized to the candidate's hours ([`Matched`]).
    pub candidate_lower: f64,
    pub candidate_upper: f64,
    pub baseline_lower: f64,
    pub baseline_upper: f64,
}

/// The baseline's rate bounds that stand in for it while the boundary is not fixed.
const UNFIXED_ALPHA: f64 = 0.05;

/// Both questions for one KPI over `bins`, its boundary fixed with the help of `prior`, the
/// baseline's (events, exposure) over the day before (kpi/boundary.rs).
pub fn compare(
    bins: &[Bin],
    prior: Option<(f64, f64)>,
    limits: &Limits,
    alpha: f64,
    pass_alpha: f64,
) -> Comparison {
    let t = Bin::total(bins);
    let m = Matched::of(bins);
    let phi = stats::dispersion(bins);
    let (harm_ratio, pass_ratio, fixed) = match boundary::rate_ratio(bins, prior, limits) {
        Some(f) if f.fixed => (Some(f.value), Some(f.value), true),
        Some(f) => {
            // Not fixed yet: harm against the widest boundary the baseline's rate allows,
            // pass against the narrowest, so neither rests on a rate still moving.
            let (x0, n0) = prior.unwrap_or((0.0, 0.0));
            let (lo, hi) = stats::rate_bounds(
                x0 + t.baseline_events,
                n0 + t.baseline_exposure,
                UNFIXED_ALPHA,
            );
            let ratio = |p: f64| (p > 0.0).then(|| boundary::limit_of(p, limits) / p);
            (
                ratio(lo).map(|r| r.max(f.value)),
                ratio(hi).map(|r| r.min(f.value)),
                false,
            )
        }
        None => (None, None, false),
    };
    let harm = harm_ratio.map(|r| evidence(bins, r, Side::Above, alpha / 2.0, phi));
    let pass = pass_ratio.map(|r| evidence(bins, r, Side::Below, pass_alpha / 2.0, phi));
    let ((c_lo, c_hi), (b_lo, b_hi)) = m.bounds(alpha / 4.0, phi);
    let ((_, c_hi_p), (b_lo_p, _)) = m.bounds(pass_alpha / 4.0, phi);
    Comparison {
        total: t,
        matched: m,
        phi,
        harm_ratio,
        pass_ratio,
        fixed,
        harm_on_bounds: boundary::beyond_on_bounds(c_lo, b_hi, limits),
        pass_on_bounds: boundary::within_on_bounds(c_hi_p, b_lo_p, limits),
        harm,
        pass,
        candidate_lower: c_lo,
        candidate_upper: c_hi,
        baseline_lower: b_lo,
        baseline_upper: b_hi,
    }
}

impl Comparison {
    pub fn harm_shown(&self) -> bool {
        self.harm_on_bounds || self.harm.as_ref().is_some_and(|e| e.shown)
    }

    pub fn pass_shown(&self) -> bool {
        !self.harm_shown() && (self.pass_on_bounds || self.pass.as_ref().is_some_and(|e| e.shown))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kpi::policy::Kpi;

    fn bins(n: usize, nc: f64, xc: f64, nb: f64, xb: f64) -> Vec<Bin> {
        vec![
            Bin {
                candidate_exposure: nc,
                candidate_events: xc,
                baseline_exposure: nb,
                baseline_events: xb,
            };
            n
        ]
    }

    #[test]
    fn harm_and_pass_are_never_both_shown() {
        let l = Kpi::CrashFree.default_limits();
        // From far inside the boundary to far beyond it, on plenty of data.
        for k in [0.5, 1.0, 1.2, 1.33, 1.5, 2.0, 5.0] {
            let c = compare(
                &bins(48, 5_000.0, 15.0 * k, 95_000.0, 285.0),
                None,
                &l,
                0.001,
                0.05,
            );
            assert!(!(c.harm_shown() && c.pass_shown()), "{k}: {c:?}");
            if k <= 1.0 {
                assert!(c.pass_shown(), "{k}× on 240,000 sessions must pass");
            }
            if k >= 2.0 {
                assert!(c.harm_shown(), "{k}× on 240,000 sessions must be harm");
            }
        }
    }

    #[test]
    fn a_constant_share_standardizes_to_the_pooled_counts() {
        let m = Matched::of(&bins(10, 5_000.0, 15.0, 95_000.0, 285.0));
        for upper in [false, true] {
            let (x, n) = m.baseline_counts(upper);
            assert!((x - 2_850.0).abs() < 1e-6, "{upper}: {m:?}");
            assert!((n - 950_000.0).abs() < 1e-3, "{upper}: {m:?}");
        }
        assert!((m.ratio().unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_fleet_wide_spike_during_a_later_step_is_not_the_candidates() {
        let l = Kpi::CrashFree.default_limits();
        // 4 h at 5 % and 0.3 %, then 2 h at 50 % with both cohorts at 3 % (a backend outage).
        // Pooled, the candidate's 2.6 % against the baseline's 0.86 % looks 3 times worse.
        let mut b = bins(48, 500.0, 1.5, 9_500.0, 28.5);
        b.extend(bins(24, 5_000.0, 150.0, 5_000.0, 150.0));
        let pooled = Bin::total(&b).ratio().unwrap();
        assert!(pooled > 2.9, "{pooled}");
        let c = compare(&b, None, &l, 0.001, 0.05);
        assert!(
            (c.matched.ratio().unwrap() - 1.0).abs() < 1e-9,
            "{:?}",
            c.matched
        );
        assert!(!c.harm_shown(), "{c:?}");
        assert!(c.candidate_lower < c.baseline_upper, "{c:?}");
        // The same outage in the candidate alone is harm.
        let mut worse = bins(48, 500.0, 1.5, 9_500.0, 28.5);
        worse.extend(bins(24, 5_000.0, 150.0, 5_000.0, 15.0));
        assert!(compare(&worse, None, &l, 0.001, 0.05).harm_shown());
    }
}
