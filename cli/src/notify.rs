//! `airlock notify`: webhook URLs and signing secrets into the keychain (read from standard
//! input, never an argument), a test message, delivering what is due, and the log of every
//! message with its attempts.

use crate::args::{Cli, NotifyCommand};
use crate::credentials::read_secret;
use crate::out::outln;
use crate::run::print_json;
use airlock_core::notify::Audience;
use airlock_core::{Result, Workspace};

pub async fn run(cli: &Cli, ws: &Workspace, command: &NotifyCommand) -> Result<u8> {
    match command {
        NotifyCommand::Set {
            audience,
            signing_secret,
        } => {
            let a = Audience::parse(audience)?;
            let what = if *signing_secret {
                format!("{audience} signing secret")
            } else {
                format!("{audience} webhook URL")
            };
            let value = read_secret(&what)?;
            ws.set_notify(a, value.expose(), *signing_secret).await?;
            outln!("{what} stored in the keychain");
            Ok(0)
        }
        NotifyCommand::Delete { audience } => {
            let a = Audience::parse(audience)?;
            let had = ws.delete_notify(a)?;
            outln!(
                "{}",
                if had {
                    format!("{audience}: webhook forgotten")
                } else {
                    format!("{audience}: no webhook was set")
                }
            );
            Ok(0)
        }
        NotifyCommand::Test { audience } => {
            let a = ws.notify_test(Audience::parse(audience)?).await?;
            if cli.json {
                print_json(&a);
            } else {
                match a.status {
                    Some(s) => outln!(
                        "{audience}: the receiver answered {s} in {} ms",
                        a.latency_ms
                    ),
                    None => outln!(
                        "{audience}: no answer ({}) after {} ms",
                        a.error,
                        a.latency_ms
                    ),
                }
            }
            Ok(if a.status.is_some_and(|s| (200..300).contains(&s)) {
                0
            } else {
                1
            })
        }
        NotifyCommand::Send { budget } => {
            let r = ws
                .notify_send(std::time::Duration::from_secs_f64(
                    budget.clamp(0.0, 3600.0),
                ))
                .await?;
            if cli.json {
                print_json(&r);
            } else {
                outln!(
                    "sent {}, retrying later {}, sent by another desktop {}, given up {}, left for later {}",
                    r.sent,
                    r.retrying,
                    r.elsewhere,
                    r.failed,
                    r.left
                );
                for d in &r.disabled {
                    outln!("  {d}");
                }
            }
            Ok(0)
        }
        NotifyCommand::Log { limit } => {
            let rows = ws.notify_log(*limit).await?;
            if cli.json {
                print_json(&rows);
            } else if rows.is_empty() {
                outln!("no notifications yet");
            } else {
                for r in rows {
                    outln!(
                        "{} {} seq {} {:<11} {:<9} {}",
                        r.message.audience.key(),
                        r.message.app,
                        r.message.seq,
                        r.message.kind,
                        r.status,
                        r.message.title
                    );
                    for t in &r.tries {
                        let at = airlock_protocol::time::Timestamp::from_unix(t.at)
                            .map_or_else(|_| t.at.to_string(), |x| x.to_string());
                        match t.status {
                            Some(s) => outln!("    {at} {s} in {} ms", t.latency_ms),
                            None => {
                                outln!("    {at} no answer ({}) after {} ms", t.error, t.latency_ms)
                            }
                        }
                    }
                    if !r.detail.is_empty() {
                        outln!("    {}", r.detail);
                    }
                }
            }
            Ok(0)
        }
        NotifyCommand::Status => {
            let rows = ws.notify_status()?;
            if cli.json {
                let v: Vec<_> = rows
                    .iter()
                    .map(|(a, url, secret)| serde_json::json!({"audience": a.key(), "url": url, "signingSecret": secret}))
                    .collect();
                print_json(&v);
            } else {
                for (a, url, secret) in rows {
                    outln!(
                        "{:<12} {}{}",
                        a.key(),
                        if url { "webhook set" } else { "no webhook" },
                        if secret { ", signing secret set" } else { "" }
                    );
                }
            }
            Ok(0)
        }
    }
}
