//! Charts drawn with plotters as SVG text, for the console to show (as an image: an SVG
//! shown through `<img>` never runs script), for `airlock chart` and for reports.
//!
//! - [`rollout`]: a channel's rollout steps over time, from the log alone.
//! - The KPI panels ([`Panel`]): adoption, download success, install time p95, crash-free
//!   sessions of the rollout against the current release, and the gate's verdict over time.
//!   [`data::ChartData`] holds what they are drawn from (fetched once by
//!   `Workspace::chart_data` in ops/kpi_charts.rs); [`rebin`] sums fine bins into the bins
//!   drawn (rates and percentiles recomputed from the summed counts, never averaged);
//!   [`looks`] replays the judge at every bin; [`frame`] draws what every panel shares
//!   (time ticks, thresholds, the log's markers, the legend, "no data" in words);
//!   [`panels`] draws each one.
//!
//! Every KPI chart comes with its accessible name (in the SVG's `<title>` and `aria-label`),
//! a hit map (each point's pixel position, time and exact value, for an HTML tooltip) and
//! the same numbers as a table. Drawing is pure: the same data gives the same bytes.

pub mod data;
pub mod frame;
pub mod looks;
pub mod panels;
pub mod png;
pub mod rebin;
pub mod rollout;

pub use rollout::{RolloutChart, RolloutPoint, rollout_points, rollout_svg};

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Chart size in pixels.
#[derive(Clone, Copy, Debug)]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

impl Default for Size {
    fn default() -> Self {
        Self {
            width: 880,
            height: 280,
        }
    }
}

pub(crate) fn draw_err(e: impl std::fmt::Display) -> Error {
    Error::InvalidInput(format!("the chart could not be drawn: {e}"))
}

/// One of the KPI panels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum Panel {
    Adoption,
    DownloadSuccess,
    InstallTime,
    CrashFree,
    Verdict,
}

impl Panel {
    pub const ALL: [Panel; 5] = [
        Panel::Adoption,
        Panel::DownloadSuccess,
        Panel::InstallTime,
        Panel::CrashFree,
        Panel::Verdict,
    ];

    /// Its name on the command line (`--panel crash-free`).
    pub fn key(self) -> &'static str {
        match self {
            Panel::Adoption => "adoption",
            Panel::DownloadSuccess => "download-success",
            Panel::InstallTime => "install-time",
            Panel::CrashFree => "crash-free",
            Panel::Verdict => "verdict",
        }
    }

    pub fn parse(key: &str) -> Result<Panel> {
        Panel::ALL
            .into_iter()
            .find(|p| p.key() == key)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "unknown panel {key:?}; the panels are {}",
                    Panel::ALL.map(Panel::key).join(", ")
                ))
            })
    }

    /// What people call it: the start of the chart's accessible name.
    pub fn title(self) -> &'static str {
        match self {
            Panel::Adoption => "Adoption",
            Panel::DownloadSuccess => "Download success",
            Panel::InstallTime => "Install time p95",
            Panel::CrashFree => "Crash-free sessions",
            Panel::Verdict => "Gate verdict over time",
        }
    }
}

/// Light or dark: the chart's background, text and grid follow the console's theme; the
/// series colours (Okabe–Ito) read under the common colour-vision deficiencies on both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum Theme {
    #[default]
    Light,
    Dark,
}

/// One point a tooltip can show: where it is drawn (pixels from the SVG's top left), when,
/// which series and its exact value in words.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Hit {
    pub x: f64,
    pub y: f64,
    /// Unix seconds: the end of the bin the value covers.
    pub at: f64,
    pub series: String,
    pub value: String,
}

/// The chart's numbers as a table ("show as table").
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// One drawn KPI panel.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct KpiChart {
    pub panel: Panel,
    /// Its accessible name: "Crash-free sessions, Production".
    pub name: String,
    pub svg: String,
    pub width: u32,
    pub height: u32,
    pub hits: Vec<Hit>,
    pub table: Table,
    /// Why there is nothing to draw, in words; `None` when there is data.
    pub empty: Option<String>,
    /// Seconds per drawn bin, after re-binning.
    pub bin_seconds: f64,
}

/// Escapes text for an XML attribute or element.
pub(crate) fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Gives an SVG document its accessible name: `role="img"`, `aria-label` and a `<title>`.
pub(crate) fn named(svg: String, name: &str) -> String {
    let Some(open_end) = svg.find('>') else {
        return svg;
    };
    let Some(rest) = svg.strip_prefix("<svg") else {
        return svg;
    };
    let name = xml_escape(name);
    let attrs = &rest[..open_end - 4];
    format!(
        "<svg role=\"img\" aria-label=\"{name}\"{attrs}><title>{name}</title>{}",
        &svg[open_end + 1..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accessible_name_goes_into_the_root_element() {
        let svg = named(
            "<svg width=\"10\" height=\"10\"><rect/></svg>".into(),
            "Crash-free <sessions>, Production",
        );
        assert_eq!(
            svg,
            "<svg role=\"img\" aria-label=\"Crash-free &lt;sessions&gt;, Production\" \
             width=\"10\" height=\"10\"><title>Crash-free &lt;sessions&gt;, Production</title>\
             <rect/></svg>"
        );
    }

    #[test]
    fn panels_parse_from_their_keys() {
        for p in Panel::ALL {
            assert_eq!(Panel::parse(p.key()).unwrap(), p);
        }
        assert!(Panel::parse("crash").is_err());
    }
}
