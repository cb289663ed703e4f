//! Latency histograms as Prometheus keeps them: cumulative bucket counts by upper bound
//! (`le`), the last one `+Inf`. The judge compares two cohorts' latencies without assuming
//! a shape: it counts the candidate's observations above the bucket bound that stands for
//! the baseline's p95 (the baseline's share there when nothing changed) and judges that
//! share as a rate.
//! [`quantile`] interpolates as `histogram_quantile()` does, so the p95 shown is the one a
//! Grafana panel on the same data shows.

/// One histogram: `(le, observations at or below le)`, ascending in `le`, ending at `+Inf`.
pub type Buckets = Vec<(f64, f64)>;

/// Every observation in `b`.
pub fn count(b: &[(f64, f64)]) -> f64 {
    b.last().map_or(0.0, |(_, n)| *n)
}

/// Adds histograms bucket by bucket (bins of a window into one); bounds missing from one of
/// them count what that one has at its nearest bound below.
pub fn sum(hists: &[Buckets]) -> Buckets {
    let mut bounds: Vec<f64> = hists.iter().flatten().map(|(le, _)| *le).collect();
    bounds.sort_by(f64::total_cmp);
    bounds.dedup();
    bounds
        .into_iter()
        .map(|le| (le, hists.iter().map(|h| at_or_below(h, le)).sum()))
        .collect()
}

/// Observations at or below `le` in `b`: the count at the largest bound not above `le`.
pub fn at_or_below(b: &[(f64, f64)], le: f64) -> f64 {
    b.iter()
        .take_while(|(bound, _)| *bound <= le)
        .last()
        .map_or(0.0, |(_, n)| *n)
}

/// Observations above `le`, counted from the largest bucket bound not above it (so, where
/// `le` falls inside a bucket, it counts that bucket too: never fewer than there are).
pub fn above(b: &[(f64, f64)], le: f64) -> f64 {
    count(b) - at_or_below(b, le)
}

/// The bucket bound that best stands for the `q` quantile: the finite bound with the share
/// of observations above it nearest `1 - q` (coarse buckets rarely hold a bound exactly at
/// the quantile; the nearer share keeps the most events to compare). `None` for an empty
/// histogram or one with no finite bound.
pub fn bound_of_quantile(b: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = count(b);
    if total <= 0.0 {
        return None;
    }
    b.iter()
        .filter(|(le, _)| le.is_finite())
        .map(|(le, n)| (*le, ((total - n) / total - (1.0 - q)).abs()))
        .min_by(|x, y| x.1.total_cmp(&y.1))
        .map(|(le, _)| le)
}

/// The `q` quantile, interpolated linearly inside its bucket as Prometheus's
/// `histogram_quantile()` does (the first bucket starts at 0; a quantile in the `+Inf`
/// bucket is the largest finite bound). `None` for an empty histogram.
pub fn quantile(b: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = count(b);
    if total <= 0.0 || b.len() < 2 {
        return None;
    }
    let rank = q * total;
    let i = b.iter().position(|(_, n)| *n >= rank)?;
    if !b[i].0.is_finite() {
        return Some(b[b.len() - 2].0);
    }
    let (start, below) = if i == 0 {
        (0.0f64.min(b[0].0), 0.0)
    } else {
        (b[i - 1].0, b[i - 1].1)
    };
    let in_bucket = b[i].1 - below;
    if in_bucket <= 0.0 {
        return Some(b[i].0);
    }
    Some(start + (b[i].0 - start) * (rank - below) / in_bucket)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &[(f64, f64)]) -> Buckets {
        v.to_vec()
    }

    #[test]
    fn quantiles_interpolate_like_prometheus() {
        let b = h(&[
            (1.0, 50.0),
            (2.0, 90.0),
            (5.0, 100.0),
            (f64::INFINITY, 100.0),
        ]);
        // Rank 95 lies in (2, 5]: 2 + 3 * (95 - 90) / 10.
        assert_eq!(quantile(&b, 0.95), Some(3.5));
        assert_eq!(quantile(&b, 0.5), Some(1.0));
        // Above 2 s: 10 %; above 5 s: none. 10 % is nearer 5 %.
        assert_eq!(bound_of_quantile(&b, 0.95), Some(2.0));
        let tail = h(&[(1.0, 10.0), (f64::INFINITY, 100.0)]);
        assert_eq!(
            quantile(&tail, 0.95),
            Some(1.0),
            "in +Inf: the largest finite bound"
        );
        assert_eq!(bound_of_quantile(&tail, 0.95), Some(1.0));
        assert_eq!(bound_of_quantile(&h(&[(f64::INFINITY, 5.0)]), 0.95), None);
        assert_eq!(quantile(&h(&[]), 0.95), None);
    }

    #[test]
    fn above_counts_from_the_bucket_below() {
        let b = h(&[
            (1.0, 50.0),
            (2.0, 90.0),
            (5.0, 100.0),
            (f64::INFINITY, 100.0),
        ]);
        assert_eq!(above(&b, 2.0), 10.0);
        assert_eq!(
            above(&b, 3.0),
            10.0,
            "3 s falls in (2, 5]: that bucket counts whole"
        );
        assert_eq!(above(&b, 0.5), 100.0);
        let s = sum(&[b.clone(), h(&[(2.0, 5.0), (f64::INFINITY, 10.0)])]);
        assert_eq!(
            s,
            h(&[
                (1.0, 50.0),
                (2.0, 95.0),
                (5.0, 105.0),
                (f64::INFINITY, 110.0)
            ])
        );
    }
}
