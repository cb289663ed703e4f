//! What every KPI panel shares: the theme's colours and the series palette (Okabe–Ito,
//! told apart under the common colour-vision deficiencies), human time ticks, the frame
//! with its axis descriptions and units, threshold lines with their labels, the log's
//! markers on the time axis (grouped where they would overlap), a legend, thin data drawn
//! faded, and "no data" said in words.

use super::draw_err;
use crate::error::Result;
use plotters::coord::Shift;
use plotters::coord::combinators::WithKeyPoints;
use plotters::coord::types::{RangedCoordf64, RangedCoordi64};
use plotters::prelude::*;
use std::ops::Range;

/// A panel's plotting context: time (unix seconds, or seconds since an origin) by value.
pub type TimeChart<'a, DB> =
    ChartContext<'a, DB, Cartesian2d<WithKeyPoints<RangedCoordi64>, RangedCoordf64>>;

/// The theme's neutral colours.
#[derive(Clone, Copy, Debug)]
pub struct Colors {
    pub background: RGBColor,
    pub text: RGBColor,
    pub muted: RGBColor,
    pub grid: RGBColor,
    /// Series, in order of use.
    pub series: [RGBColor; 6],
}

/// Okabe & Ito's palette: blue, orange, bluish green, reddish purple, vermillion, sky blue.
const BLUE: RGBColor = RGBColor(0, 114, 178);
const ORANGE: RGBColor = RGBColor(230, 159, 0);
const GREEN: RGBColor = RGBColor(0, 158, 115);
const PURPLE: RGBColor = RGBColor(204, 121, 167);
const VERMILLION: RGBColor = RGBColor(213, 94, 0);
const SKY: RGBColor = RGBColor(86, 180, 233);
const YELLOW_OI: RGBColor = RGBColor(240, 228, 66);

impl Colors {
    pub fn of(theme: super::Theme) -> Colors {
        match theme {
            super::Theme::Light => Colors {
                background: RGBColor(255, 255, 255),
                text: RGBColor(31, 41, 55),
                muted: RGBColor(100, 110, 125),
                grid: RGBColor(229, 231, 235),
                series: [BLUE, ORANGE, GREEN, PURPLE, VERMILLION, SKY],
            },
            super::Theme::Dark => Colors {
                background: RGBColor(24, 27, 33),
                text: RGBColor(229, 231, 235),
                muted: RGBColor(156, 163, 175),
                grid: RGBColor(55, 61, 71),
                series: [SKY, ORANGE, GREEN, PURPLE, VERMILLION, YELLOW_OI],
            },
        }
    }

    pub fn series(&self, i: usize) -> RGBColor {
        self.series[i % self.series.len()]
    }
}

/// The three levels a limit line can be; each has its colour and its dash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Target,
    Warning,
    Critical,
}

impl Level {
    pub fn color(self) -> RGBColor {
        match self {
            Level::Target => GREEN,
            Level::Warning => ORANGE,
            Level::Critical => VERMILLION,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Level::Target => "target",
            Level::Warning => "warning",
            Level::Critical => "critical",
        }
    }

    /// Dash and gap in pixels: told apart without colour.
    fn dash(self) -> (u32, u32) {
        match self {
            Level::Target => (2, 3),
            Level::Warning => (6, 4),
            Level::Critical => (12, 4),
        }
    }
}

const TICK_STEPS: [i64; 12] = [
    60,
    300,
    900,
    1800,
    3600,
    2 * 3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86_400,
    2 * 86_400,
    7 * 86_400,
];

/// The tick interval for a span so that it shows at most `max` ticks.
pub fn tick_step(span: i64, max: i64) -> i64 {
    TICK_STEPS
        .into_iter()
        .find(|s| span / s <= max)
        .unwrap_or(30 * 86_400)
}

/// Ticks at round times (UTC) inside `from..=to`; relative to `origin` when one is given
/// (then at round offsets from it).
pub fn ticks(from: i64, to: i64, origin: Option<i64>, max: i64) -> (Vec<i64>, i64) {
    let step = tick_step(to - from, max);
    let base = origin.unwrap_or(0);
    let first = base + (from - base).div_euclid(step) * step;
    let ticks = (0..)
        .map(|i| first + i * step)
        .skip_while(|t| *t < from)
        .take_while(|t| *t <= to)
        .collect();
    (ticks, step)
}

pub(crate) const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A tick's label: "Dec 6" for whole days, "14:30" inside a day, "Dec 6 14:00" where a day
/// begins or at the first tick; "+3 h" / "+2 d" relative to an origin.
pub fn tick_label(t: i64, step: i64, origin: Option<i64>, first: bool) -> String {
    if let Some(o) = origin {
        let d = t - o;
        return if step >= 86_400 {
            format!("+{} d", d / 86_400)
        } else if step >= 3600 {
            format!("+{} h", d / 3600)
        } else {
            format!("+{} min", d / 60)
        };
    }
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp(t) else {
        return String::new();
    };
    let day = format!(
        "{} {}",
        MONTHS[usize::from(u8::from(at.month())) - 1],
        at.day()
    );
    let clock = format!("{:02}:{:02}", at.hour(), at.minute());
    if step >= 86_400 {
        day
    } else if first || (at.hour() == 0 && at.minute() == 0) {
        format!("{day} {clock}")
    } else {
        clock
    }
}

/// A time's words for tables and tooltips: "2026-12-06 14:05 UTC".
pub fn when(t: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(t) {
        Ok(at) => format!(
            "{}-{:02}-{:02} {:02}:{:02} UTC",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute()
        ),
        Err(_) => t.to_string(),
    }
}

/// What a panel's frame shows.
pub struct Axes<'f> {
    pub x: Range<i64>,
    /// Labels relative to this time ("+2 h"), when set.
    pub origin: Option<i64>,
    pub y: Range<f64>,
    pub x_desc: String,
    pub y_desc: String,
    pub y_format: &'f dyn Fn(&f64) -> String,
}

impl std::fmt::Debug for Axes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Axes")
            .field("x", &self.x)
            .field("origin", &self.origin)
            .field("y", &self.y)
            .field("x_desc", &self.x_desc)
            .field("y_desc", &self.y_desc)
            .finish_non_exhaustive()
    }
}

/// Builds the frame: title, grid, ticks, axis descriptions with units.
pub fn frame<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    axes: &Axes<'_>,
    colors: &Colors,
    width: u32,
) -> Result<TimeChart<'a, DB>> {
    let max_ticks = i64::from((width / 110).max(3));
    let (ticks, step) = ticks(axes.x.start, axes.x.end, axes.origin, max_ticks);
    let first = ticks.first().copied();
    let text = |size: u32| ("sans-serif", size).into_font().color(&colors.text);
    // The title at the top left; the legend goes on the same row, at the right.
    area.draw(&Text::new(title.to_string(), (12, 6), text(14)))
        .map_err(draw_err)?;
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .margin_top(32)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (axes.x.start..axes.x.end).with_key_points(ticks),
            axes.y.clone(),
        )
        .map_err(draw_err)?;
    let origin = axes.origin;
    let x_fmt = move |t: &i64| tick_label(*t, step, origin, Some(*t) == first);
    chart
        .configure_mesh()
        .x_label_formatter(&x_fmt)
        .y_label_formatter(axes.y_format)
        .y_labels(6)
        .x_desc(axes.x_desc.as_str())
        .y_desc(axes.y_desc.as_str())
        .label_style(text(11))
        .axis_desc_style(text(11))
        .axis_style(colors.muted)
        .bold_line_style(colors.grid)
        .light_line_style(colors.background)
        .draw()
        .map_err(draw_err)?;
    Ok(chart)
}

/// A horizontal limit line across the plot with its label ("warning 98 %") at its right end.
pub fn threshold<DB: DrawingBackend>(
    chart: &mut TimeChart<'_, DB>,
    y: f64,
    level: Level,
    label: &str,
) -> Result<()> {
    let text = format!("{} {label}", level.word());
    line_at(chart, y, level, &text)
}

/// A horizontal line in `level`'s colour and dash, labelled `text` at its right end.
pub fn line_at<DB: DrawingBackend>(
    chart: &mut TimeChart<'_, DB>,
    y: f64,
    level: Level,
    text: &str,
) -> Result<()> {
    let x = chart.x_range();
    let (dash, gap) = level.dash();
    let color = level.color();
    chart
        .draw_series(DashedLineSeries::new(
            [(x.start, y), (x.end, y)],
            dash,
            gap,
            color.stroke_width(1),
        ))
        .map_err(draw_err)?;
    let (px, py) = chart.backend_coord(&(x.end, y));
    let style = ("sans-serif", 10).into_font().color(&color);
    chart
        .plotting_area()
        .strip_coord_spec()
        .draw(&Text::new(
            text.to_string(),
            (
                px - 8 - text_width(text, 10) - chart_left(chart),
                py - 12 - chart_top(chart),
            ),
            style,
        ))
        .map_err(draw_err)?;
    Ok(())
}

fn chart_left<DB: DrawingBackend>(chart: &TimeChart<'_, DB>) -> i32 {
    chart.plotting_area().get_base_pixel().0
}

fn chart_top<DB: DrawingBackend>(chart: &TimeChart<'_, DB>) -> i32 {
    chart.plotting_area().get_base_pixel().1
}

/// Roughly how wide `text` is at `size` px sans-serif (for right-aligning it).
pub fn text_width(text: &str, size: i32) -> i32 {
    text.chars().count() as i32 * size * 6 / 10
}

/// A time marker from the log: a step, pause, revert, rollback, gate verdict or incident.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    pub x: i64,
    pub label: String,
}

/// Draws `marks` as dotted vertical lines with their labels at the top of the plot; marks
/// closer than 48 px are grouped under one line, labelled by the first and how many more
/// ("1.2.0 at 5 % +2"; the table lists each). Marks outside the x range are left out.
pub fn marks<DB: DrawingBackend>(
    chart: &mut TimeChart<'_, DB>,
    marks: &[Mark],
    colors: &Colors,
    labels_shown: bool,
) -> Result<()> {
    let x = chart.x_range();
    let y = chart.y_range();
    let mut groups: Vec<(i32, i64, Vec<&str>)> = Vec::new();
    let mut sorted: Vec<&Mark> = marks
        .iter()
        .filter(|m| m.x >= x.start && m.x <= x.end)
        .collect();
    sorted.sort_by_key(|m| m.x);
    for m in sorted {
        let px = chart.backend_coord(&(m.x, y.end)).0;
        match groups.last_mut() {
            Some((gx, _, labels)) if px - *gx < 48 => labels.push(&m.label),
            _ => groups.push((px, m.x, vec![&m.label])),
        }
    }
    let base = chart.plotting_area().get_base_pixel();
    for (i, (px, at, labels)) in groups.iter().enumerate() {
        chart
            .draw_series(DashedLineSeries::new(
                [(*at, y.start), (*at, y.end)],
                2,
                3,
                colors.muted.stroke_width(1),
            ))
            .map_err(draw_err)?;
        if !labels_shown {
            continue;
        }
        let label = match labels.as_slice() {
            [one] => (*one).to_string(),
            [first, rest @ ..] => format!("{first} +{}", rest.len()),
            [] => continue,
        };
        let row = if i % 2 == 0 { 2 } else { 14 };
        let (w, _) = chart.plotting_area().dim_in_pixel();
        let width = text_width(&label, 10);
        // Near the right edge the label goes to the left of its line.
        let x = if px - base.0 + 3 + width > w as i32 {
            px - base.0 - 3 - width
        } else {
            px - base.0 + 3
        };
        chart
            .plotting_area()
            .strip_coord_spec()
            .draw(&Text::new(
                label,
                (x, row),
                ("sans-serif", 10).into_font().color(&colors.muted),
            ))
            .map_err(draw_err)?;
    }
    Ok(())
}

/// One series in the legend: its name, colour and whether it is drawn as a band.
#[derive(Clone, Debug)]
pub struct Key {
    pub name: String,
    pub color: RGBColor,
    pub band: bool,
}

/// The legend, in one row under the title, right-aligned.
pub fn legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    keys: &[Key],
    colors: &Colors,
    width: u32,
) -> Result<()> {
    let widths: Vec<i32> = keys
        .iter()
        .map(|k| 24 + (k.name.chars().count() as i32) * 6 + 14)
        .collect();
    let mut x = width as i32 - 12 - widths.iter().sum::<i32>();
    let y = 13;
    for (k, w) in keys.iter().zip(widths) {
        if k.band {
            root.draw(&Rectangle::new(
                [(x, y - 5), (x + 18, y + 5)],
                k.color.mix(0.25).filled(),
            ))
            .map_err(draw_err)?;
        }
        root.draw(&PathElement::new(
            vec![(x, y), (x + 18, y)],
            k.color.stroke_width(2),
        ))
        .map_err(draw_err)?;
        root.draw(&Text::new(
            k.name.clone(),
            (x + 24, y - 6),
            ("sans-serif", 11).into_font().color(&colors.text),
        ))
        .map_err(draw_err)?;
        x += w;
    }
    Ok(())
}

/// "No data" in words, centred in the plot.
pub fn no_data<DB: DrawingBackend>(
    chart: &mut TimeChart<'_, DB>,
    words: &str,
    colors: &Colors,
) -> Result<()> {
    let area = chart.plotting_area().strip_coord_spec();
    let (w, h) = area.dim_in_pixel();
    let x = (w as i32 / 2 - (words.chars().count() as i32) * 7 / 2).max(4);
    area.draw(&Text::new(
        words.to_string(),
        (x, h as i32 / 2 - 8),
        ("sans-serif", 14).into_font().color(&colors.muted),
    ))
    .map_err(draw_err)?;
    Ok(())
}

/// A point of a series: where, the value, and whether it rests on too little data to trust
/// (drawn faded, never hidden).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub x: i64,
    pub y: f64,
    pub thin: bool,
}

/// A line through `points`, segment by segment: a segment touching a thin point is drawn
/// at 30 % opacity, and every thin point as a hollow circle. A gap (`None` between points)
/// is left open.
pub fn line<DB: DrawingBackend>(
    chart: &mut TimeChart<'_, DB>,
    points: &[Option<Point>],
    color: RGBColor,
) -> Result<()> {
    for pair in points.windows(2) {
        if let [Some(a), Some(b)] = pair {
            let style = if a.thin || b.thin {
                color.mix(0.3).stroke_width(2)
            } else {
                color.stroke_width(2)
            };
            chart
                .draw_series(LineSeries::new([(a.x, a.y), (b.x, b.y)], style))
                .map_err(draw_err)?;
        }
    }
    let lone = |i: usize| {
        let before = i.checked_sub(1).and_then(|j| points[j]).is_none();
        let after = points.get(i + 1).copied().flatten().is_none();
        before && after
    };
    for (i, p) in points.iter().enumerate() {
        if let Some(p) = p
            && (p.thin || lone(i))
        {
            let style = if p.thin {
                color.mix(0.5).stroke_width(1)
            } else {
                color.filled()
            };
            chart
                .draw_series(std::iter::once(Circle::new((p.x, p.y), 3, style)))
                .map_err(draw_err)?;
        }
    }
    Ok(())
}

/// A band between `lower` and `upper` at each x (a confidence band), filled lightly.
pub fn band<DB: DrawingBackend>(
    chart: &mut TimeChart<'_, DB>,
    points: &[(i64, f64, f64)],
    color: RGBColor,
) -> Result<()> {
    if points.len() < 2 {
        for (x, lo, hi) in points {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(*x, *lo), (*x, *hi)],
                    color.mix(0.4).stroke_width(6),
                )))
                .map_err(draw_err)?;
        }
        return Ok(());
    }
    let mut outline: Vec<(i64, f64)> = points.iter().map(|(x, _, hi)| (*x, *hi)).collect();
    outline.extend(points.iter().rev().map(|(x, lo, _)| (*x, *lo)));
    chart
        .draw_series(std::iter::once(Polygon::new(
            outline,
            color.mix(0.18).filled(),
        )))
        .map_err(draw_err)?;
    Ok(())
}

/// The pixel position of `(x, y)` in the whole SVG, for the hit map.
pub fn pixel<DB: DrawingBackend>(chart: &TimeChart<'_, DB>, x: i64, y: f64) -> (f64, f64) {
    let (px, py) = chart.backend_coord(&(x, y));
    (f64::from(px), f64::from(py))
}

/// A y range around `values` and `lines`, padded by a tenth, clamped to `bounds`.
pub fn zoom(values: impl Iterator<Item = f64>, lines: &[f64], bounds: Range<f64>) -> Range<f64> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values
        .chain(lines.iter().copied())
        .filter(|v| v.is_finite())
    {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return bounds;
    }
    let pad = ((hi - lo) * 0.1).max((hi.abs() + lo.abs()).max(1e-9) * 0.002);
    let (lo, hi) = ((lo - pad).max(bounds.start), (hi + pad).min(bounds.end));
    if hi > lo { lo..hi } else { bounds }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_fall_on_round_times_and_read_like_a_clock() {
        // 2026-12-06 13:10 to 19:40 UTC.
        let from = 1_796_562_600;
        let to = from + 6 * 3600 + 30 * 60;
        let (t, step) = ticks(from, to, None, 8);
        assert_eq!(step, 3600);
        assert!(t.iter().all(|x| x % 3600 == 0), "on the hour: {t:?}");
        assert_eq!(tick_label(t[0], step, None, true), "Dec 6 14:00");
        assert_eq!(tick_label(t[1], step, None, false), "15:00");
        let (days, step) = ticks(from, from + 20 * 86_400, None, 8);
        assert_eq!(step, 7 * 86_400, "{days:?}");
        assert_eq!(tick_label(days[0], step, None, true), "Dec 10");
    }

    #[test]
    fn relative_ticks_count_from_the_origin() {
        let (t, step) = ticks(1000, 1000 + 10 * 3600, Some(1000), 8);
        assert_eq!(step, 2 * 3600);
        assert_eq!(t[0], 1000);
        assert_eq!(tick_label(t[1], step, Some(1000), false), "+2 h");
    }

    #[test]
    fn zoom_holds_the_data_and_the_lines_not_the_whole_scale() {
        let r = zoom([0.991, 0.994].into_iter(), &[0.98, 0.99], 0.0..1.0);
        assert!(
            r.start > 0.97 && r.start < 0.98 && r.end > 0.994 && r.end <= 1.0,
            "{r:?}"
        );
    }
}
