//! The weekly rollup of a fixed history (a manual clock, an in-memory KPI source) against
//! an expected file: releases with their descriptions, health against targets with ✓ and
//! ✗, adoption 24 h and 48 h after 100 %, an incident with its duration and time to fix,
//! what is staged next. The .eml is read back by Python's `email` package: multipart/
//! alternative, a plain-text and an HTML part, the HTML's image found by its Content-ID.
//! Set AIRLOCK_BLESS=1 to rewrite the expected file after a deliberate change.

mod common;

use airlock_core::charts::{Panel, Theme, png};
use airlock_core::kpi::policy::KpiSettings;
use airlock_core::kpi::source::{Counter, Latency, MemorySource};
use airlock_core::ops::incident::OpenRequest;
use airlock_core::ops::kpi_charts::ChartRequest;
use airlock_core::ops::rollup::{Week, eml, html, markdown};
use common::*;

const HOUR: i64 = 3600;

/// An hour of numbers at `at` for `version`: sessions with a crash rate, downloads with a
/// failure rate, installs under 2.5 s, and `devices` active.
fn hour(
    src: &MemorySource,
    version: &str,
    at: airlock_protocol::time::Timestamp,
    sessions: f64,
    crash: f64,
    devices: f64,
) {
    src.add(Counter::Sessions, version, at, sessions);
    src.add(
        Counter::CrashedSessions,
        version,
        at,
        (sessions * crash).round(),
    );
    src.add(
        Counter::JsErrorSessions,
        version,
        at,
        (sessions * 0.001).round(),
    );
    src.add(Counter::Downloads, version, at, sessions / 5.0);
    src.add(
        Counter::DownloadFailures,
        version,
        at,
        (sessions / 5.0 * 0.004).round(),
    );
    let n = sessions / 5.0;
    src.observe(
        Latency::InstallDuration,
        version,
        at,
        vec![
            (1.0, n * 0.6),
            (2.5, n * 0.97),
            (5.0, n),
            (f64::INFINITY, n),
        ],
    );
    src.set_active(version, at, devices);
}

#[tokio::test]
async fn the_weekly_rollup_of_a_fixed_history() {
    let env = Env::with_config(|c| {
        c.kpi = Some(KpiSettings {
            kpis: Some(vec!["crash-free".into()]),
            ..KpiSettings::default()
        });
    });
    let ws = env.console().await;
    let src = MemorySource::of(APP, PRODUCTION);
    // Friday 2027-01-15 08:00: 1.0.0 ships; 1.1.0 rolls out at 5 % on Saturday, crashes,
    // an incident is opened and it is reverted; 1.2.0 ships on Sunday; 1.3.0 waits in
    // Staging.
    let described = |version: &str, description: &str| {
        let version = version.to_string();
        let description = description.to_string();
        let ws = &ws;
        async move {
            let dir = app_bundle(&version);
            let mut req = release_request(APP, &version, dir.path());
            req.description = Some(description);
            ws.release(&by("ana"), &req, &airlock_core::progress::Silent)
                .await
                .unwrap();
        }
    };
    described("1.0.0", "New checkout flow with saved cards").await;
    ws.approve(&by("ben"), APP, "1.0.0", PRODUCTION)
        .await
        .unwrap();
    ws.promote(&by("ana"), &promotion("1.0.0", Some(100.0)))
        .await
        .unwrap();
    let start = env.now();
    // 1.0.0 alone until Sunday 06:00, 1.1.0 on 5 % for its two hours.
    for h in 0..46 {
        let at = start.plus_seconds(h * HOUR);
        let on_1_1 = h == 24 || h == 25;
        hour(
            &src,
            "1.0.0",
            at,
            if on_1_1 { 950.0 } else { 1000.0 },
            0.002,
            800.0,
        );
        if on_1_1 {
            hour(&src, "1.1.0", at, 50.0, 0.06, 40.0);
        }
    }
    env.clock.advance(24 * HOUR);
    described("1.1.0", "Faster image loading on the product page").await;
    ws.approve(&by("ben"), APP, "1.1.0", PRODUCTION)
        .await
        .unwrap();
    ws.promote(&by("ana"), &promotion("1.1.0", None))
        .await
        .unwrap();
    env.clock.advance(HOUR);
    let seen = airlock_core::Attribution::new("ana", Some("1.1.0 crashes on start on Android 14"))
        .unwrap();
    let opened = ws
        .open_incident(
            &seen,
            &OpenRequest {
                app: APP.into(),
                channel: Some(PRODUCTION.into()),
                version: Some("1.1.0".into()),
                severity: 2,
            },
        )
        .await
        .unwrap();
    let number = opened.entry.entry.seq;
    env.clock.advance(HOUR);
    ws.revert(&by("ana"), APP, PRODUCTION).await.unwrap();
    env.clock.advance(20 * HOUR);
    described("1.2.0", "Fixes the crash at start on Android 14").await;
    ws.approve(&by("ben"), APP, "1.2.0", PRODUCTION)
        .await
        .unwrap();
    ws.promote(&by("ana"), &promotion("1.2.0", Some(100.0)))
        .await
        .unwrap();
    let fixed = env.now();
    for h in 0..72 {
        let share = (0.5 + h as f64 / 60.0).min(0.97);
        hour(
            &src,
            "1.2.0",
            fixed.plus_seconds(h * HOUR),
            1000.0 * share,
            0.003,
            800.0 * share,
        );
        hour(
            &src,
            "1.0.0",
            fixed.plus_seconds(h * HOUR),
            1000.0 * (1.0 - share),
            0.002,
            800.0 * (1.0 - share),
        );
    }
    env.clock.advance(2 * HOUR);
    let closer = airlock_core::Attribution::new("ben", Some("fixed in 1.2.0")).unwrap();
    ws.close_incident(&closer, APP, number).await.unwrap();
    described("1.3.0", "Gift cards at checkout").await;
    env.clock.advance(60 * HOUR);

    let week = Week::parse("2027-W02").unwrap();
    let rollup = ws.weekly_rollup(week, None, Some(&src)).await.unwrap();
    assert_eq!(rollup.title, "OTA Weekly Rollup — Jan 11–17, 2027");
    let text = markdown(&rollup);
    let expected =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rollup-2027-W02.md");
    if std::env::var_os("AIRLOCK_BLESS").is_some() {
        std::fs::write(&expected, &text).unwrap();
    }
    let want = std::fs::read_to_string(&expected)
        .expect("the expected rollup (AIRLOCK_BLESS=1 writes it)");
    assert_eq!(
        text, want,
        "the rollup of a fixed history does not change by itself"
    );

    // The message, with the adoption chart inline.
    let req = ChartRequest {
        app: APP.into(),
        channel: PRODUCTION.into(),
        from: Some(week.start().unwrap()),
        to: Some(week.end().unwrap()),
        theme: Theme::Light,
        width: 640,
    };
    let chart = ws
        .kpi_charts(&req, &[Panel::Adoption], &src)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert!(chart.empty.is_none(), "the week has sessions");
    let picture = png::png(&chart.svg, 1.0).unwrap();
    let page = html(&rollup, Some(&chart.name));
    let message = eml(&rollup, &text, &page, Some(&picture), env.now()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rollup.eml");
    std::fs::write(&path, &message).unwrap();
    let script = r#"
import email, sys
from email import policy
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=policy.default)
assert m["Subject"] == "OTA Weekly Rollup — Jan 11–17, 2027", m["Subject"]
assert m.get_content_type() == "multipart/alternative", m.get_content_type()
parts = list(m.iter_parts())
assert [p.get_content_type() for p in parts] == ["text/plain", "multipart/related"], [p.get_content_type() for p in parts]
assert "1.2.0" in parts[0].get_content()
related = list(parts[1].iter_parts())
html = related[0].get_content()
assert related[0].get_content_type() == "text/html"
assert 'src="cid:adoption-chart"' in html, html[:300]
img = related[1]
assert img.get_content_type() == "image/png" and img["Content-ID"].strip("<>") == "adoption-chart", img["Content-ID"]
assert img.get_content()[:8] == b"\x89PNG\r\n\x1a\n"
assert "<svg" not in html, "mail clients do not show SVG"
print("ok")
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "Python's email package reads the rollup: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
