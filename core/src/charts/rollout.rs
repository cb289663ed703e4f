//! The rollout chart, drawn from the log alone. Drawing is pure: the caller passes the
//! points, so a chart of a 10,000-entry log is one fold and one draw, and the same points
//! give the same bytes.
//!
//! The rollout chart: per channel, the share of devices on the rollout's release over time
//! (a step line, 0–100 %), each rollout labelled with its version.

use super::{Size, draw_err};
use crate::error::Result;
use crate::log::Event;
use crate::log::reader::StoredEntry;
use airlock_protocol::bucketing::FULL;
use plotters::prelude::*;
use serde::Serialize;

/// One change in a channel's rollout: from `at` (unix seconds), `basis_points` of devices
/// run `version`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct RolloutPoint {
    pub at: i64,
    pub seq: u64,
    pub version: String,
    pub basis_points: u32,
}

/// The rollout history of `channel`, oldest first, from the app's log entries.
pub fn rollout_points(entries: &[StoredEntry], channel: &str) -> Vec<RolloutPoint> {
    let mut points = Vec::new();
    let mut rolling: Option<String> = None;
    for s in entries {
        let e = &s.entry;
        let point = |version: &str, bp: u32| RolloutPoint {
            at: e.at.unix(),
            seq: e.seq,
            version: version.to_string(),
            basis_points: bp,
        };
        match &e.event {
            Event::Released {
                version,
                channel: c,
                ..
            } if c == channel => {
                rolling = None;
                points.push(point(version, FULL));
            }
            Event::Promoted {
                version,
                to,
                basis_points,
                ..
            } if to == channel => {
                rolling = (*basis_points < FULL).then(|| version.clone());
                points.push(point(version, *basis_points));
            }
            Event::Expanded {
                channel: c,
                version,
                basis_points,
                ..
            } if c == channel => {
                rolling = (*basis_points < FULL).then(|| version.clone());
                points.push(point(version, *basis_points));
            }
            Event::Reverted {
                channel: c,
                version,
                ..
            } if c == channel => {
                rolling = None;
                points.push(point(version, 0));
            }
            Event::RolledBack { channel: c, to, .. } if c == channel => {
                if let Some(v) = rolling.take() {
                    points.push(point(&v, 0));
                }
                points.push(point(to, FULL));
            }
            _ => {}
        }
    }
    points
}

/// The rollout chart as an SVG document. `now` (unix seconds) ends the last step.
pub fn rollout_svg(title: &str, points: &[RolloutPoint], now: i64, size: Size) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (size.width, size.height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let start = points.first().map_or(now - 3600, |p| p.at);
        let end = now.max(start + 60);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(44)
            .build_cartesian_2d(start..end, 0f64..100f64)
            .map_err(draw_err)?;
        let span = end - start;
        chart
            .configure_mesh()
            .x_labels(6)
            .y_labels(6)
            .y_label_formatter(&|v| format!("{v:.0} %"))
            .x_label_formatter(&|t| label_time(*t, span))
            .light_line_style(RGBColor(235, 238, 242))
            .draw()
            .map_err(draw_err)?;
        let blue = RGBColor(37, 99, 235);
        let mut line: Vec<(i64, f64)> = Vec::with_capacity(points.len() * 2 + 1);
        for (i, p) in points.iter().enumerate() {
            let pct = f64::from(p.basis_points) / 100.0;
            if i > 0 {
                line.push((p.at, line.last().map_or(0.0, |l| l.1)));
            }
            line.push((p.at, pct));
        }
        if let Some(last) = line.last().copied() {
            line.push((end, last.1));
        }
        chart
            .draw_series(AreaSeries::new(line.clone(), 0.0, blue.mix(0.12)))
            .map_err(draw_err)?;
        chart
            .draw_series(LineSeries::new(line, blue.stroke_width(2)))
            .map_err(draw_err)?;
        // Label where each version's rollout starts (at most 12 labels, the newest).
        let mut starts: Vec<&RolloutPoint> = Vec::new();
        for p in points {
            if starts.last().is_none_or(|s| s.version != p.version) {
                starts.push(p);
            }
        }
        let skip = starts.len().saturating_sub(12);
        chart
            .draw_series(starts.into_iter().skip(skip).map(|p| {
                let y = (f64::from(p.basis_points) / 100.0).clamp(8.0, 92.0);
                Text::new(
                    p.version.clone(),
                    (p.at, y),
                    ("sans-serif", 12).into_font().color(&BLACK),
                )
            }))
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

fn label_time(t: i64, span: i64) -> String {
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp(t) else {
        return String::new();
    };
    if span > 3 * 86_400 {
        format!("{:02}-{:02}", u8::from(at.month()), at.day())
    } else {
        format!(
            "{:02}-{:02} {:02}:{:02}",
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute()
        )
    }
}

/// A channel's rollout chart and the points it was drawn from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct RolloutChart {
    pub channel: String,
    pub points: Vec<RolloutPoint>,
    pub svg: String,
}

impl crate::workspace::Workspace {
    /// `channel`'s rollout chart, from the registry (no store request).
    pub async fn rollout_chart(&self, app: &str, channel: &str) -> Result<RolloutChart> {
        self.config().channel(channel)?;
        let entries = self.registry().entries(app).await?;
        let points = rollout_points(&entries, channel);
        let svg = rollout_svg(
            &format!("{app} · {channel}"),
            &points,
            self.now().unix(),
            Size::default(),
        )?;
        Ok(RolloutChart {
            channel: channel.to_string(),
            points,
            svg,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(at: i64, version: &str, bp: u32) -> RolloutPoint {
        RolloutPoint {
            at,
            seq: at as u64,
            version: version.into(),
            basis_points: bp,
        }
    }

    #[test]
    fn draws_every_version_label_and_the_axes() {
        let points = [
            p(0, "1.4.0", 500),
            p(3600, "1.4.0", 2000),
            p(7200, "1.4.0", 0),
        ];
        let svg = rollout_svg("shop / production", &points, 10_800, Size::default()).unwrap();
        assert!(svg.starts_with("<svg"), "an SVG document: {}", &svg[..40]);
        assert!(
            svg.contains("1.4.0"),
            "the rollout is labelled with its version"
        );
        assert!(svg.contains("100 %"), "the y axis reads in percent");
        assert!(svg.contains("shop / production"), "the title is drawn");
    }

    #[test]
    fn an_empty_history_still_draws() {
        let svg = rollout_svg("empty", &[], 1_000_000, Size::default()).unwrap();
        assert!(svg.contains("empty"));
    }
}
