//! `airlock simulate`: a scenario from a TOML file and flags, played against the channel's
//! real pointer; says what the fleet did and where its reports went.

use crate::analyze::time;
use crate::args::{Cli, SimulateArgs};
use crate::out::outln;
use crate::run::print_json;
use airlock_core::kpi::fleet::Scenario;
use airlock_core::ops::simulate::SimulateRequest;
use airlock_core::{Error, Result, Workspace};

fn scenario(args: &SimulateArgs) -> Result<Scenario> {
    let mut s = match &args.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::InvalidInput(format!("cannot read {}: {e}", path.display())))?;
            Scenario::from_toml(&path.display().to_string(), &text)?
        }
        None => Scenario::default(),
    };
    if let Some(n) = args.devices {
        s.devices = n;
    }
    if let Some(r) = args.sessions_per_hour {
        s.sessions_per_hour = r;
    }
    if let Some(seed) = args.seed {
        s.seed = seed;
    }
    if let Some(v) = &args.native {
        s.native_version = Some(v.clone());
    }
    for spec in &args.rates {
        s.apply_rates(spec)?;
    }
    s.validate()?;
    Ok(s)
}

/// A fleet played on from its state file keeps the scenario and start it was made with:
/// flags that would only shape a new fleet are refused rather than silently ignored.
fn check_state(args: &SimulateArgs) -> Result<()> {
    let Some(path) = args.state.as_ref().filter(|p| p.exists()) else {
        return Ok(());
    };
    let given: Vec<&str> = [
        ("--scenario", args.scenario.is_some()),
        ("--devices", args.devices.is_some()),
        ("--sessions-per-hour", args.sessions_per_hour.is_some()),
        ("--seed", args.seed.is_some()),
        ("--native", args.native.is_some()),
        ("--rates", !args.rates.is_empty()),
        ("--from", args.from.is_some()),
    ]
    .into_iter()
    .filter_map(|(flag, set)| set.then_some(flag))
    .collect();
    if given.is_empty() {
        return Ok(());
    }
    Err(Error::InvalidInput(format!(
        "{} holds a fleet that keeps its own scenario and start; {} only shape a new fleet \
         (remove the state file to start one)",
        path.display(),
        given.join(", ")
    )))
}

pub async fn run(cli: &Cli, ws: &Workspace, args: &SimulateArgs) -> Result<u8> {
    check_state(args)?;
    let req = SimulateRequest {
        app: args.app.clone(),
        channel: args.channel.clone(),
        scenario: scenario(args)?,
        from: time("from", &args.from)?,
        to: time("to", &args.to)?,
        state: args.state.clone(),
        openmetrics: args.openmetrics.clone(),
        cdn_logs: args.cdn_logs.clone(),
        crash_export: args.crash_export.clone(),
    };
    if req.openmetrics.is_none()
        && req.cdn_logs.is_none()
        && req.crash_export.is_none()
        && req.state.is_none()
    {
        return Err(Error::InvalidInput(
            "say where the fleet's reports go: --openmetrics FILE, --cdn-logs TARGET and/or \
             --crash-export FILE (and --state FILE to play on later)"
                .into(),
        ));
    }
    let r = ws.simulate(&req).await?;
    if cli.json {
        print_json(&r);
        return Ok(0);
    }
    outln!(
        "{} devices of {} in {} from {} to {}: {} sessions, {} update checks, {} downloads",
        r.devices,
        r.app,
        r.channel,
        r.from,
        r.to,
        r.sessions,
        r.update_checks,
        r.downloads
    );
    let running: Vec<String> = r
        .running
        .iter()
        .map(|(v, n)| {
            let v = if v.is_empty() { "built-in" } else { v };
            format!("{v}: {n}")
        })
        .collect();
    outln!("  running now: {}", running.join(", "));
    if let Some(p) = &r.openmetrics {
        outln!("  OpenMetrics history: {p}");
    }
    for f in &r.log_files {
        outln!("  access log: {f}");
    }
    if let Some(p) = &r.crash_export {
        outln!("  crash-tool export: {p}");
    }
    Ok(0)
}
