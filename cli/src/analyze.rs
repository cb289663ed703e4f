//! `airlock analyze` (a verdict on a candidate against a baseline, in words or as JSON, with
//! exit code 0 pass, 1 fail, 4 inconclusive), `airlock watch` (the gate's loop, a pass at a
//! time), `airlock kpi import` (and `--remove`) and `kpi ingest` (crash-tool exports, CDN
//! access logs) and `airlock kpi auth` (the KPI source's credentials, in the OS keychain
//! only; secrets read from standard input, never printed).

use crate::args::{Cli, KpiAuthCommand, KpiCommand};
use crate::credentials::read_secret;
use crate::out::outln;
use crate::run::print_json;
use airlock_core::keychain::SecretServiceKeychain;
use airlock_core::kpi::imports::Removal;
use airlock_core::kpi::judge::{KpiOutcome, Outcome, Verdict};
use airlock_core::kpi::prometheus::{self, Auth};
use airlock_core::kpi::samples::{Columns, Format, ImportRequest};
use airlock_core::kpi::words;
use airlock_core::ops::analyze::AnalyzeRequest;
use airlock_core::ops::watch::Subject;
use airlock_core::{Error, Result, Workspace};
use airlock_protocol::time::Timestamp;

pub(crate) fn time(flag: &str, v: &Option<String>) -> Result<Option<Timestamp>> {
    v.as_deref()
        .map(|t| Timestamp::parse(t).map_err(|e| Error::InvalidInput(format!("--{flag}: {e}"))))
        .transpose()
}

pub async fn analyze(
    cli: &Cli,
    ws: &Workspace,
    app: &str,
    channel: &str,
    (candidate, baseline): (&Option<String>, &Option<String>),
    (from, to): (&Option<String>, &Option<String>),
) -> Result<u8> {
    let req = AnalyzeRequest {
        app: app.to_string(),
        channel: channel.to_string(),
        candidate: candidate.clone(),
        baseline: baseline.clone(),
        from: time("from", from)?,
        to: time("to", to)?,
    };
    let source = ws.kpi_source().await?;
    let v = ws.analyze(&req, source.as_ref()).await?;
    if cli.json {
        print_json(&v);
    } else {
        render(&v);
    }
    Ok(match v.verdict {
        Outcome::Pass => 0,
        Outcome::Fail => 1,
        Outcome::Inconclusive => 4,
    })
}

fn render(v: &Verdict) {
    outln!("{}", v.summary);
    outln!("  window {} .. {}", v.from, v.to);
    for k in &v.kpis {
        let tag = match (k.verdict, k.critical) {
            (KpiOutcome::Fail, true) => "FAIL!",
            (KpiOutcome::Fail, false) => "fail",
            (KpiOutcome::Warn, _) => "warn",
            (KpiOutcome::Pass, _) => "pass",
            (KpiOutcome::Inconclusive, _) => "wait",
        };
        outln!("  {tag:<5} {}", k.reason);
    }
    for g in &v.guards {
        outln!("  data  {g}");
    }
}

/// `300`, `30s`, `5m`, `1h` in seconds.
fn interval_seconds(text: &str) -> Result<u64> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = digits.parse().map_err(|_| bad_interval(text))?;
    let s = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(bad_interval(text)),
    };
    if !(10..=86_400).contains(&s) {
        return Err(Error::InvalidInput(format!(
            "--interval {text}: from 10 s to 24 h, please"
        )));
    }
    Ok(s)
}

fn bad_interval(text: &str) -> Error {
    Error::InvalidInput(format!(
        "--interval {text:?} is not a duration; write 300, 30s, 5m or 1h"
    ))
}

pub async fn watch(
    cli: &Cli,
    ws: &Workspace,
    actor: &str,
    (app, channel): (&Option<String>, &Option<String>),
    once: bool,
    interval: &str,
) -> Result<u8> {
    let every = std::time::Duration::from_secs(interval_seconds(interval)?);
    let source = ws.kpi_source().await?;
    loop {
        match ws
            .watch_once(actor, source.as_ref(), app.as_deref(), channel.as_deref())
            .await
        {
            Ok(reports) => {
                if cli.json {
                    print_json(&reports);
                } else if reports.is_empty() {
                    outln!("{} no rollout in progress to watch", ws.now());
                } else {
                    for r in &reports {
                        let what = match r.subject {
                            Subject::Rollout => {
                                format!("at {}", crate::render::pct(r.basis_points))
                            }
                            Subject::Current => "(current)".to_string(),
                            Subject::Promotion => "(current, to promote)".to_string(),
                            Subject::Incident => format!("incident #{}", r.incident.unwrap_or(0)),
                        };
                        let incident = match (r.subject, r.incident) {
                            (Subject::Incident, _) | (_, None) => String::new(),
                            (_, Some(n)) => format!(" [incident #{n}]"),
                        };
                        let to = r
                            .to_basis_points
                            .map(|bp| format!(" to {}", crate::render::pct(bp)))
                            .unwrap_or_default();
                        outln!(
                            "{} {} {} {} {what}: {:?}{to}{incident} — {}",
                            ws.now(),
                            r.app,
                            r.channel,
                            r.version,
                            r.action,
                            r.detail
                        );
                    }
                }
            }
            // A loop for a server keeps going through a bad pass (Prometheus down, a
            // store hiccup) and says so; `--once` reports it as the exit code.
            Err(e) if !once => eprintln!("airlock watch: this pass failed: {e}"),
            Err(e) => return Err(e),
        }
        // The watcher drains the notification outbox after each pass (within the budget).
        if let Some(w) = ws.notify_after_change().await {
            eprintln!("airlock watch: {w}");
        }
        if once {
            return Ok(0);
        }
        tokio::time::sleep(every).await;
    }
}

pub async fn kpi_import(cli: &Cli, ws: &Workspace) -> Result<u8> {
    let crate::args::Command::Kpi {
        command:
            KpiCommand::Import {
                file,
                app,
                channel,
                format,
                columns,
                bucket_minutes,
                remove,
                all,
            },
    } = &cli.command
    else {
        unreachable!("called for kpi import")
    };
    if *remove {
        let which = match file {
            Some(f) if !*all => Removal::One(f.to_string_lossy().into_owned()),
            _ => Removal::All,
        };
        return kpi_import_remove(cli, ws, app, channel, &which).await;
    }
    let Some(file) = file else {
        unreachable!("clap requires FILE without --remove --all")
    };
    let format = match format.as_deref() {
        None => None,
        Some("csv") => Some(Format::Csv),
        Some("json") => Some(Format::Json),
        Some(other) => {
            return Err(Error::InvalidInput(format!(
                "--format {other:?}: csv or json"
            )));
        }
    };
    let req = ImportRequest {
        file: file.clone(),
        app: app.clone(),
        channel: channel.clone(),
        format,
        columns: Columns::parse(columns)?,
        bucket_minutes: *bucket_minutes,
    };
    let r = ws.import_kpi(&req).await?;
    if cli.json {
        print_json(&r);
    } else if r.added {
        outln!(
            "imported {} rows for {} ({}) from {} to {}: {} new, {} replacing an earlier \
             import's rows; sha256 {}",
            r.rows,
            app,
            r.versions.join(", "),
            r.from.map_or("-".into(), |t| t.to_string()),
            r.to.map_or("-".into(), |t| t.to_string()),
            r.new_rows,
            r.replaced_rows,
            &r.sha256[..12]
        );
    } else {
        outln!(
            "{} was imported before (same SHA-256); nothing added",
            r.file
        );
    }
    Ok(0)
}

/// `airlock kpi import --remove FILE|--all`: what was removed, or that nothing was.
async fn kpi_import_remove(
    cli: &Cli,
    ws: &Workspace,
    app: &str,
    channel: &str,
    which: &Removal,
) -> Result<u8> {
    let r = ws.remove_kpi_imports(app, channel, which).await?;
    if cli.json {
        print_json(&r);
        return Ok(0);
    }
    if r.removed.is_empty() {
        outln!("nothing is imported for {app} in {channel}; nothing removed");
    }
    for i in &r.removed {
        outln!(
            "removed {} (sha256 {}, imported {}): {} of its {} rows{}",
            i.file,
            i.short_sha(),
            i.imported_at,
            i.rows_remaining,
            i.rows,
            if i.rows_remaining < i.rows {
                " (later imports had replaced the others)"
            } else {
                ""
            }
        );
    }
    Ok(0)
}

/// `airlock adoption`: one report per channel (the one named, else every channel with a
/// current release); warnings in words, exit 0 either way.
pub async fn adoption(
    cli: &Cli,
    ws: &Workspace,
    app: &str,
    channel: &Option<String>,
) -> Result<u8> {
    let source = ws.kpi_source().await?;
    let channels: Vec<String> = match channel {
        Some(c) => vec![c.clone()],
        None => ws.config().channels.keys().cloned().collect(),
    };
    let mut reports = Vec::new();
    for c in channels {
        let r = ws.adoption(app, &c, source.as_ref()).await?;
        if channel.is_some() || r.version.is_some() {
            reports.push(r);
        }
    }
    if cli.json {
        print_json(&reports);
        return Ok(0);
    }
    for r in &reports {
        let Some(v) = &r.version else {
            outln!("{} {}: no current release", r.app, r.channel);
            continue;
        };
        let since = r.current_since.map_or("-".into(), |t| t.to_string());
        outln!("{} {}: {v}, current since {since}", r.app, r.channel);
        for m in &r.milestones {
            let share = match (m.share, m.at <= ws.now()) {
                (Some(s), _) => words::percent(s),
                (None, true) => "no numbers".into(),
                (None, false) => format!("at {}", m.at),
            };
            let mark = match m.met {
                Some(true) => "ok  ",
                Some(false) => "LOW ",
                None => "    ",
            };
            outln!(
                "  {mark}{:>3} h after 100 %: {share} of active devices (target {})",
                m.hours,
                words::percent(m.target)
            );
        }
        if let Some(u) = &r.update_checks {
            outln!(
                "  {}update checks, {} to {}: {} of {} failed (target under {})",
                if u.met { "ok  " } else { "HIGH" },
                u.from,
                u.to,
                words::count(u.failed),
                words::count(u.checks),
                words::percent(u.limit)
            );
        }
        for w in &r.warnings {
            outln!("  warning: {w}");
        }
    }
    Ok(0)
}

pub async fn kpi_ingest(cli: &Cli, ws: &Workspace, bar: &crate::bar::Bar) -> Result<u8> {
    let r = ws.ingest_cdn_logs().await?;
    bar.finish();
    if cli.json {
        print_json(&r);
        return Ok(0);
    }
    outln!(
        "{}: read {} new log file(s) ({} read before): {} requests, {} counted, {} for \
         nothing Airlock knows, {} malformed",
        r.store,
        r.files,
        r.already_read,
        r.lines,
        r.counted,
        r.unattributed,
        r.malformed
    );
    for p in &r.problems {
        match p.line {
            Some(line) => outln!("  {} line {line}: {}", p.file, p.reason),
            None => outln!("  {}: {}", p.file, p.reason),
        }
    }
    if r.malformed > r.problems.iter().filter(|p| p.line.is_some()).count() as u64 {
        outln!(
            "  (the first {} malformed lines of each file are listed; all are counted)",
            airlock_core::kpi::cdn_logs::MALFORMED_KEPT
        );
    }
    Ok(0)
}

pub async fn kpi_auth(cli: &Cli, command: &KpiAuthCommand) -> Result<u8> {
    let command = command.clone();
    let json = cli.json;
    tokio::task::spawn_blocking(move || auth(&command, json))
        .await
        .map_err(|e| Error::Keychain(format!("the kpi auth command failed to run: {e}")))?
}

fn auth(command: &KpiAuthCommand, json: bool) -> Result<u8> {
    let keychain = SecretServiceKeychain::connect()?;
    let (name, what) = match command {
        KpiAuthCommand::Set { name, user } => {
            let auth = match user {
                Some(user) => Auth::Basic {
                    user: user.clone(),
                    password: read_secret("Prometheus password")?.expose().clone(),
                },
                None => Auth::Bearer(read_secret("Prometheus bearer token")?.expose().clone()),
            };
            prometheus::save_auth(&keychain, name, &auth)?;
            (
                name,
                format!(
                    "stored in the OS keychain; use it with `auth = \"keychain:{name}\"` under \
                 [kpi.prometheus] in airlock.toml"
                ),
            )
        }
        KpiAuthCommand::Delete { name } => {
            let gone = prometheus::delete_auth(&keychain, name)?;
            (
                name,
                if gone {
                    "removed from the OS keychain".into()
                } else {
                    "was not in the OS keychain".into()
                },
            )
        }
    };
    if json {
        print_json(&serde_json::json!({ "name": name, "result": what }));
    } else {
        outln!("{name}: {what}");
    }
    Ok(0)
}
