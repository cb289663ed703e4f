//! The five KPI panels, each drawn from [`ChartData`] after re-binning to about one bin per
//! six pixels: the SVG, its hit map and its table hold the same numbers.
//!
//! - Adoption: each version's share of the channel's sessions per bin (the climb), and the
//!   last bin's split (top five and "other") as bars beside it.
//! - Download success, with the KPI's target, warning and critical lines; y zoomed.
//! - Install time p95, drawn as the histogram bucket it lies in, with its lines.
//! - Crash-free sessions of the rollout against its baseline, from the rollout's start,
//!   each with the judge's confidence band, and the limits.
//! - The verdict over time: per judged KPI, the candidate-to-baseline ratio and its
//!   interval at every look, the KPI's boundary, and where a decision was reached.

use super::data::ChartData;
use super::frame::{self, Axes, Colors, Key, Level, Point, TimeChart};
use super::looks::{self, Look};
use super::{Hit, KpiChart, Panel, Table, Theme, draw_err, named, rebin};
use crate::error::Result;
use crate::kpi::judge::{KpiOutcome, KpiVerdict};
use crate::kpi::policy::{Kpi, Limits};
use crate::kpi::source::{Counter, Latency};
use crate::kpi::words::count;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Below this many sessions (downloads, installs) in a bin its rate is drawn faded.
const THIN: f64 = 50.0;
/// Below this many sessions a look's crash-free rate is drawn faded.
const THIN_LOOK: f64 = 200.0;

/// About one drawn bin per six pixels of width.
pub fn target_bins(width: u32) -> usize {
    (width as usize / 6).clamp(12, 240)
}

/// How many looks the crash-free and verdict panels replay over a rollout's span.
pub fn target_looks(width: u32) -> usize {
    (target_bins(width) / 3).max(12)
}

/// The judge's looks over `d`'s rollout, every KPI in force, and the seconds between them:
/// computed once for the crash-free and verdict panels.
#[derive(Clone, Debug)]
pub struct Replay {
    looks: Vec<Look>,
    seconds: i64,
}

impl Replay {
    pub fn of(d: &ChartData, width: u32) -> Replay {
        let (looks, seconds) = looks::looks(d, target_looks(width), &[]);
        Replay { looks, seconds }
    }
}

/// Draws `panel` from `d`.
pub fn draw(d: &ChartData, panel: Panel, theme: Theme, width: u32) -> Result<KpiChart> {
    let replay = matches!(panel, Panel::CrashFree | Panel::Verdict).then(|| Replay::of(d, width));
    draw_with(d, panel, theme, width, replay.as_ref())
}

/// Draws every panel of `panels` from `d`, replaying the judge once.
pub fn draw_all(
    d: &ChartData,
    panels: &[Panel],
    theme: Theme,
    width: u32,
) -> Result<Vec<KpiChart>> {
    let replay = panels
        .iter()
        .any(|p| matches!(p, Panel::CrashFree | Panel::Verdict))
        .then(|| Replay::of(d, width));
    panels
        .iter()
        .map(|p| draw_with(d, *p, theme, width, replay.as_ref()))
        .collect()
}

fn draw_with(
    d: &ChartData,
    panel: Panel,
    theme: Theme,
    width: u32,
    replay: Option<&Replay>,
) -> Result<KpiChart> {
    let empty = Replay {
        looks: Vec::new(),
        seconds: d.step,
    };
    let replay = replay.unwrap_or(&empty);
    let exposure = match panel {
        Panel::DownloadSuccess => Counter::Downloads,
        _ => Counter::Sessions,
    };
    let k = rebin::fit(
        &total(d, exposure, 1),
        rebin::factor(d.bins, target_bins(width)),
    );
    let mut out = Drawing {
        svg: String::new(),
        hits: Vec::new(),
        table: Table::default(),
        empty: None,
        height: 300,
        bin_seconds: None,
    };
    let colors = Colors::of(theme);
    match panel {
        Panel::Adoption => adoption(d, k, &colors, width, &mut out)?,
        Panel::DownloadSuccess => download_success(d, k, &colors, width, &mut out)?,
        Panel::InstallTime => install_time(d, k, &colors, width, &mut out)?,
        Panel::CrashFree => crash_free(d, replay, &colors, width, &mut out)?,
        Panel::Verdict => verdict(d, replay, &colors, width, &mut out)?,
    }
    let name = format!("{}, {}", panel.title(), d.channel);
    Ok(KpiChart {
        panel,
        svg: named(std::mem::take(&mut out.svg), &name),
        name,
        width,
        height: out.height,
        hits: out.hits,
        table: out.table,
        empty: out.empty,
        bin_seconds: out.bin_seconds.unwrap_or(d.step * k as i64) as f64,
    })
}

struct Drawing {
    svg: String,
    hits: Vec<Hit>,
    table: Table,
    empty: Option<String>,
    height: u32,
    /// Seconds per drawn bin when the panel re-bins on its own (over the rollout's span).
    bin_seconds: Option<i64>,
}

/// When drawn bin `j` ends (the last one at the range's last whole fine bin).
fn bin_end(d: &ChartData, k: usize, j: usize) -> i64 {
    let fine_end = d.from + d.bins as i64 * d.step;
    (d.from + (j as i64 + 1) * d.step * k as i64).min(fine_end)
}

/// `what` summed over every version, re-binned.
fn total(d: &ChartData, what: Counter, k: usize) -> Vec<f64> {
    let mut sum = vec![0.0; d.bins.div_ceil(k)];
    for series in d.counts(what).values() {
        for (s, v) in sum.iter_mut().zip(rebin::sum_counts(series, k)) {
            *s += v;
        }
    }
    sum
}

fn percent(v: f64) -> String {
    if (99.0..100.0).contains(&v) {
        format!("{v:.2} %")
    } else {
        format!("{v:.1} %")
    }
}

fn seconds(v: f64) -> String {
    if v.is_infinite() {
        "∞".into()
    } else if v < 1.0 {
        format!("{:.0} ms", v * 1000.0)
    } else {
        format!("{v:.1} s")
    }
}

fn svg_root(svg: &mut String, width: u32, height: u32) -> DrawingArea<SVGBackend<'_>, Shift> {
    SVGBackend::with_string(svg, (width, height)).into_drawing_area()
}

fn limits_of(d: &ChartData, kpi: Kpi) -> Limits {
    d.policy
        .kpis
        .iter()
        .find(|(k, _)| *k == kpi)
        .map_or_else(|| kpi.default_limits(), |(_, l)| *l)
}

/// The limit lines of a bad rate, drawn as its good complement in percent.
fn good_lines(l: &Limits) -> Vec<(Level, f64)> {
    let mut lines = Vec::new();
    if l.relative_to_baseline {
        return lines;
    }
    for (level, v) in [
        (Level::Target, l.target),
        (Level::Warning, l.warning),
        (Level::Critical, l.critical),
    ] {
        if let Some(v) = v {
            lines.push((level, 100.0 * (1.0 - v)));
        }
    }
    lines
}

fn hit<DB: DrawingBackend>(
    chart: &TimeChart<'_, DB>,
    x: i64,
    y: f64,
    series: &str,
    value: String,
) -> Hit {
    let (px, py) = frame::pixel(chart, x, y);
    Hit {
        x: px,
        y: py,
        at: x as f64,
        series: series.to_string(),
        value,
    }
}

/// A version as people read it: the built-in bundle by name.
fn shown(version: &str) -> String {
    if version == crate::ops::kpi_charts::BUILT_IN {
        "built-in bundle".into()
    } else {
        version.to_string()
    }
}

fn adoption(d: &ChartData, k: usize, c: &Colors, width: u32, out: &mut Drawing) -> Result<()> {
    let n = d.bins.div_ceil(k);
    let by: Vec<(String, Vec<f64>)> = d
        .counts(Counter::Sessions)
        .iter()
        .map(|(v, s)| (v.clone(), rebin::sum_counts(s, k)))
        .collect();
    let totals: Vec<f64> = (0..n)
        .map(|j| {
            by.iter()
                .map(|(_, s)| s.get(j).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let last = totals.iter().rposition(|t| *t > 0.0);
    // The five versions with the most sessions in the last bin with any (then overall).
    let mut ranked: Vec<(&String, f64, f64)> = by
        .iter()
        .map(|(v, s)| {
            let at_last = last.and_then(|j| s.get(j)).copied().unwrap_or(0.0);
            (v, at_last, s.iter().sum::<f64>())
        })
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.2.total_cmp(&a.2)));
    let top: Vec<&String> = ranked.iter().take(5).map(|r| r.0).collect();
    let share = |v: &str, j: usize| -> Option<f64> {
        let t = totals[j];
        (t > 0.0).then(|| 100.0 * by.iter().find(|(x, _)| x == v).map_or(0.0, |(_, s)| s[j]) / t)
    };
    let other = |j: usize| -> Option<f64> {
        let t = totals[j];
        (t > 0.0).then(|| 100.0 - top.iter().filter_map(|v| share(v, j)).sum::<f64>())
    };
    let has_other = ranked.len() > 5;
    out.table.columns = std::iter::once("bin ends".to_string())
        .chain(top.iter().map(|v| shown(v)))
        .chain(has_other.then(|| "other".to_string()))
        .chain(std::iter::once("sessions".into()))
        .collect();
    for (j, total) in totals.iter().enumerate() {
        let mut row = vec![frame::when(bin_end(d, k, j))];
        row.extend(top.iter().map(|v| share(v, j).map_or("–".into(), percent)));
        if has_other {
            row.push(other(j).map_or("–".into(), percent));
        }
        row.push(count(*total));
        out.table.rows.push(row);
    }
    let split_width = 230;
    let root = svg_root(&mut out.svg, width, out.height);
    root.fill(&c.background).map_err(draw_err)?;
    let (left, right) = root.split_horizontally(width - split_width);
    let axes = Axes {
        x: d.from..d.to,
        origin: None,
        y: 0.0..100.0,
        x_desc: "time (UTC)".into(),
        y_desc: "share of sessions (%)".into(),
        y_format: &|v| format!("{v:.0} %"),
    };
    let mut chart = frame::frame(
        &left,
        "Adoption: each release's share of sessions",
        &axes,
        c,
        width - split_width,
    )?;
    frame::marks(&mut chart, &d.marks, c, true)?;
    if last.is_none() {
        out.empty = Some(format!(
            "No sessions reported in {} for this range.",
            d.channel
        ));
        frame::no_data(&mut chart, out.empty.as_deref().unwrap_or_default(), c)?;
    }
    let mut keys = Vec::new();
    let mut series: Vec<(String, Vec<Option<f64>>)> = top
        .iter()
        .map(|v| (shown(v), (0..n).map(|j| share(v, j)).collect()))
        .collect();
    if has_other {
        series.push(("other".into(), (0..n).map(other).collect()));
    }
    for (i, (name, values)) in series.iter().enumerate() {
        let color = if name == "other" {
            c.muted
        } else {
            c.series(i)
        };
        let points: Vec<Option<Point>> = values
            .iter()
            .enumerate()
            .map(|(j, v)| {
                v.map(|y| Point {
                    x: bin_end(d, k, j),
                    y,
                    thin: totals[j] < THIN,
                })
            })
            .collect();
        frame::line(&mut chart, &points, color)?;
        for (j, p) in points.iter().enumerate() {
            if let Some(p) = p {
                let value = format!("{} of {} sessions", percent(p.y), count(totals[j]));
                out.hits.push(hit(&chart, p.x, p.y, name, value));
            }
        }
        keys.push(Key {
            name: name.clone(),
            color,
            band: false,
        });
    }
    frame::legend(&left, &keys, c, width - split_width)?;
    // The current split, as bars.
    if let Some(j) = last {
        let title = ("sans-serif", 13).into_font().color(&c.text);
        right
            .draw(&Text::new(
                format!(
                    "Split at {}",
                    frame::tick_label(bin_end(d, k, j), 60, None, true)
                ),
                (10, 8),
                title,
            ))
            .map_err(draw_err)?;
        let bar_w = f64::from(split_width - 24);
        for (i, (name, values)) in series.iter().enumerate() {
            let v = values[j].unwrap_or(0.0);
            let y = 40 + i as i32 * 34;
            let color = if name == "other" {
                c.muted
            } else {
                c.series(i)
            };
            right
                .draw(&Rectangle::new(
                    [
                        (10, y + 14),
                        (10 + (bar_w * v / 100.0).round() as i32 + 1, y + 26),
                    ],
                    color.filled(),
                ))
                .map_err(draw_err)?;
            right
                .draw(&Text::new(
                    format!("{name}  {}", percent(v)),
                    (10, y),
                    ("sans-serif", 11).into_font().color(&c.text),
                ))
                .map_err(draw_err)?;
        }
    }
    root.present().map_err(draw_err)?;
    Ok(())
}

fn download_success(
    d: &ChartData,
    k: usize,
    c: &Colors,
    width: u32,
    out: &mut Drawing,
) -> Result<()> {
    let downloads = total(d, Counter::Downloads, k);
    let failures = total(d, Counter::DownloadFailures, k);
    let values: Vec<Option<f64>> = downloads
        .iter()
        .zip(&failures)
        .map(|(dl, f)| rebin::rate(*f, *dl).map(|r| 100.0 * (1.0 - r)))
        .collect();
    let lines = good_lines(&limits_of(d, Kpi::DownloadSuccess));
    out.table.columns = ["bin ends", "downloads", "failed", "success"]
        .map(String::from)
        .to_vec();
    for (j, v) in values.iter().enumerate() {
        out.table.rows.push(vec![
            frame::when(bin_end(d, k, j)),
            count(downloads[j]),
            count(failures[j]),
            v.map_or("–".into(), percent),
        ]);
    }
    let line_values: Vec<f64> = lines.iter().map(|(_, v)| *v).collect();
    let y = frame::zoom(values.iter().flatten().copied(), &line_values, 0.0..100.0);
    let root = svg_root(&mut out.svg, width, out.height);
    root.fill(&c.background).map_err(draw_err)?;
    let axes = Axes {
        x: d.from..d.to,
        origin: None,
        y,
        x_desc: "time (UTC)".into(),
        y_desc: "downloads that succeeded (%)".into(),
        y_format: &|v| format!("{v:.1} %"),
    };
    let mut chart = frame::frame(
        &root,
        "Download success rate, every release",
        &axes,
        c,
        width,
    )?;
    frame::marks(&mut chart, &d.marks, c, true)?;
    for (level, v) in &lines {
        frame::threshold(&mut chart, *v, *level, &percent(*v))?;
    }
    if values.iter().all(Option::is_none) {
        out.empty = Some(format!(
            "No downloads reported in {} for this range.",
            d.channel
        ));
        frame::no_data(&mut chart, out.empty.as_deref().unwrap_or_default(), c)?;
    }
    let points: Vec<Option<Point>> = values
        .iter()
        .enumerate()
        .map(|(j, v)| {
            v.map(|y| Point {
                x: bin_end(d, k, j),
                y,
                thin: downloads[j] < THIN,
            })
        })
        .collect();
    frame::line(&mut chart, &points, c.series(0))?;
    for (j, p) in points.iter().enumerate() {
        if let Some(p) = p {
            let value = format!(
                "{} of {} downloads ({} failed)",
                percent(p.y),
                count(downloads[j]),
                count(failures[j])
            );
            out.hits
                .push(hit(&chart, p.x, p.y, "download success", value));
        }
    }
    frame::legend(
        &root,
        &[Key {
            name: "download success".into(),
            color: c.series(0),
            band: false,
        }],
        c,
        width,
    )?;
    root.present().map_err(draw_err)?;
    Ok(())
}

fn install_time(d: &ChartData, k: usize, c: &Colors, width: u32, out: &mut Drawing) -> Result<()> {
    let n = d.bins.div_ceil(k);
    let mut per_bin: Vec<Vec<crate::kpi::histogram::Buckets>> = vec![Vec::new(); n];
    for series in d.histograms(Latency::InstallDuration).values() {
        for (j, h) in rebin::sum_histograms(series, k).into_iter().enumerate() {
            if let Some(b) = per_bin.get_mut(j) {
                b.push(h);
            }
        }
    }
    let summed: Vec<_> = per_bin.iter().map(|h| rebin::sum_same_bounds(h)).collect();
    let buckets: Vec<Option<(f64, f64)>> = summed
        .iter()
        .map(|h| rebin::quantile_bucket(h, 0.95))
        .collect();
    let installs: Vec<f64> = summed
        .iter()
        .map(|h| crate::kpi::histogram::count(h))
        .collect();
    let limits = limits_of(d, Kpi::InstallTime);
    let finite_max = buckets
        .iter()
        .flatten()
        .map(|(lo, hi)| if hi.is_finite() { *hi } else { *lo })
        .fold(0.0, f64::max);
    let mut lines: Vec<(Level, f64)> = Vec::new();
    for (level, v) in [
        (Level::Target, limits.target),
        (Level::Warning, limits.warning),
        (Level::Critical, limits.critical),
    ] {
        if let Some(v) = v
            && (level != Level::Critical
                || v <= 2.0 * finite_max.max(limits.warning.unwrap_or(0.0)))
        {
            lines.push((level, v));
        }
    }
    let top = lines
        .iter()
        .map(|l| l.1)
        .fold(finite_max, f64::max)
        .max(0.5)
        * 1.15;
    out.table.columns = ["bin ends", "installs", "p95 at least", "p95 at most"]
        .map(String::from)
        .to_vec();
    for (j, b) in buckets.iter().enumerate() {
        out.table.rows.push(vec![
            frame::when(bin_end(d, k, j)),
            count(installs[j]),
            b.map_or("–".into(), |b| seconds(b.0)),
            b.map_or("–".into(), |b| seconds(b.1)),
        ]);
    }
    let root = svg_root(&mut out.svg, width, out.height);
    root.fill(&c.background).map_err(draw_err)?;
    let axes = Axes {
        x: d.from..d.to,
        origin: None,
        y: 0.0..top,
        x_desc: "time (UTC)".into(),
        y_desc: "install time p95 (s)".into(),
        y_format: &|v| format!("{v:.1} s"),
    };
    let mut chart = frame::frame(
        &root,
        "Install time p95: the histogram bucket it lies in",
        &axes,
        c,
        width,
    )?;
    frame::marks(&mut chart, &d.marks, c, true)?;
    for (level, v) in &lines {
        frame::threshold(&mut chart, *v, *level, &seconds(*v))?;
    }
    if buckets.iter().all(Option::is_none) {
        out.empty = Some(format!(
            "No install times reported in {} for this range.",
            d.channel
        ));
        frame::no_data(&mut chart, out.empty.as_deref().unwrap_or_default(), c)?;
    }
    let color = c.series(0);
    for (j, b) in buckets.iter().enumerate() {
        let Some((lo, hi)) = *b else { continue };
        let x1 = bin_end(d, k, j);
        let x0 = if j == 0 { d.from } else { bin_end(d, k, j - 1) };
        let shown_hi = if hi.is_finite() { hi.min(top) } else { top };
        let alpha = if installs[j] < THIN { 0.15 } else { 0.45 };
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x0, lo), (x1, shown_hi)],
                color.mix(alpha).filled(),
            )))
            .map_err(draw_err)?;
        let value = format!(
            "p95 between {} and {} ({} installs)",
            seconds(lo),
            seconds(hi),
            count(installs[j])
        );
        out.hits.push(hit(
            &chart,
            (x0 + x1) / 2,
            (lo + shown_hi) / 2.0,
            "install time p95",
            value,
        ));
    }
    frame::legend(
        &root,
        &[Key {
            name: "p95 bucket".into(),
            color,
            band: true,
        }],
        c,
        width,
    )?;
    root.present().map_err(draw_err)?;
    Ok(())
}

/// The crash-free share of `kv`'s cohort `which` with its band, in percent.
fn crash_free_of(kv: &KpiVerdict, candidate: bool) -> Option<(f64, f64, f64, f64)> {
    let n = if candidate {
        kv.candidate.as_ref()
    } else {
        kv.baseline.as_ref()
    }?;
    let rate = n.rate?;
    Some((
        100.0 * (1.0 - rate),
        100.0 * (1.0 - n.upper.unwrap_or(rate)),
        100.0 * (1.0 - n.lower.unwrap_or(rate)),
        n.exposure,
    ))
}

fn crash_free(
    d: &ChartData,
    replay: &Replay,
    c: &Colors,
    width: u32,
    out: &mut Drawing,
) -> Result<()> {
    let looks = &replay.looks;
    out.bin_seconds = Some(replay.seconds);
    let lines = good_lines(&limits_of(d, Kpi::CrashFree));
    let r = d.rollout.as_ref();
    let names = r.map(|r| (r.version.clone(), r.baseline.clone().unwrap_or_default()));
    let x = d.rollout_range();
    // (look time, value, lower, upper, sessions) per cohort.
    type Row = (i64, f64, f64, f64, f64);
    let mut cohorts: [Vec<Row>; 2] = [Vec::new(), Vec::new()];
    for l in looks {
        let Some(kv) = l.verdict.kpis.iter().find(|k| k.kpi == Kpi::CrashFree) else {
            continue;
        };
        for (i, cand) in [true, false].into_iter().enumerate() {
            if let Some((v, lo, hi, n)) = crash_free_of(kv, cand) {
                cohorts[i].push((l.at, v, lo, hi, n));
            }
        }
    }
    out.table.columns = [
        "look",
        "release",
        "crash-free",
        "lower bound",
        "upper bound",
        "sessions",
    ]
    .map(String::from)
    .to_vec();
    if let Some((cand, base)) = &names {
        for (i, name) in [cand, base].into_iter().enumerate() {
            for (at, v, lo, hi, n) in &cohorts[i] {
                out.table.rows.push(vec![
                    frame::when(*at),
                    name.clone(),
                    percent(*v),
                    percent(*lo),
                    percent(*hi),
                    count(*n),
                ]);
            }
        }
    }
    let mut values: Vec<f64> = cohorts.iter().flatten().flat_map(|r| [r.1, r.2]).collect();
    values.extend(cohorts.iter().flatten().map(|r| r.3));
    let line_values: Vec<f64> = lines.iter().map(|(_, v)| *v).collect();
    let y = frame::zoom(values.into_iter(), &line_values, 0.0..100.0);
    let root = svg_root(&mut out.svg, width, out.height);
    root.fill(&c.background).map_err(draw_err)?;
    let axes = Axes {
        x: x.clone(),
        origin: r.map(|r| r.started),
        y,
        x_desc: if r.is_some() {
            "time since the rollout began".into()
        } else {
            "time (UTC)".into()
        },
        y_desc: "crash-free sessions (%)".into(),
        y_format: &|v| format!("{v:.1} %"),
    };
    let title = match &names {
        Some((cand, base)) => format!("Crash-free sessions: {cand} (rollout) against {base}"),
        None => "Crash-free sessions".into(),
    };
    let mut chart = frame::frame(&root, &title, &axes, c, width)?;
    frame::marks(&mut chart, &d.marks, c, true)?;
    for (level, v) in &lines {
        frame::threshold(&mut chart, *v, *level, &percent(*v))?;
    }
    if cohorts.iter().all(Vec::is_empty) {
        let why = if r.is_none() {
            "No rollout in this range: nothing to compare.".to_string()
        } else {
            format!("No sessions reported for the rollout in {}.", d.channel)
        };
        frame::no_data(&mut chart, &why, c)?;
        out.empty = Some(why);
    }
    let mut keys = Vec::new();
    if let Some((cand, base)) = &names {
        for (i, name) in [cand, base].into_iter().enumerate() {
            let color = c.series(i);
            let band: Vec<(i64, f64, f64)> = cohorts[i]
                .iter()
                .map(|(at, _, lo, hi, _)| (*at, *lo, *hi))
                .collect();
            frame::band(&mut chart, &band, color)?;
            let points: Vec<Option<Point>> = cohorts[i]
                .iter()
                .map(|(at, v, _, _, n)| {
                    Some(Point {
                        x: *at,
                        y: *v,
                        thin: *n < THIN_LOOK,
                    })
                })
                .collect();
            frame::line(&mut chart, &points, color)?;
            for (at, v, lo, hi, n) in &cohorts[i] {
                let value = format!(
                    "{} crash-free ({} to {}, {} sessions)",
                    percent(*v),
                    percent(*lo),
                    percent(*hi),
                    count(*n)
                );
                out.hits.push(hit(&chart, *at, *v, name, value));
            }
            keys.push(Key {
                name: if i == 0 {
                    format!("{name} (rollout)")
                } else {
                    format!("{name} (current)")
                },
                color,
                band: true,
            });
        }
    }
    frame::legend(&root, &keys, c, width)?;
    root.present().map_err(draw_err)?;
    Ok(())
}

/// The ratio's range from the two cohorts' bounds: the candidate's lower over the
/// baseline's upper, and its upper over the baseline's lower (unbounded when that is 0).
/// Wider than the judge's test of the ratio (which conditions each bin's events on its
/// exposure), so it is labelled "range of the cohorts' bounds", not the test's interval.
fn ratio_interval(kv: &KpiVerdict) -> Option<(f64, f64, f64)> {
    let (cand, base) = (kv.candidate.as_ref()?, kv.baseline.as_ref()?);
    let ratio = kv.ratio?;
    let lo = match (cand.lower, base.upper) {
        (Some(a), Some(b)) if b > 0.0 => a / b,
        _ => 0.0,
    };
    let hi = match (cand.upper, base.lower) {
        (Some(a), Some(b)) if b > 0.0 => a / b,
        _ => f64::INFINITY,
    };
    Some((ratio, lo, hi))
}

fn outcome_color(o: KpiOutcome, c: &Colors) -> RGBColor {
    match o {
        KpiOutcome::Pass => Level::Target.color(),
        KpiOutcome::Warn => Level::Warning.color(),
        KpiOutcome::Fail => Level::Critical.color(),
        KpiOutcome::Inconclusive => c.muted,
    }
}

/// The KPIs judged and, per KPI, its look-by-look rows.
/// A KPI's verdict at each look: (look time, its step's start, the verdict).
type KpiLooks = Vec<(i64, i64, KpiVerdict)>;

fn verdict_rows(d: &ChartData, looks: &[Look]) -> Vec<(Kpi, KpiLooks)> {
    d.policy
        .kpis
        .iter()
        .map(|(kpi, _)| {
            let rows = looks
                .iter()
                .filter_map(|l| {
                    let kv = l.verdict.kpis.iter().find(|k| k.kpi == *kpi)?;
                    Some((l.at, l.step_started, kv.clone()))
                })
                .collect();
            (*kpi, rows)
        })
        .collect()
}

fn verdict(
    d: &ChartData,
    replay: &Replay,
    c: &Colors,
    width: u32,
    out: &mut Drawing,
) -> Result<()> {
    let looks = &replay.looks;
    out.bin_seconds = Some(replay.seconds);
    let (rows, silent): (Vec<_>, Vec<_>) = verdict_rows(d, looks)
        .into_iter()
        .partition(|(_, looks)| looks.iter().any(|(_, _, kv)| kv.ratio.is_some()));
    let row_h = 150;
    out.height = 44 + row_h * rows.len().max(1) as u32 + if silent.is_empty() { 0 } else { 24 };
    out.table.columns = ["look", "KPI", "verdict", "ratio", "interval", "reason"]
        .map(String::from)
        .to_vec();
    for (_, looks) in &rows {
        for (at, _, kv) in looks {
            let (ratio, interval) =
                ratio_interval(kv).map_or(("–".into(), "–".into()), |(r, lo, hi)| {
                    (
                        format!("{r:.2}×"),
                        format!(
                            "{lo:.2}× to {}",
                            if hi.is_finite() {
                                format!("{hi:.2}×")
                            } else {
                                "∞".into()
                            }
                        ),
                    )
                });
            out.table.rows.push(vec![
                frame::when(*at),
                kv.kpi.key().into(),
                kv.verdict.as_str().into(),
                ratio,
                interval,
                kv.reason.clone(),
            ]);
        }
    }
    let root = svg_root(&mut out.svg, width, out.height);
    root.fill(&c.background).map_err(draw_err)?;
    let r = d.rollout.as_ref();
    let x = d.rollout_range();
    let title = match r {
        Some(r) => format!(
            "The gate's verdict over time: {} against {}",
            r.version,
            r.baseline.as_deref().unwrap_or("nothing")
        ),
        None => "The gate's verdict over time".into(),
    };
    root.draw(&Text::new(
        title,
        (12, 6),
        ("sans-serif", 15).into_font().color(&c.text),
    ))
    .map_err(draw_err)?;
    frame::legend(
        &root,
        &[
            Key {
                name: "ratio, range of the cohorts' bounds".into(),
                color: c.series(0),
                band: true,
            },
            Key {
                name: "boundary: beyond it is harm, within it a pass".into(),
                color: Level::Critical.color(),
                band: false,
            },
        ],
        c,
        width,
    )?;
    let body = root.margin(40, if silent.is_empty() { 0 } else { 24 }, 0, 0);
    if looks.is_empty() {
        let why = if r.is_none() {
            "No rollout in this range: the gate had nothing to judge.".to_string()
        } else {
            "No look yet: the rollout's first bin has not ended or has no data.".to_string()
        };
        body.draw(&Text::new(
            why.clone(),
            (24, 40),
            ("sans-serif", 14).into_font().color(&c.muted),
        ))
        .map_err(draw_err)?;
        out.empty = Some(why);
        root.present().map_err(draw_err)?;
        return Ok(());
    }
    if !silent.is_empty() {
        let names: Vec<&str> = silent.iter().map(|(k, _)| k.label()).collect();
        let mut line = format!(
            "No data (the verdict stays inconclusive while in force): {}",
            names.join(", ")
        );
        if frame::text_width(&line, 11) > width as i32 - 24 {
            let mut shown = names.clone();
            while shown.len() > 1 {
                shown.pop();
                line = format!(
                    "No data (the verdict stays inconclusive while in force): {} and {} more",
                    shown.join(", "),
                    names.len() - shown.len()
                );
                if frame::text_width(&line, 11) <= width as i32 - 24 {
                    break;
                }
            }
        }
        root.draw(&Text::new(
            line,
            (12, out.height as i32 - 20),
            ("sans-serif", 11).into_font().color(&c.muted),
        ))
        .map_err(draw_err)?;
    }
    if rows.is_empty() {
        let why = format!(
            "No numbers for {} or its baseline in this range: the gate cannot judge.",
            r.map_or("the rollout", |r| r.version.as_str())
        );
        body.draw(&Text::new(
            why.clone(),
            (24, 40),
            ("sans-serif", 14).into_font().color(&c.muted),
        ))
        .map_err(draw_err)?;
        out.empty = Some(why);
        root.present().map_err(draw_err)?;
        return Ok(());
    }
    let areas = body.split_evenly((rows.len(), 1));
    for (i, ((kpi, looks), area)) in rows.iter().zip(&areas).enumerate() {
        let intervals: Vec<(i64, f64, f64, f64)> = looks
            .iter()
            .filter_map(|(at, _, kv)| ratio_interval(kv).map(|(r, lo, hi)| (*at, r, lo, hi)))
            .collect();
        // The judge's boundary once fixed for the rollout (kpi/boundary.rs), else its ratio
        // part (1 + harm margin).
        let harm = looks
            .iter()
            .rev()
            .find_map(|(_, _, kv)| kv.boundary)
            .unwrap_or(1.0 + limits_of(d, *kpi).harm_margin);
        let mut values: Vec<f64> = intervals
            .iter()
            .flat_map(|(_, r, lo, _)| [*r, *lo])
            .collect();
        values.extend(intervals.iter().map(|i| i.3).filter(|h| h.is_finite()));
        let y = frame::zoom(values.into_iter(), &[1.0, harm], 0.0..6.0);
        let axes = Axes {
            x: x.clone(),
            origin: r.map(|r| r.started),
            y: y.clone(),
            x_desc: if i + 1 == rows.len() {
                "time since the rollout began".into()
            } else {
                String::new()
            },
            y_desc: "rollout ÷ current (×)".into(),
            y_format: &|v| format!("{v:.2}×"),
        };
        let label = match kpi.measure() {
            crate::kpi::policy::Measure::Rate { good: Some(g), .. } => {
                format!("{} ({g})", kpi.label())
            }
            _ => kpi.label().to_string(),
        };
        let mut chart = frame::frame(area, &label, &axes, c, width)?;
        frame::marks(&mut chart, &d.marks, c, i == 0)?;
        frame::line_at(
            &mut chart,
            harm,
            Level::Critical,
            &format!("boundary {harm:.2}×"),
        )?;
        chart
            .draw_series(DashedLineSeries::new(
                [(x.start, 1.0), (x.end, 1.0)],
                1,
                4,
                c.muted.stroke_width(1),
            ))
            .map_err(draw_err)?;
        // Bands per step (the evidence runs on across steps; each step's first decision is
        // ringed).
        let mut start = 0;
        while start < looks.len() {
            let step = looks[start].1;
            let end = looks[start..]
                .iter()
                .position(|l| l.1 != step)
                .map_or(looks.len(), |p| start + p);
            let band: Vec<(i64, f64, f64)> = looks[start..end]
                .iter()
                .filter_map(|(at, _, kv)| {
                    ratio_interval(kv).map(|(_, lo, hi)| (*at, lo.max(y.start), hi.min(y.end)))
                })
                .collect();
            frame::band(&mut chart, &band, c.series(0))?;
            let points: Vec<Option<Point>> = looks[start..end]
                .iter()
                .map(|(at, _, kv)| {
                    kv.ratio.map(|r| Point {
                        x: *at,
                        y: r.clamp(y.start, y.end),
                        thin: kv.verdict == KpiOutcome::Inconclusive && kv.needs_hours.is_none(),
                    })
                })
                .collect();
            frame::line(&mut chart, &points, c.series(0))?;
            // The first decided look of the step.
            if let Some((at, _, kv)) = looks[start..end]
                .iter()
                .find(|(_, _, kv)| kv.verdict != KpiOutcome::Inconclusive)
            {
                let yv = kv.ratio.unwrap_or(1.0).clamp(y.start, y.end);
                let color = outcome_color(kv.verdict, c);
                chart
                    .draw_series(std::iter::once(Circle::new(
                        (*at, yv),
                        6,
                        color.stroke_width(2),
                    )))
                    .map_err(draw_err)?;
                let (px, py) = chart.backend_coord(&(*at, yv));
                let base = chart.plotting_area().get_base_pixel();
                chart
                    .plotting_area()
                    .strip_coord_spec()
                    .draw(&Text::new(
                        format!(
                            "{}: {}",
                            kv.verdict.as_str(),
                            frame::tick_label(*at, 3600, r.map(|r| r.started), false)
                        ),
                        (px - base.0 + 8, py - base.1 + 4),
                        ("sans-serif", 11).into_font().color(&color),
                    ))
                    .map_err(draw_err)?;
            }
            start = end;
        }
        for (at, _, kv) in looks {
            if let Some((ratio, lo, hi)) = ratio_interval(kv) {
                let value = format!(
                    "{}: {ratio:.2}× ({lo:.2}× to {}) — {}",
                    kv.verdict.as_str(),
                    if hi.is_finite() {
                        format!("{hi:.2}×")
                    } else {
                        "∞".into()
                    },
                    kv.reason
                );
                out.hits.push(hit(
                    &chart,
                    *at,
                    ratio.clamp(y.start, y.end),
                    kpi.key(),
                    value,
                ));
            }
        }
    }
    root.present().map_err(draw_err)?;
    Ok(())
}
