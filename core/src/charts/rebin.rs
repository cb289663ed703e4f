//! Re-binning: the source's fine bins (a step's increase of a counter or of a histogram's
//! buckets) summed into the fewer, wider bins a chart draws. Rates and percentiles are then
//! computed from the summed counts and buckets, never averaged from finer ones (an average
//! of rates weighs a quiet minute like a busy one) and never thinned by picking points
//! (LTTB keeps shapes, not totals). A 30-day range of per-minute data becomes ~150 bins
//! whose every count is exact.

use crate::kpi::histogram::{self, Buckets};

/// How many fine bins go into one drawn bin so that `bins` become at most `target`.
pub fn factor(bins: usize, target: usize) -> usize {
    bins.div_ceil(target.max(1)).max(1)
}

/// Widens `k` (doubling) until at least three in four of the drawn bins between the first and the last
/// with data hold some: data reported coarser than the source's step (an hourly crash-tool
/// import read at 5-minute steps) is then drawn as a line, not as dots between empty bins.
pub fn fit(totals: &[f64], k: usize) -> usize {
    let mut k = k.max(1);
    // At most 8× wider: a quiet night is a gap, not a sign of coarse reporting.
    let cap = k * 8;
    while k < totals.len() && k * 2 <= cap {
        let sums = sum_counts(totals, k);
        let (Some(first), Some(last)) = (
            sums.iter().position(|v| *v > 0.0),
            sums.iter().rposition(|v| *v > 0.0),
        ) else {
            break;
        };
        let span = last - first + 1;
        let filled = sums[first..=last].iter().filter(|v| **v > 0.0).count();
        if span < 3 || filled * 4 >= span * 3 {
            break;
        }
        k *= 2;
    }
    k
}

/// `values` summed `k` at a time (a last, shorter group is summed too).
pub fn sum_counts(values: &[f64], k: usize) -> Vec<f64> {
    values.chunks(k.max(1)).map(|c| c.iter().sum()).collect()
}

/// Histograms summed `k` at a time, bucket by bucket.
pub fn sum_histograms(hists: &[Buckets], k: usize) -> Vec<Buckets> {
    hists.chunks(k.max(1)).map(sum_same_bounds).collect()
}

/// Adds histograms; the common case (every one with the same bounds) element by element,
/// else through `histogram::sum`, which aligns bounds.
pub fn sum_same_bounds(hists: &[Buckets]) -> Buckets {
    let Some(first) = hists.iter().find(|h| !h.is_empty()) else {
        return Buckets::new();
    };
    let same = hists.iter().all(|h| {
        h.is_empty() || (h.len() == first.len() && h.iter().zip(first).all(|(a, b)| a.0 == b.0))
    });
    if !same {
        return histogram::sum(hists);
    }
    let mut out: Buckets = first.iter().map(|(le, _)| (*le, 0.0)).collect();
    for h in hists.iter().filter(|h| !h.is_empty()) {
        for (o, (_, n)) in out.iter_mut().zip(h) {
            o.1 += n;
        }
    }
    out
}

/// `events / exposure`, or `None` when nothing was exposed.
pub fn rate(events: f64, exposure: f64) -> Option<f64> {
    (exposure > 0.0).then(|| events / exposure)
}

/// The bucket the `q` quantile lies in, as its bounds `(lower, upper)` (the first bucket
/// starts at 0; `upper` is infinite when the quantile is beyond the last finite bound).
/// A histogram only knows this much: drawing a point inside the bucket would be false
/// precision. `None` for an empty histogram.
pub fn quantile_bucket(b: &[(f64, f64)], q: f64) -> Option<(f64, f64)> {
    let total = histogram::count(b);
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let i = b.iter().position(|(_, n)| *n >= rank)?;
    let lower = if i == 0 { 0.0 } else { b[i - 1].0 };
    Some((lower, b[i].0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_are_exact_and_keep_a_short_last_group() {
        let minutes: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(sum_counts(&minutes, 4), vec![10.0, 26.0, 19.0]);
        assert_eq!(factor(43_200, 150), 288);
        assert_eq!(factor(10, 150), 1);
    }

    #[test]
    fn sparse_data_widens_the_bins_until_it_draws_as_a_line() {
        // One report every 12 fine bins (hourly data read at 5-minute steps).
        let hourly: Vec<f64> = (0..240)
            .map(|i| if i % 12 == 11 { 100.0 } else { 0.0 })
            .collect();
        let k = fit(&hourly, 2);
        assert_eq!(k, 16, "each drawn bin holds an hour");
        let dense = vec![1.0; 240];
        assert_eq!(fit(&dense, 2), 2, "dense data keeps its bins");
        assert_eq!(fit(&[0.0; 10], 2), 2, "no data, nothing to fit");
    }

    #[test]
    fn a_rate_comes_from_summed_counts_not_averaged_rates() {
        // A quiet bin at 50 % and a busy one at 1 %: the hour's rate is 1.1 %, not 25.5 %.
        let events = sum_counts(&[1.0, 10.0], 2);
        let exposure = sum_counts(&[2.0, 1000.0], 2);
        let r = rate(events[0], exposure[0]).unwrap();
        assert!((r - 11.0 / 1002.0).abs() < 1e-12, "{r}");
    }

    #[test]
    fn histograms_add_bucket_by_bucket_and_the_p95_is_a_bucket() {
        let h = |a: f64, b: f64, c: f64| vec![(1.0, a), (2.5, a + b), (f64::INFINITY, a + b + c)];
        let summed = sum_histograms(&[h(90.0, 5.0, 5.0), h(10.0, 85.0, 5.0)], 2);
        assert_eq!(
            summed,
            vec![vec![(1.0, 100.0), (2.5, 190.0), (f64::INFINITY, 200.0)]]
        );
        // p95 rank 190: inside (1, 2.5].
        assert_eq!(quantile_bucket(&summed[0], 0.95), Some((1.0, 2.5)));
        assert_eq!(
            quantile_bucket(&h(0.0, 0.0, 3.0), 0.95),
            Some((2.5, f64::INFINITY))
        );
        assert_eq!(quantile_bucket(&h(0.0, 0.0, 0.0), 0.95), None);
        // Bounds that differ are aligned, not zipped.
        let other = vec![(2.5, 4.0), (f64::INFINITY, 4.0)];
        let mixed = sum_same_bounds(&[h(1.0, 1.0, 0.0), other]);
        assert_eq!(mixed, vec![(1.0, 1.0), (2.5, 6.0), (f64::INFINITY, 6.0)]);
    }
}
