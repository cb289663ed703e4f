//! Draws the five KPI panels from a month of per-minute numbers (charts::data::sample_month)
//! and reports how long drawing takes, re-binning included: `make bench` runs it in release
//! mode. With `--out DIR` it also writes each panel as SVG and PNG (to look at them).
//! Usage: chart_month [--runs N] [--out DIR] [--theme light|dark]

use airlock_core::charts::data::sample_month;
use airlock_core::charts::{Panel, Theme, panels, png};
use airlock_core::kpi::policy::KpiSettings;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let runs: usize = arg("--runs").and_then(|r| r.parse().ok()).unwrap_or(11);
    let theme = match arg("--theme").as_deref() {
        Some("dark") => Theme::Dark,
        _ => Theme::Light,
    };
    // The default gate: all ten KPIs in force.
    let policy = KpiSettings::default()
        .policy("Production")
        .expect("the default policy");
    let d = sample_month(policy);
    let mut times = Vec::new();
    let mut charts = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        charts = panels::draw_all(&d, &Panel::ALL, theme, 880).expect("the charts");
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let replay_start = Instant::now();
    let _ = panels::Replay::of(&d, 880);
    let replay_ms = replay_start.elapsed().as_secs_f64() * 1000.0;
    let median = times[times.len() / 2];
    println!(
        "{{\"bins\": {}, \"runs\": {runs}, \"median_ms\": {median:.1}, \"min_ms\": {:.1}, \"max_ms\": {:.1}, \"replay_ms\": {replay_ms:.1}, \"svg_bytes\": {}}}",
        d.bins,
        times[0],
        times[times.len() - 1],
        charts.iter().map(|c| c.svg.len()).sum::<usize>()
    );
    if let Some(dir) = arg("--out") {
        std::fs::create_dir_all(&dir).expect("the output folder");
        for c in &charts {
            let base = format!("{dir}/{}", c.panel.key());
            std::fs::write(format!("{base}.svg"), &c.svg).expect("write the SVG");
            std::fs::write(format!("{base}.png"), png::png(&c.svg, 1.0).expect("a PNG"))
                .expect("write the PNG");
        }
    }
}
