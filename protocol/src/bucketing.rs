//! Deterministic rollout bucketing: which devices are in a rollout of `basisPoints`.
//!
//! Invariant: a device's bucket depends only on (rolloutId, installId), and membership is
//! monotonic: a device in at `b` basis points is in at every `b' >= b`; 0 includes nobody and
//! [`FULL`] everybody. The comparison is exact integer arithmetic (no floating point).

use crate::digest::sha256;

/// 100 % in basis points.
pub const FULL: u32 = 10_000;

/// `h`: the first 8 bytes of SHA-256(UTF-8 `rollout_id` ‖ 0x00 ‖ UTF-8 `install_id`), read
/// big-endian.
pub fn bucket(rollout_id: &str, install_id: &str) -> u64 {
    let mut input = Vec::with_capacity(rollout_id.len() + 1 + install_id.len());
    input.extend_from_slice(rollout_id.as_bytes());
    input.push(0);
    input.extend_from_slice(install_id.as_bytes());
    let digest = sha256(&input);
    u64::from_be_bytes(digest[..8].try_into().expect("8 of 32 bytes"))
}

/// Whether the device is in the rollout: `h × 10000 < basisPoints × 2^64`.
pub fn in_rollout(rollout_id: &str, install_id: &str, basis_points: u32) -> bool {
    let h = u128::from(bucket(rollout_id, install_id));
    h * u128::from(FULL) < u128::from(basis_points) << 64
}

/// Whether the device is held back by a holdout of `basis_points` salted with `holdout_id`:
/// it is in the holdout's *last* `basis_points` buckets, i.e. not in a rollout of
/// `FULL - basis_points` with the same id. With a completed rollout's id these are devices
/// the rollout never reached before its last step.
pub fn in_holdout(holdout_id: &str, install_id: &str, basis_points: u32) -> bool {
    !in_rollout(holdout_id, install_id, FULL.saturating_sub(basis_points))
}

/// The smallest `basisPoints` that includes a device with bucket `h`: `floor(h × 10000 / 2^64)
/// + 1`, always in 1..=10000.
pub fn min_basis_points(h: u64) -> u32 {
    let threshold = ((u128::from(h) * u128::from(FULL)) >> 64) + 1;
    u32::try_from(threshold).expect("h < 2^64 keeps the threshold at or below 10000")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes() {
        assert_eq!(
            min_basis_points(0),
            1,
            "bucket 0 joins at the first basis point"
        );
        assert_eq!(
            min_basis_points(u64::MAX),
            FULL,
            "the last bucket joins only at 100 %"
        );
        for id in ["a", "b", "c"] {
            assert!(!in_rollout("r", id, 0), "0 basis points includes nobody");
            assert!(
                in_rollout("r", id, FULL),
                "10000 basis points includes everybody"
            );
        }
    }

    #[test]
    fn a_holdout_is_the_rollout_s_last_buckets() {
        let ids: Vec<String> = (0..10_000).map(|i| format!("device-{i}")).collect();
        let held: Vec<&String> = ids
            .iter()
            .filter(|i| in_holdout("rollout-1", i, 500))
            .collect();
        // 5 % give or take sampling noise (sd about 22 of 10,000).
        assert!((420..=580).contains(&held.len()), "{}", held.len());
        for i in &held {
            assert!(
                !in_rollout("rollout-1", i, 5000),
                "a held device was never in the rollout's 50 % step"
            );
            assert!(
                in_holdout("rollout-1", i, 1000),
                "held at 5 % is held at 10 %"
            );
        }
        assert!(!in_holdout("r", "a", 0), "a holdout of 0 holds nobody");
    }

    #[test]
    fn separator_prevents_ambiguity() {
        assert_ne!(
            bucket("ab", "c"),
            bucket("a", "bc"),
            "the 0x00 separates the two strings"
        );
    }
}
