//! Times what the console waits on, for `make bench` (bench/console.sh): on a local store
//! with RELEASES releases across APPS apps (made through the engine, in WORKSPACE/…),
//!  - the overview read of every app (what the home screen draws), from the registry;
//!  - a first sync of a second desktop (its own registry) that brings every entry;
//!  - a sync that brings 1,000 new entries (approvals written by the first desktop);
//!  - the rollout chart over every entry of the log (fold + SVG).
//!
//! Usage: `cargo run --release -p airlock-core --example console_reads -- DIR [RELEASES] [APPS]`
//! DIR must not exist. Prints one JSON line on standard output; progress on standard error.
//! The workspace is left in DIR/desktop-a for the launch benchmark (bench/console_launch.py).

use airlock_core::config::Config;
use airlock_core::keychain::MemoryKeychain;
use airlock_core::ops::release::ReleaseRequest;
use airlock_core::{Attribution, Services, Workspace};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[tokio::main]
async fn main() -> airlock_core::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .expect("usage: console_reads DIR [RELEASES] [APPS]"),
    );
    let releases: usize = args.next().map_or(10_000, |n| n.parse().expect("a count"));
    let apps: usize = args.next().map_or(20, |n| n.parse().expect("a count"));
    let keychain = Arc::new(MemoryKeychain::default());
    let services = || Services {
        keychain: Some(keychain.clone()),
        ..Services::default()
    };
    let bucket = dir.join("bucket");
    std::fs::create_dir_all(&bucket).expect("bench folder");
    let bucket = bucket.canonicalize().expect("bench folder");
    let a = dir.join("desktop-a");
    std::fs::create_dir_all(&a).expect("bench folder");
    let mut config = Config::new(&format!("file://{}", bucket.display()), "local:bench");
    config.actor = Some("alex".into());
    Workspace::init(&a, config, services(), "alex").await?;
    let ws = Workspace::open(&a, services()).await?;
    let alex = Attribution::new("alex", None)?;
    let bundle = dir.join("bundle");
    std::fs::create_dir_all(bundle.join("js")).expect("bundle folder");
    let started = Instant::now();
    for i in 0..releases {
        let app = format!("app-{:02}", i % apps);
        let version = format!("1.{}.0", i / apps);
        std::fs::write(
            bundle.join("js/app.js"),
            format!("console.log('{app} {version}');\n"),
        )
        .expect("bundle file");
        std::fs::write(bundle.join("index.html"), "<!doctype html>\n").expect("bundle file");
        ws.release(
            &alex,
            &ReleaseRequest {
                app,
                bundle: bundle.clone(),
                version,
                channel: None,
                min_native_version: None,
                description: Some("bench".into()),
            },
            &airlock_core::progress::Silent,
        )
        .await?;
        if (i + 1) % 1000 == 0 {
            eprintln!(
                "{} releases in {:.0} s",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let made_s = started.elapsed().as_secs_f64();

    let t = Instant::now();
    let overview = ws.overview().await?;
    let overview_s = t.elapsed().as_secs_f64();
    assert_eq!(overview.len(), apps, "every app is on the overview");

    // A second desktop on the same bucket, with its own registry.
    let b = dir.join("desktop-b");
    std::fs::create_dir_all(&b).expect("bench folder");
    std::fs::copy(a.join("airlock.toml"), b.join("airlock.toml")).expect("config copy");
    let other = Workspace::open(&b, services()).await?;
    let t = Instant::now();
    let first: u64 = other.sync().await?.iter().map(|s| s.new_entries).sum();
    let first_sync_s = t.elapsed().as_secs_f64();

    let sam = Attribution::new("sam", None)?;
    let per_app = 1000 / apps;
    for n in 0..per_app {
        for k in 0..apps {
            ws.approve(
                &sam,
                &format!("app-{k:02}"),
                &format!("1.{n}.0"),
                "Production",
            )
            .await?;
        }
    }
    let t = Instant::now();
    let new: u64 = other.sync().await?.iter().map(|s| s.new_entries).sum();
    let sync_s = t.elapsed().as_secs_f64();
    assert_eq!(
        new as usize,
        per_app * apps,
        "the sync brings every new entry"
    );

    let mut entries = Vec::new();
    for k in 0..apps {
        entries.extend(ws.registry().entries(&format!("app-{k:02}")).await?);
    }
    let t = Instant::now();
    let points = airlock_core::charts::rollout_points(&entries, "Staging");
    let svg = airlock_core::charts::rollout_svg(
        "bench · Staging",
        &points,
        ws.now().unix(),
        airlock_core::charts::Size::default(),
    )?;
    let chart_s = t.elapsed().as_secs_f64();

    println!(
        "{}",
        serde_json::json!({
            "releases": releases, "apps": apps, "make_s": made_s,
            "overview_read_s": overview_s,
            "first_sync_entries": first, "first_sync_s": first_sync_s,
            "sync_entries": new, "sync_s": sync_s,
            "chart_entries": entries.len(), "chart_points": points.len(),
            "chart_svg_bytes": svg.len(), "chart_s": chart_s,
        })
    );
    Ok(())
}
