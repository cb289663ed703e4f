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

/// Both questions for one KPI.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub total: Bin,
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
    /// The bounds harm and the limits are judged on (each at a quarter of `alpha`).
    pub candidate_lower: f64,
    pub baseline_lower: f64,
    pub baseline_upper: f64,
}

/// The baseline's rate bounds that stand in for it while the boundary is not fixed.
const UNFIXED_ALPHA: f64 = 0.05;

pub fn compare(bins: &[Bin], limits: &Limits, alpha: f64, pass_alpha: f64) -> Comparison {
    let t = Bin::total(bins);
    let phi = stats::dispersion(bins);
    let (harm_ratio, pass_ratio, fixed) = match boundary::rate_ratio(bins, limits) {
        Some(f) if f.fixed => (Some(f.value), Some(f.value), true),
        Some(f) => {
            // Not fixed yet: harm against the widest boundary the baseline's rate allows,
            // pass against the narrowest, so neither rests on a rate still moving.
            let (lo, hi) =
                stats::rate_bounds(t.baseline_events, t.baseline_exposure, UNFIXED_ALPHA);
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
    let (c_lo, _) = bounds(t.candidate_events, t.candidate_exposure, alpha / 4.0, phi);
    let (b_lo, b_hi) = bounds(t.baseline_events, t.baseline_exposure, alpha / 4.0, phi);
    let (_, c_hi_p) = bounds(
        t.candidate_events,
        t.candidate_exposure,
        pass_alpha / 4.0,
        phi,
    );
    let (b_lo_p, _) = bounds(
        t.baseline_events,
        t.baseline_exposure,
        pass_alpha / 4.0,
        phi,
    );
    Comparison {
        total: t,
        phi,
        harm_ratio,
        pass_ratio,
        fixed,
        harm_on_bounds: boundary::beyond_on_bounds(c_lo, b_hi, limits),
        pass_on_bounds: boundary::within_on_bounds(c_hi_p, b_lo_p, limits),
        harm,
        pass,
        candidate_lower: c_lo,
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
}
