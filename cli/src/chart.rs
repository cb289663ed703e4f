//! `airlock chart`: one KPI panel written as SVG or PNG (the same SVG, rendered with the
//! bundled font), for CI jobs and reports. The file is written whole or not at all; with
//! `--json` the hit map and table are printed too.

use crate::analyze::time;
use crate::args::Cli;
use crate::out::outln;
use crate::run::print_json;
use airlock_core::charts::{Panel, Theme, png};
use airlock_core::ops::kpi_charts::ChartRequest;
use airlock_core::{Error, Result, Workspace};
use std::path::PathBuf;

pub struct Request<'a> {
    pub app: &'a str,
    pub channel: &'a str,
    pub panel: &'a str,
    pub range: (&'a Option<String>, &'a Option<String>),
    pub out: &'a PathBuf,
    pub theme: &'a str,
    pub width: u32,
}

pub async fn chart(cli: &Cli, ws: &Workspace, r: &Request<'_>) -> Result<u8> {
    let panel = Panel::parse(r.panel)?;
    let as_png = match r.out.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("svg") => false,
        Some(e) if e.eq_ignore_ascii_case("png") => true,
        _ => {
            return Err(Error::InvalidInput(format!(
                "-o {}: name a .svg or .png file",
                r.out.display()
            )));
        }
    };
    if !(320..=4000).contains(&r.width) {
        return Err(Error::InvalidInput(format!(
            "--width {}: give 320 to 4000 pixels",
            r.width
        )));
    }
    let req = ChartRequest {
        app: r.app.to_string(),
        channel: r.channel.to_string(),
        from: time("from", r.range.0)?,
        to: time("to", r.range.1)?,
        theme: if r.theme == "dark" {
            Theme::Dark
        } else {
            Theme::Light
        },
        width: r.width,
    };
    let source = ws.kpi_source().await?;
    let chart = ws
        .kpi_charts(&req, &[panel], source.as_ref())
        .await?
        .pop()
        .ok_or_else(|| Error::InvalidInput("no chart was drawn".into()))?;
    let bytes = if as_png {
        png::png(&chart.svg, 2.0)?
    } else {
        chart.svg.clone().into_bytes()
    };
    // Written beside the target and renamed: a reader never sees half a file.
    let tmp = r.out.with_extension("partial");
    std::fs::write(&tmp, &bytes)
        .and_then(|()| std::fs::rename(&tmp, r.out))
        .map_err(|e| Error::InvalidInput(format!("{}: {e}", r.out.display())))?;
    if cli.json {
        print_json(&chart);
    } else {
        outln!("{} → {}", chart.name, r.out.display());
        if let Some(why) = &chart.empty {
            outln!("  {why}");
        }
    }
    Ok(0)
}
