//! Bucketing vectors, computed independently with python's hashlib (see docs/PROTOCOL.md):
//! `h = int.from_bytes(sha256(rid + b"\0" + iid).digest()[:8], "big")`,
//! `min_bp = h * 10000 // 2**64 + 1`.
//!
//! Invariant: a device's membership never depends on anything but these two strings.

use airlock_protocol::bucketing::{FULL, bucket, in_rollout, min_basis_points};

/// (rolloutId, installId, h, smallest basisPoints that includes the device)
const VECTORS: [(&str, &str, u64, u32); 8] = [
    ("rollout-1", "device-a", 14_100_088_264_494_902_895, 7644),
    ("rollout-1", "device-b", 12_782_721_762_835_190_957, 6930),
    ("rollout-2", "device-a", 9_597_908_709_851_112_258, 5204),
    (
        "shop-ios-1.4.0-r1",
        "8E1C4E2A-6B3F-4F1D-9C55-0D2A7B9E1F00",
        9_103_444_167_155_897_447,
        4935,
    ),
    (
        "shop-ios-1.4.0-r1",
        "device-a",
        17_885_774_865_435_653_300,
        9696,
    ),
    ("r", "ünïcode-☃", 11_696_737_396_189_895_646, 6341),
    ("rollout-1", "device-3448", 219_087_213_024_843, 1),
    (
        "rollout-1",
        "device-7932",
        18_446_657_056_820_600_225,
        10_000,
    ),
];

#[test]
fn vectors_hold_at_their_boundaries() {
    for (rollout_id, install_id, h, min_bp) in VECTORS {
        assert_eq!(
            bucket(rollout_id, install_id),
            h,
            "h for ({rollout_id}, {install_id})"
        );
        assert_eq!(
            min_basis_points(h),
            min_bp,
            "threshold for ({rollout_id}, {install_id})"
        );
        assert!(
            !in_rollout(rollout_id, install_id, min_bp - 1),
            "out one point below"
        );
        assert!(
            in_rollout(rollout_id, install_id, min_bp),
            "in exactly at the threshold"
        );
        assert!(
            !in_rollout(rollout_id, install_id, 0),
            "0 basis points includes nobody"
        );
        assert!(
            in_rollout(rollout_id, install_id, FULL),
            "10000 basis points includes all"
        );
    }
}

#[test]
fn five_percent_lands_near_five_percent() {
    let inside = (0..10_000)
        .filter(|n| in_rollout("rollout-1", &format!("device-{n}"), 500))
        .count();
    assert_eq!(
        inside, 496,
        "python's hashlib counts 496 of 10,000 for these ids"
    );
    assert!(
        (350..=650).contains(&inside),
        "within 1.5 points of 5 %: {inside}"
    );
}

#[test]
fn membership_is_monotonic() {
    for n in 0..200 {
        let id = format!("device-{n}");
        let first = (0..=FULL)
            .find(|&bp| in_rollout("rollout-9", &id, bp))
            .unwrap();
        assert_eq!(first, min_basis_points(bucket("rollout-9", &id)));
        assert!(
            (first..=FULL)
                .step_by(97)
                .all(|bp| in_rollout("rollout-9", &id, bp))
        );
    }
}
