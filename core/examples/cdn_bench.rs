//! Times `kpi ingest` on a gigabyte of gzipped CloudFront logs, for `make bench`
//! (bench/cdn_logs.sh, which times `zcat | wc -l` on the same files beside it).
//!
//! - `cdn_bench prepare DIR [GZ_BYTES]`: a workspace in DIR/ws on a local store with two
//!   releases of a 200-file app (1.1.0 rolling out at 20 %), and gzipped CloudFront logs in
//!   DIR/logs until they weigh GZ_BYTES (default 1e9): update checks, blob downloads (2 % of
//!   them failed), manifests, and one malformed line in 100,000. Kept if already there.
//! - `cdn_bench ingest DIR`: a fresh copy of the workspace's registry, then one
//!   `ingest_cdn_logs` over every file; prints one JSON line (seconds, files, lines,
//!   counted, malformed) on standard output.

use airlock_core::config::Config;
use airlock_core::keychain::MemoryKeychain;
use airlock_core::kpi::fleet::{LogPaths, log_file, sample_log_line};
use airlock_core::kpi::policy::{CdnLogSettings, KpiSettings};
use airlock_core::ops::release::ReleaseRequest;
use airlock_core::ops::rollout::PromoteRequest;
use airlock_core::{Attribution, Services, Workspace};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

const FILES_PER_RELEASE: usize = 200;
const LINES_PER_FILE: usize = 100_000;

fn services() -> Services {
    Services {
        keychain: Some(Arc::new(MemoryKeychain::default())),
        ..Services::default()
    }
}

fn bundle(dir: &Path, version: &str) {
    for i in 0..FILES_PER_RELEASE {
        let path = dir.join(format!("js/chunk-{i:03}.js"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // A quarter of the files change between versions.
        let body = if i % 4 == 0 {
            format!("export const chunk{i} = '{version}';\n")
        } else {
            format!("export const chunk{i} = 1;\n")
        };
        std::fs::write(path, body).unwrap();
    }
}

async fn prepare(dir: &Path, gz_bytes: u64) -> airlock_core::Result<()> {
    let logs = dir.join("logs");
    let (ws_dir, store) = (dir.join("ws"), dir.join("store"));
    if !ws_dir.join("airlock.toml").exists() {
        for d in [&ws_dir, &store, &logs] {
            std::fs::create_dir_all(d).unwrap();
        }
        let store = store.canonicalize().unwrap();
        let mut config = Config::new(&format!("file://{}", store.display()), "local:bench");
        config.kpi = Some(KpiSettings {
            cdn_logs: Some(CdnLogSettings {
                store: format!("file://{}", logs.canonicalize().unwrap().display()),
                distributions: vec!["EBENCH".into()],
            }),
            ..KpiSettings::default()
        });
        let keychain = Arc::new(MemoryKeychain::default());
        let with = || Services {
            keychain: Some(keychain.clone()),
            ..Services::default()
        };
        Workspace::init(&ws_dir, config, with(), "alex").await?;
        let ws = Workspace::open(&ws_dir, with()).await?;
        let (alex, sam) = (
            Attribution::new("alex", None)?,
            Attribution::new("sam", None)?,
        );
        for (version, percent) in [("1.0.0", Some(100.0)), ("1.1.0", Some(20.0))] {
            let b = dir.join(format!("bundle-{version}"));
            bundle(&b, version);
            let req = ReleaseRequest {
                app: "shop".into(),
                bundle: b,
                version: version.into(),
                channel: None,
                min_native_version: None,
                description: None,
            };
            ws.release(&alex, &req, &airlock_core::progress::Silent)
                .await?;
            ws.approve(&sam, "shop", version, "Production").await?;
            let promote = PromoteRequest {
                app: "shop".into(),
                from: "Staging".into(),
                to: "Production".into(),
                percent,
                version: Some(version.into()),
            };
            ws.promote(&alex, &promote).await?;
        }
    }
    let have: u64 = std::fs::read_dir(&logs)
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    if have >= gz_bytes {
        eprintln!("{have} bytes of logs already in {}", logs.display());
        return Ok(());
    }
    // The blobs of both releases, as the manifests list them.
    let blobs: Vec<String> = ["1.0.0", "1.1.0"]
        .iter()
        .flat_map(|v| {
            let b = dir.join(format!("bundle-{v}"));
            (0..FILES_PER_RELEASE).map(move |i| {
                let body = std::fs::read(b.join(format!("js/chunk-{i:03}.js"))).unwrap();
                airlock_protocol::digest::sha256_hex(&body)
            })
        })
        .collect();
    let start = std::fs::read_dir(&logs).unwrap().count();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let written = Arc::new(std::sync::atomic::AtomicU64::new(have));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(start));
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let (written, next, blobs, logs) = (written.clone(), next.clone(), &blobs, &logs);
            s.spawn(move || {
                while written.load(std::sync::atomic::Ordering::SeqCst) < gz_bytes {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let bytes = write_file(logs, n, blobs);
                    written.fetch_add(bytes, std::sync::atomic::Ordering::SeqCst);
                }
            });
        }
    });
    eprintln!(
        "wrote {} bytes of gzipped logs in {:.0} s",
        written.load(std::sync::atomic::Ordering::SeqCst) - have,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Log file `n`: an hour of requests, gzipped; returns its size.
fn write_file(logs: &Path, n: usize, blobs: &[String]) -> u64 {
    let hour = 1_800_000_000 + 3600 * n as i64;
    let paths = LogPaths {
        prefix: "/ota".into(),
        host: "d111111abcdef8.cloudfront.net".into(),
    };
    let mut seed = 0x5EED_0000 + n as u64;
    let mut lines = Vec::with_capacity(LINES_PER_FILE);
    for i in 0..LINES_PER_FILE {
        let at = hour + (i * 3600 / LINES_PER_FILE) as i64;
        let pick = (seed >> 7) % 100;
        let line = match pick {
            0..=54 => sample_log_line(
                &mut seed,
                at,
                &paths,
                "apps/shop/channels/Production/pointer.dsse.json",
                200,
                1400,
            ),
            55..=59 => sample_log_line(
                &mut seed,
                at,
                &paths,
                "apps/shop/releases/1.1.0/manifest.json",
                200,
                30_000,
            ),
            _ => {
                let blob = &blobs[(seed >> 17) as usize % blobs.len()];
                let status = if (seed >> 29).is_multiple_of(50) {
                    502
                } else {
                    200
                };
                sample_log_line(
                    &mut seed,
                    at,
                    &paths,
                    &format!("blobs/sha256/{blob}"),
                    status,
                    48_000,
                )
            }
        };
        lines.push(if i % 100_000 == 99_999 {
            "2027-01-15\ttruncated".to_string()
        } else {
            line
        });
    }
    let t = airlock_protocol::time::Timestamp::from_unix(hour)
        .unwrap()
        .to_string();
    let name = format!("EBENCH.{}-{}.{n:08x}.gz", &t[..10], &t[11..13]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(log_file(&lines).as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    std::fs::write(logs.join(name), &bytes).unwrap();
    bytes.len() as u64
}

async fn ingest(dir: &Path) -> airlock_core::Result<()> {
    let ws_dir = dir.join("ws");
    let run = dir.join("run");
    let _ = std::fs::remove_dir_all(&run);
    std::fs::create_dir_all(&run).unwrap();
    // A copy of the workspace whose registry has read no log yet.
    std::fs::copy(ws_dir.join("airlock.toml"), run.join("airlock.toml")).unwrap();
    let ws = Workspace::open(&run, services()).await?;
    ws.sync().await?;
    let t = Instant::now();
    let r = ws.ingest_cdn_logs().await?;
    let seconds = t.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "seconds": seconds,
            "files": r.files,
            "lines": r.lines,
            "counted": r.counted,
            "unattributed": r.unattributed,
            "malformed": r.malformed,
        })
    );
    Ok(())
}

#[tokio::main]
async fn main() -> airlock_core::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: cdn_bench prepare DIR [GZ_BYTES] | cdn_bench ingest DIR";
    let verb = args.next().expect(usage);
    let dir = PathBuf::from(args.next().expect(usage));
    match verb.as_str() {
        "prepare" => {
            let gz: u64 = args
                .next()
                .map_or(1_000_000_000, |n| n.parse().expect("a byte count"));
            prepare(&dir, gz).await
        }
        "ingest" => ingest(&dir).await,
        _ => panic!("{usage}"),
    }
}
