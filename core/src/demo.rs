//! The demo workspace behind the console's "Try the demo": a local folder as the bucket, a
//! local signing key in the keychain, and two sample apps whose releases stand at different
//! stages — made through the engine itself (release, approve by a second person, promote,
//! expand), so what a newcomer sees is a real log, really signed.
//!
//! - `checkout`: 1.0.0 and then 1.1.0 shipped to everyone in Production (1.0.0 is its
//!   rollback target), 1.2.0 rolling out at 20 % of Production.
//! - `loyalty`: 2.0.0 current in Production, 2.1.0 in Staging waiting for an approval.
//! - `bundles/loyalty-2.2.0-with-source-maps`: a bundle that fails the policy gates (it
//!   ships source maps), to see a gate report by publishing it.
//!
//! The history is spread over the last two days by a clock that steps forward, so the
//! console's times and charts read like a real week's work. A simulated fleet of 4,000
//! devices (kpi/fleet.rs) has run `checkout` for the last twelve hours of its 20 % step: its CloudFront
//! logs (`cdn-logs/`) and its crash-tool export are read in, so the canary gate and
//! `airlock analyze` have numbers without a Prometheus.

use crate::clock::{Clock, ManualClock};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::kpi::fleet::Scenario;
use crate::kpi::policy::{CdnLogSettings, KpiSettings};
use crate::kpi::samples::{Columns, Format, ImportRequest};
use crate::ops::release::ReleaseRequest;
use crate::ops::rollout::{ExpandTo, PromoteRequest};
use crate::workspace::{Attribution, Services, Workspace};
use airlock_protocol::time::Timestamp;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Who acts in the demo: the release manager, and the engineer who approves.
pub const RELEASE_MANAGER: &str = "alex";
pub const APPROVER: &str = "sam";
/// The demo's signing key in the keychain (`local:<name>`), apart from any real one.
pub const KEY_NAME: &str = "airlock-demo";

/// Where the demo's pieces are.
#[derive(Clone, Debug, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Demo {
    pub workspace: PathBuf,
    pub bundles: PathBuf,
    /// The bundle that fails the gates.
    pub bad_bundle: PathBuf,
}

/// One sample bundle: an index page and a script naming its version, plus `extra` files.
fn write_bundle(dir: &Path, app: &str, version: &str, extra: &[(&str, usize)]) -> Result<()> {
    let write = |rel: &str, bytes: &[u8]| -> Result<()> {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
        }
        std::fs::write(&path, bytes).map_err(|e| Error::io("write", &path, e))
    };
    write(
        "index.html",
        b"<!doctype html><meta charset=utf-8><script src=\"js/app.js\"></script>\n",
    )?;
    write(
        "js/app.js",
        format!("console.log({:?});\n", format!("{app} {version}")).as_bytes(),
    )?;
    write(
        "assets/logo.svg",
        b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n",
    )?;
    for (rel, size) in extra {
        let body: Vec<u8> = format!("/* {app} {version} {rel} */\n")
            .bytes()
            .cycle()
            .take(*size)
            .collect();
        write(rel, &body)?;
    }
    Ok(())
}

/// Creates the demo in `dir` (which must not hold a workspace yet). `services` supplies the
/// keychain (the OS keychain when `None`), as for any workspace.
pub async fn create(dir: &Path, services: Services) -> Result<Demo> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    let bundles = dir.join("bundles");
    let workspace = dir.join("workspace");
    std::fs::create_dir_all(&workspace).map_err(|e| Error::io("create", &workspace, e))?;
    let bucket = dir.join("bucket");
    std::fs::create_dir_all(&bucket).map_err(|e| Error::io("create", &bucket, e))?;
    let bucket = bucket
        .canonicalize()
        .map_err(|e| Error::io("resolve", &bucket, e))?;

    let big = [("assets/catalog.json", 180_000), ("js/vendor.js", 320_000)];
    let versions = [
        ("checkout", "1.0.0", &big[..1]),
        ("checkout", "1.1.0", &big[..]),
        ("checkout", "1.2.0", &big[..]),
        ("loyalty", "2.0.0", &big[..1]),
        ("loyalty", "2.1.0", &big[..1]),
    ];
    for (app, version, extra) in versions {
        write_bundle(
            &bundles.join(format!("{app}-{version}")),
            app,
            version,
            extra,
        )?;
    }
    let bad_bundle = bundles.join("loyalty-2.2.0-with-source-maps");
    write_bundle(&bad_bundle, "loyalty", "2.2.0", &[("js/app.js.map", 2_000)])?;

    // Two days ago, stepping forward an hour or more per action.
    let start = Timestamp::from_unix(crate::clock::SystemClock.now().unix() - 2 * 86_400)?;
    let clock = Arc::new(ManualClock::new(start));
    let mut config = Config::new(
        &format!("file://{}", bucket.display()),
        &format!("local:{KEY_NAME}"),
    );
    config.actor = Some(RELEASE_MANAGER.into());
    let cdn_logs = dir.join("cdn-logs");
    std::fs::create_dir_all(&cdn_logs).map_err(|e| Error::io("create", &cdn_logs, e))?;
    let cdn_logs = cdn_logs
        .canonicalize()
        .map_err(|e| Error::io("resolve", &cdn_logs, e))?;
    let cdn_logs = format!("file://{}", cdn_logs.display());
    config.kpi = Some(KpiSettings {
        // Download success needs more downloads than a small fleet makes in a day before
        // it can show anything (docs/KPIS.md, min-expected-events); the logs still give
        // `airlock analyze` its numbers.
        kpis: Some(vec!["crash-free".into(), "js-errors".into()]),
        cdn_logs: Some(CdnLogSettings {
            store: cdn_logs.clone(),
            // What `airlock simulate` names the logs of channels without a CloudFront.
            distributions: vec!["EAIRLOCKSIMULATED".into()],
        }),
        ..KpiSettings::default()
    });
    if let Some(p) = config.channels.get_mut("Production") {
        p.plan = vec![5.0, 20.0, 50.0, 100.0];
    }
    let keychain = services.keychain.clone();
    let with_clock = || Services {
        keychain: keychain.clone(),
        clock: Some(clock.clone() as Arc<dyn Clock>),
        ..Services::default()
    };
    Workspace::init(&workspace, config, with_clock(), RELEASE_MANAGER).await?;
    let ws = Workspace::open(&workspace, with_clock()).await?;
    let alex = Attribution::new(RELEASE_MANAGER, None)?;
    let sam = Attribution::new(APPROVER, Some("read the diff; looks good"))?;
    let descriptions = [
        "Faster checkout page",
        "Apple Pay button; catalog cache",
        "New address form",
        "Points balance on the home screen",
        "Birthday rewards",
    ];
    for ((app, version, _), description) in versions.iter().zip(descriptions) {
        clock.advance(3 * 3600);
        ws.release(
            &alex,
            &ReleaseRequest {
                app: app.to_string(),
                bundle: bundles.join(format!("{app}-{version}")),
                version: version.to_string(),
                channel: None,
                min_native_version: Some("3.2.0".into()),
                description: Some(description.into()),
            },
            &crate::progress::Silent,
        )
        .await?;
        if *version == "2.1.0" {
            break; // waits in Staging for an approval
        }
        clock.advance(3600);
        ws.approve(&sam, app, version, "Production").await?;
        clock.advance(1800);
        let full = *version != "1.2.0";
        ws.promote(
            &alex,
            &PromoteRequest {
                app: app.to_string(),
                from: "Staging".into(),
                to: "Production".into(),
                percent: full.then_some(100.0),
                version: None,
            },
        )
        .await?;
        if !full {
            clock.advance(5 * 3600);
            ws.expand(&alex, app, "Production", ExpandTo::Next).await?;
        }
    }
    fleet_numbers(&ws, dir, &cdn_logs).await?;
    Ok(Demo {
        workspace,
        bundles,
        bad_bundle,
    })
}

/// Plays the demo's fleet on `checkout` from its rollout step's start to now and reads
/// what it reported: the CDN logs (`kpi ingest`) and the crash-tool export (`kpi import`).
async fn fleet_numbers(ws: &Workspace, dir: &Path, cdn_logs: &str) -> Result<()> {
    let state = ws.load("checkout").await?;
    let Some(step) = state.channel("Production").rollout.map(|r| r.started_at) else {
        return Ok(());
    };
    // The last twelve hours of the step at most: enough to judge, quick to play.
    let now = crate::clock::SystemClock.now();
    let step = step.max(now.plus_seconds(-12 * 3600));
    let scenario = Scenario {
        devices: 12_000,
        sessions_per_hour: 1.5,
        native_version: Some("3.4.0".into()),
        seed: 7,
        ..Scenario::default()
    };
    let mut fleet = ws
        .new_fleet("checkout", "Production", scenario, step)
        .await?;
    let logs = ws.log_store(cdn_logs)?;
    let (played, _) = ws.play_fleet(&mut fleet, now, Some(&logs)).await?;
    let export = dir.join("checkout-crash-export.csv");
    std::fs::write(&export, played.crash_export()).map_err(|e| Error::io("write", &export, e))?;
    ws.import_kpi(&ImportRequest {
        file: export,
        app: "checkout".into(),
        channel: "Production".into(),
        format: Some(Format::Csv),
        columns: Columns::default(),
        bucket_minutes: 60,
    })
    .await?;
    ws.ingest_cdn_logs().await?;
    Ok(())
}
