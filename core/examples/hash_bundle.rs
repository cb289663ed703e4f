//! Times Airlock's own hashing path on a folder, for `make bench` (see `bench/run.sh` and
//! docs/BENCHMARKS.md): `bundle::read` (walk, read every file into memory, policy gates) and
//! then `ops::release::hash_bundle` (SHA-256 of every file plus the manifest), each timed
//! separately with `Instant`. Limits are raised so that only reading and hashing are measured.
//!
//! Usage: `cargo run --release -p airlock-core --example hash_bundle -- DIR`
//!
//! Prints a human summary on standard error and one JSON line on standard output:
//! `{"files":N,"bytes":N,"read_s":F,"hash_s":F,"total_s":F,"read_mb_s":F,"hash_mb_s":F,
//! "total_mb_s":F,"bundle_hash":"…"}` (MB = 10^6 bytes).

use airlock_core::bundle::{self, policy::Limits};
use airlock_core::ops::release::hash_bundle;
use airlock_core::progress::Silent;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

fn mb_per_s(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / 1e6 / seconds.max(1e-9)
}

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: hash_bundle DIR");
        return ExitCode::from(2);
    };
    let dir = PathBuf::from(dir);
    let limits = Limits {
        max_total_bytes: u64::MAX / 2,
        max_file_bytes: u64::MAX / 2,
        max_files: 1_000_000,
        forbidden: vec![],
    };

    let started = Instant::now();
    let bundle = match bundle::read(&dir, &limits, vec![]) {
        Ok(bundle) => bundle,
        Err(e) => {
            eprintln!("hash_bundle: {e}");
            return ExitCode::FAILURE;
        }
    };
    let read_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let manifest = hash_bundle("bench", "1.0.0", &bundle, &Silent);
    let hash_s = started.elapsed().as_secs_f64();

    let (files, bytes) = (bundle.files.len() as u64, bundle.total_bytes());
    let total_s = read_s + hash_s;
    eprintln!(
        "{files} files, {bytes} bytes: read {read_s:.3} s ({:.1} MB/s), hash {hash_s:.3} s \
         ({:.1} MB/s), read+hash {total_s:.3} s ({:.1} MB/s)",
        mb_per_s(bytes, read_s),
        mb_per_s(bytes, hash_s),
        mb_per_s(bytes, total_s),
    );
    println!(
        "{{\"files\":{files},\"bytes\":{bytes},\"read_s\":{read_s:.6},\"hash_s\":{hash_s:.6},\
         \"total_s\":{total_s:.6},\"read_mb_s\":{:.3},\"hash_mb_s\":{:.3},\"total_mb_s\":{:.3},\
         \"bundle_hash\":\"{}\"}}",
        mb_per_s(bytes, read_s),
        mb_per_s(bytes, hash_s),
        mb_per_s(bytes, total_s),
        manifest.bundle_hash,
    );
    ExitCode::SUCCESS
}
