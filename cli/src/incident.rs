//! `airlock incident`: open one by hand, list, show (timeline, numbers, checklist), tick an
//! item, run Airlock's checks, close, and write the blameless postmortem. Every change is a
//! log entry, so every desktop and CI job sees the same incident.

use crate::args::{Cli, IncidentCommand};
use crate::out::{out, outln};
use crate::run::{attribution, done, print_json};
use airlock_core::log::entry::ChecklistItem;
use airlock_core::ops::incident::{IncidentView, OpenRequest};
use airlock_core::{Error, Result, Workspace};

pub async fn run(cli: &Cli, ws: &Workspace, command: &IncidentCommand) -> Result<u8> {
    match command {
        IncidentCommand::Open {
            app,
            channel,
            version,
            severity,
        } => {
            let req = OpenRequest {
                app: app.clone(),
                channel: channel.clone(),
                version: version.clone(),
                severity: *severity,
            };
            done(cli, &ws.open_incident(&attribution(cli, ws)?, &req).await?)
        }
        IncidentCommand::List { app, all } => {
            let list = ws.incidents(app.as_deref(), *all).await?;
            if cli.json {
                print_json(&list);
            } else if list.is_empty() {
                outln!("no {}incidents", if *all { "" } else { "open " });
            }
            for i in list.iter().filter(|_| !cli.json) {
                let checked = i.checklist.iter().filter(|c| c.checked.is_some()).count();
                outln!(
                    "{} #{} SEV-{} {} in {} — {} — {checked}/{} checked — {}",
                    i.app,
                    i.number,
                    i.severity,
                    i.version,
                    i.channel,
                    if i.open { "open" } else { "closed" },
                    i.checklist.len(),
                    i.recommendation
                );
            }
            Ok(0)
        }
        IncidentCommand::Show { app, number } => {
            let i = ws.incident(app, *number).await?;
            if cli.json {
                print_json(&i);
            } else {
                show(&i);
            }
            Ok(0)
        }
        IncidentCommand::Tick {
            app,
            number,
            item,
            note,
        } => {
            let item = ChecklistItem::parse(item)?;
            let by = attribution(cli, ws)?;
            done(
                cli,
                &ws.tick_incident(&by, app, *number, item, note.as_deref())
                    .await?,
            )
        }
        IncidentCommand::Check { app, number } => {
            let by = attribution(cli, ws)?;
            let source = ws.kpi_source().await?;
            let checks = ws
                .check_incident(&by.actor, source.as_ref(), app, *number)
                .await?;
            if cli.json {
                print_json(&checks);
            } else if checks.is_empty() {
                outln!("nothing left for Airlock to check in incident #{number}");
            }
            for c in checks.iter().filter(|_| !cli.json) {
                let mark = if c.held { "ok  " } else { "open" };
                outln!("{mark} {}: {}", c.item.key(), c.detail);
            }
            Ok(0)
        }
        IncidentCommand::Close { app, number } => done(
            cli,
            &ws.close_incident(&attribution(cli, ws)?, app, *number)
                .await?,
        ),
        IncidentCommand::Postmortem {
            app,
            number,
            output,
        } => {
            let text = ws.postmortem(app, *number).await?;
            match output {
                Some(path) => {
                    std::fs::write(path, &text).map_err(|e| {
                        Error::InvalidInput(format!("cannot write {}: {e}", path.display()))
                    })?;
                    if cli.json {
                        print_json(&serde_json::json!({ "file": path }));
                    } else {
                        outln!(
                            "wrote the postmortem of incident #{number} to {}",
                            path.display()
                        );
                    }
                }
                None => out!("{text}"),
            }
            Ok(0)
        }
    }
}

fn show(i: &IncidentView) {
    outln!(
        "{} incident #{} — SEV-{} — {} in {} — {}",
        i.app,
        i.number,
        i.severity,
        i.version,
        i.channel,
        if i.open { "open" } else { "closed" }
    );
    if let Some(r) = &i.reason {
        outln!("  seen: {r}");
    }
    outln!("  do:   {}", i.recommendation);
    outln!("timeline");
    for s in &i.timeline {
        let when = s.at.map_or_else(|| "—".to_string(), |t| t.to_string());
        let who = s
            .actor
            .as_deref()
            .map(|a| format!(" by {a}"))
            .unwrap_or_default();
        outln!("  {:<13} {when:<20}{who}: {}", s.stage, s.detail);
    }
    if !i.kpis.is_empty() {
        outln!("what triggered it");
        for k in &i.kpis {
            outln!("  {} {}: {}", k.verdict, k.kpi, k.reason);
        }
    }
    outln!("checklist");
    for c in &i.checklist {
        match &c.checked {
            Some(check) => outln!(
                "  [x] {} — {} ({} at {})",
                c.label,
                check.detail,
                check.actor,
                check.at
            ),
            None => outln!(
                "  [ ] {}{}",
                c.label,
                if c.automatic {
                    " (Airlock checks it)"
                } else {
                    ""
                }
            ),
        }
    }
}
