//! One function per verb: resolve the workspace and actor, call one core operation, print
//! the result as text or JSON. No rules live here.

use crate::out::{out, outln};

use crate::args::{Cli, Command, InitArgs, KeysCommand, KpiCommand, VerifyArgs};
use crate::credentials;
use crate::{bar::Bar, render};
use airlock_core::config::{Config, StoreConfig};
use airlock_core::ops::Committed;
use airlock_core::ops::device::DeviceProfile;
use airlock_core::ops::release::ReleaseRequest;
use airlock_core::ops::rollout::{ExpandTo, PromoteRequest};
use airlock_core::{Attribution, Error, Expectation, Result, Services, Workspace};
use airlock_protocol::device::{AcceptedPointer, Outcome};
use airlock_protocol::keys::PublicKey;
use serde::Serialize;

pub(crate) fn print_json(value: &impl Serialize) {
    outln!(
        "{}",
        serde_json::to_string_pretty(value).expect("output types serialise")
    );
}

pub(crate) fn attribution(cli: &Cli, ws: &Workspace) -> Result<Attribution> {
    let actor = cli
        .actor
        .clone()
        .or_else(|| ws.config().actor.clone())
        .ok_or_else(|| {
            Error::InvalidInput(
            "who is acting? pass --actor NAME, set AIRLOCK_ACTOR, or set `actor` in airlock.toml"
                .into(),
        )
        })?;
    let mut by = Attribution::new(&actor, cli.reason.as_deref())?;
    if let Some(id) = &cli.command_id {
        by = by.with_command(id)?;
    }
    let basis_points = cli
        .expect_percent
        .map(airlock_core::config::percent_to_basis_points)
        .transpose()?;
    Ok(by.expecting(Expectation {
        running: false,
        current: None,
        rollout_id: cli.expect_rollout.clone(),
        basis_points,
        never_in: None,
        stay_since: None,
    }))
}

pub(crate) fn done(cli: &Cli, c: &Committed) -> Result<u8> {
    if cli.json {
        print_json(&serde_json::json!({
            "app": c.entry.entry.app,
            "entry": c.entry.entry,
            "pointers": c.pointers,
            "replayed": c.replayed,
        }));
    } else {
        render::committed(c);
    }
    Ok(0)
}

/// Prints a preview (`--dry-run`): what would happen, nothing written.
fn previewed(cli: &Cli, p: &airlock_core::ops::preview::Preview) -> Result<u8> {
    if cli.json {
        print_json(p);
    } else {
        outln!(
            "dry run: would write {} #{} {} ({}); nothing was written",
            p.entry.app,
            p.entry.seq,
            p.entry.event.kind(),
            render::describe(&p.entry.event)
        );
        for line in &p.summary {
            outln!("  {line}");
        }
    }
    Ok(0)
}

pub async fn run(cli: Cli, bar: std::sync::Arc<Bar>) -> Result<u8> {
    match &cli.command {
        Command::Init(args) => return init(&cli, args).await,
        Command::Credentials { command } => return credentials::run(&cli, command).await,
        Command::Kpi {
            command: KpiCommand::Auth { command },
        } => return crate::analyze::kpi_auth(&cli, command).await,
        _ => {}
    }
    let mut ws = Workspace::open(&cli.workspace, Services::default()).await?;
    if let Command::Keys { command } = &cli.command {
        return keys(&cli, &mut ws, command).await;
    }
    let result = dispatch(&cli, &ws, bar).await;
    // A changing command delivers what is due after its own work, within the `[notify]`
    // budget: its entry and pointers are already written, and a dead receiver costs at
    // most the budget. A failure to notify is a warning, never the command's failure.
    if result.is_ok()
        && changes(&cli.command)
        && let Some(warning) = ws.notify_after_change().await
    {
        eprintln!("warning: {warning}");
    }
    result
}

/// The commands that write to the log (and so may have notifications to deliver).
fn changes(c: &Command) -> bool {
    matches!(
        c,
        Command::Release { .. }
            | Command::Promote { .. }
            | Command::Expand { .. }
            | Command::Pause(_)
            | Command::Resume(_)
            | Command::Revert { .. }
            | Command::Rollback { .. }
            | Command::Approve { .. }
            | Command::Reject { .. }
            | Command::Quarantine { .. }
            | Command::Archive { .. }
            | Command::Recover { .. }
            | Command::Resign { .. }
            | Command::Incident { .. }
    )
}

async fn dispatch(cli: &Cli, ws: &Workspace, bar: std::sync::Arc<Bar>) -> Result<u8> {
    match &cli.command {
        Command::Init(_)
        | Command::Credentials { .. }
        | Command::Kpi {
            command: KpiCommand::Auth { .. },
        } => {
            unreachable!("handled above")
        }
        Command::Kpi {
            command: KpiCommand::Import { .. },
        } => crate::analyze::kpi_import(cli, ws).await,
        Command::Incident { command } => crate::incident::run(cli, ws, command).await,
        Command::Notify { command } => crate::notify::run(cli, ws, command).await,
        Command::Report {
            command: crate::args::ReportCommand::Weekly { week, app, out },
        } => {
            let week = match week {
                Some(w) => airlock_core::ops::rollup::Week::parse(w)?,
                None => airlock_core::ops::rollup::Week::before(ws.now()),
            };
            let (files, paths) = ws.write_weekly_rollup(week, app.as_deref(), out).await?;
            if cli.json {
                print_json(&files.rollup);
            } else {
                crate::out::outln!("{}", files.rollup.title);
                for p in paths {
                    crate::out::outln!("  wrote {}", p.display());
                }
            }
            Ok(0)
        }
        Command::Simulate(args) => crate::simulate::run(cli, ws, args).await,
        Command::Adoption { app, channel } => crate::analyze::adoption(cli, ws, app, channel).await,
        Command::Kpi {
            command: KpiCommand::Ingest,
        } => crate::analyze::kpi_ingest(cli, ws, bar.as_ref()).await,
        Command::Release {
            app,
            bundle,
            version,
            channel,
            min_native,
            description,
        } => {
            let by = attribution(cli, ws)?;
            let req = ReleaseRequest {
                app: app.clone(),
                bundle: bundle.clone(),
                version: version.clone(),
                channel: channel.clone(),
                min_native_version: min_native.clone(),
                description: description.clone(),
            };
            let outcome = ws.release(&by, &req, bar.as_ref()).await;
            bar.finish();
            let outcome = outcome?;
            if cli.json {
                print_json(&outcome);
            } else {
                outln!(
                    "{} {} released into {} (log seq {}): {} files, {} bytes; uploaded {} files, {} bytes",
                    outcome.app,
                    outcome.version,
                    outcome.channel,
                    outcome.seq,
                    outcome.files,
                    outcome.bytes,
                    outcome.uploaded_files,
                    outcome.uploaded_bytes
                );
                outln!("  bundleHash {}", outcome.bundle_hash);
                render::pointers(&outcome.pointers);
            }
            Ok(0)
        }
        Command::Promote {
            app,
            from,
            to,
            percent,
            version,
            dry_run,
        } => {
            let req = PromoteRequest {
                app: app.clone(),
                from: from.clone(),
                to: to.clone(),
                percent: *percent,
                version: version.clone(),
            };
            let by = attribution(cli, ws)?;
            if *dry_run {
                return previewed(cli, &ws.preview_promote(&by, &req).await?);
            }
            // Before the gate has passed it in the source channel: allowed, and said.
            let (by, note) = ws.noting_early_promotion(&by, &req).await?;
            if let Some(n) = note {
                eprintln!("airlock: {n}");
            }
            done(cli, &ws.promote(&by, &req).await?)
        }
        Command::Expand {
            app,
            channel,
            percent,
            next,
            dry_run,
        } => {
            let to = match (percent, next) {
                (Some(p), false) => ExpandTo::Percent(*p),
                _ => ExpandTo::Next,
            };
            let by = attribution(cli, ws)?;
            if *dry_run {
                return previewed(cli, &ws.preview_expand(&by, app, channel, to).await?);
            }
            // Before the gate has passed the step: allowed, and said (and logged).
            let (by, note) = ws.noting_early_expansion(&by, app, channel).await?;
            if let Some(n) = note {
                eprintln!("airlock: {n}");
            }
            done(cli, &ws.expand(&by, app, channel, to).await?)
        }
        Command::Pause(a) => done(
            cli,
            &ws.pause(&attribution(cli, ws)?, &a.app, &a.channel).await?,
        ),
        Command::Resume(a) => done(
            cli,
            &ws.resume(&attribution(cli, ws)?, &a.app, &a.channel)
                .await?,
        ),
        Command::Revert {
            app,
            channel,
            dry_run,
        } => {
            let by = attribution(cli, ws)?;
            if *dry_run {
                return previewed(cli, &ws.preview_revert(&by, app, channel).await?);
            }
            done(cli, &ws.revert(&by, app, channel).await?)
        }
        Command::Recover { app, yes } => {
            let plan = ws.recover(app, &attribution(cli, ws)?, *yes).await?;
            if cli.json {
                print_json(&plan);
            } else {
                render::recover_plan(&plan, *yes);
            }
            // Not carried out: say so in the exit code, so a script cannot mistake it.
            Ok(if *yes { 0 } else { 1 })
        }
        Command::Resign {
            app: Some(app),
            channel: Some(channel),
            ..
        } => done(cli, &ws.resign(&attribution(cli, ws)?, app, channel).await?),
        Command::Resign {
            expiring_within, ..
        } => {
            if cli.command_id.is_some() {
                return Err(Error::InvalidInput(
                    "--command-id names one command; `resign --all` runs one per pointer".into(),
                ));
            }
            let results = ws
                .resign_expiring(&attribution(cli, ws)?, *expiring_within)
                .await?;
            let mut failed = 0;
            let mut list = Vec::new();
            for (app, channel, result) in &results {
                match result {
                    Ok(c) => {
                        if !cli.json {
                            render::committed(c);
                        }
                        list.push(serde_json::json!({"app": app, "channel": channel, "seq": c.entry.entry.seq}));
                    }
                    Err(e) => {
                        failed += 1;
                        eprintln!("error: {app}/{channel}: {e}");
                        list.push(serde_json::json!({"app": app, "channel": channel, "error": {"kind": e.kind(), "message": e.to_string()}}));
                    }
                }
            }
            if cli.json {
                print_json(&list);
            } else if results.is_empty() {
                outln!("no pointer expires within the window; nothing to re-sign");
            }
            Ok(if failed > 0 { 3 } else { 0 })
        }
        Command::Rollback {
            app,
            channel,
            to,
            dry_run,
        } => {
            let by = attribution(cli, ws)?;
            if *dry_run {
                let preview = ws
                    .preview_rollback(&by, app, channel, to.as_deref())
                    .await?;
                return previewed(cli, &preview);
            }
            done(cli, &ws.rollback(&by, app, channel, to.as_deref()).await?)
        }
        Command::Approve {
            app,
            version,
            channel,
        } => done(
            cli,
            &ws.approve(&attribution(cli, ws)?, app, version, channel)
                .await?,
        ),
        Command::Reject {
            app,
            version,
            channel,
        } => done(
            cli,
            &ws.reject(&attribution(cli, ws)?, app, version, channel)
                .await?,
        ),
        Command::Quarantine { app, version } => done(
            cli,
            &ws.quarantine(&attribution(cli, ws)?, app, version).await?,
        ),
        Command::Archive {
            app,
            version,
            channel,
        } => done(
            cli,
            &ws.archive(&attribution(cli, ws)?, app, version, channel)
                .await?,
        ),
        Command::Status { app } => {
            let apps = match app {
                Some(a) => vec![a.clone()],
                None => ws.apps().await?,
            };
            let mut all = Vec::new();
            for a in &apps {
                all.push(ws.status(a).await?);
            }
            if cli.json {
                print_json(&all);
            } else if all.is_empty() {
                outln!("no apps yet; publish one with `airlock release APP BUNDLE --version V`");
            } else {
                all.iter().for_each(render::status);
            }
            Ok(0)
        }
        Command::Chart {
            app,
            channel,
            panel,
            from,
            to,
            out,
            theme,
            width,
        } => {
            let req = crate::chart::Request {
                app,
                channel,
                panel,
                range: (from, to),
                out,
                theme,
                width: *width,
            };
            crate::chart::chart(cli, ws, &req).await
        }
        Command::Analyze {
            app,
            channel,
            candidate,
            baseline,
            from,
            to,
        } => {
            crate::analyze::analyze(cli, ws, app, channel, (candidate, baseline), (from, to)).await
        }
        Command::Watch {
            app,
            channel,
            once,
            interval,
        } => {
            let actor = attribution(cli, ws)?.actor;
            crate::analyze::watch(cli, ws, &actor, (app, channel), *once, interval).await
        }
        Command::Log { app } => {
            let entries = ws.history(app).await?;
            if cli.json {
                let list: Vec<_> = entries
                    .iter()
                    .map(|s| serde_json::json!({ "hash": s.hash, "entry": s.entry }))
                    .collect();
                print_json(&list);
            } else {
                for s in &entries {
                    let e = &s.entry;
                    let reason = e
                        .reason
                        .as_deref()
                        .map(|r| format!(" — {r}"))
                        .unwrap_or_default();
                    outln!(
                        "#{:<4} {} {:<10} {:<16} {}{reason}",
                        e.seq,
                        e.at,
                        e.actor,
                        e.event.kind(),
                        render::describe(&e.event)
                    );
                }
            }
            Ok(0)
        }
        Command::Sync { full } => {
            let depth = if *full {
                airlock_core::ops::sync::SyncDepth::Full
            } else {
                airlock_core::ops::sync::SyncDepth::New
            };
            let report = ws.sync_with(depth).await?;
            if cli.json {
                print_json(&report);
            } else {
                for a in &report {
                    let rebuilt = if a.rebuilt {
                        " (registry rebuilt: it disagreed with the store)"
                    } else {
                        ""
                    };
                    outln!(
                        "{}: {} entries, {} new{rebuilt}; {} pointer(s) repaired",
                        a.app,
                        a.entries,
                        a.new_entries,
                        a.pointers.len()
                    );
                    for k in &a.foreign_objects {
                        outln!("  warning: {k} is not a log entry; passed over");
                    }
                    for f in &a.pending {
                        outln!("  PENDING: the {} pointer: {}", f.channel, f.error);
                    }
                }
            }
            // A pointer still pending is the environment failing: exit 3 so a scheduler
            // notices and runs sync again.
            Ok(if report.iter().any(|a| !a.pending.is_empty()) {
                3
            } else {
                0
            })
        }
        Command::Verify(args) => verify(cli, ws, args).await,
        Command::Keys { .. } => unreachable!("handled above"),
        Command::Check {
            deep: Some(app),
            version,
        } => {
            let checks = ws.check_deep(app, version.as_deref()).await?;
            if cli.json {
                print_json(&checks);
            } else {
                for c in &checks {
                    match &c.error {
                        None => {
                            outln!("{app} {} in {} ({}): intact", c.version, c.channel, c.store)
                        }
                        Some(e) => outln!(
                            "{app} {} in {} ({}): NOT INTACT: {e}",
                            c.version,
                            c.channel,
                            c.store
                        ),
                    }
                }
            }
            Ok(if checks.iter().any(|c| c.error.is_some()) {
                1
            } else {
                0
            })
        }
        Command::Check { .. } => {
            let report = ws.check_connection().await?;
            if cli.json {
                print_json(&report);
            } else {
                for s in &report.stores {
                    outln!(
                        "store {}: reachable, honours create-only and compare-and-swap writes",
                        s.store
                    );
                    if let Some(w) = &s.warning {
                        outln!("  WARNING: {w}");
                    }
                }
                outln!(
                    "signer {}: signs, and the signature verifies (key id {})",
                    report.signer,
                    report.keyid
                );
            }
            Ok(0)
        }
        Command::Gc { dry_run } => {
            let report = ws.gc(*dry_run).await?;
            if cli.json {
                print_json(&report);
            } else {
                let verb = if *dry_run { "would delete" } else { "deleted" };
                outln!(
                    "{} manifests reference {} blobs; {verb} {} unreferenced blob(s)",
                    report.manifests,
                    report.referenced_blobs,
                    report.unreferenced.len()
                );
                for k in &report.unreferenced {
                    outln!("  {k}");
                }
            }
            Ok(0)
        }
    }
}

async fn init(cli: &Cli, args: &InitArgs) -> Result<u8> {
    let mut config = Config::new(&args.store, &args.signer);
    config.credentials = args.credentials.clone();
    config.aws_endpoint = args.endpoint.clone();
    config.aws_region = args.region.clone();
    if args.path_style {
        config.stores.insert(
            "home".into(),
            StoreConfig {
                url: args.store.clone(),
                path_style: true,
                ..StoreConfig::default()
            },
        );
        config.store = "home".into();
    }
    if let Some(url) = &args.production_store {
        let name = if args.path_style {
            config.stores.insert(
                "production".into(),
                StoreConfig {
                    url: url.clone(),
                    path_style: true,
                    ..StoreConfig::default()
                },
            );
            "production".to_string()
        } else {
            url.clone()
        };
        if let Some(production) = config.channels.get_mut("Production") {
            production.store = Some(name);
        }
    }
    let actor = cli.actor.clone().unwrap_or_else(|| "airlock init".into());
    let done = Workspace::init(&cli.workspace, config, Services::default(), &actor).await?;
    let config = &done.config;
    if cli.json {
        print_json(&done);
    } else {
        outln!(
            "wrote {} (store {}, signer {})",
            cli.workspace.join("airlock.toml").display(),
            args.store,
            config.signer
        );
        if let Some(url) = &args.production_store {
            outln!("Production lives in {url}; promotions copy releases there");
        }
        if config.signer.starts_with("local") {
            outln!(
                "the local signing key lives in this desktop's keychain; teams share a KMS key \
                 instead (--signer kms:alias/…)"
            );
        }
        render::key_set(&done.keys);
    }
    Ok(0)
}

async fn keys(cli: &Cli, ws: &mut Workspace, command: &KeysCommand) -> Result<u8> {
    let report = match command {
        KeysCommand::Show => ws.key_set_report().await?,
        KeysCommand::Join => {
            let actor = cli
                .actor
                .clone()
                .or_else(|| ws.config().actor.clone())
                .unwrap_or_else(|| "airlock keys join".into());
            ws.adopt_key_set(&actor, false).await?
        }
        // A change to the trusted keys is signed and kept: it needs a named actor.
        KeysCommand::Rotate { to } => {
            let actor = attribution(cli, ws)?.actor;
            ws.rotate_key(&actor, to).await?
        }
        KeysCommand::Retire { keyid } => {
            let actor = attribution(cli, ws)?.actor;
            ws.retire_key(&actor, keyid).await?
        }
        KeysCommand::Create { name } => {
            let key = ws.create_local_key(name).await?;
            if cli.json {
                print_json(
                    &serde_json::json!({ "keyid": key.keyid(), "signer": format!("local:{name}") }),
                );
            } else {
                outln!(
                    "local key {name:?} is in this desktop's keychain (key id {}); it signs \
                     nothing until `airlock keys rotate --to local:{name}` adds it to the set",
                    key.keyid()
                );
            }
            return Ok(0);
        }
        KeysCommand::Export {
            private: true,
            name,
        } => {
            let pem = ws.export_local_key(name)?;
            eprintln!(
                "warning: this is the private signing key {name:?}; anyone holding it can ship \
                 updates to your users. Move it only to `airlock keys import` on another desktop."
            );
            out!("{}", pem.expose());
            return Ok(0);
        }
        KeysCommand::Export { private: false, .. } => {
            let set = ws.key_set().await?;
            let keys = set.set.active_keys();
            if cli.json {
                let list: Vec<_> = keys
                    .iter()
                    .map(|k| serde_json::json!({ "keyid": k.keyid(), "algorithm": k.algorithm().as_str(), "pem": k.to_pem() }))
                    .collect();
                print_json(&list);
            } else {
                keys.iter().for_each(|k| out!("{}", k.to_pem()));
            }
            return Ok(0);
        }
        KeysCommand::Import { name } => {
            let mut pem = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut pem)
                .map_err(|e| Error::InvalidInput(format!("cannot read standard input: {e}")))?;
            let key = ws.import_local_key(name, &airlock_core::secret::Sensitive::new(pem))?;
            outln!(
                "local key {name:?} imported into this desktop's keychain (key id {})",
                key.keyid()
            );
            return Ok(0);
        }
    };
    if cli.json {
        print_json(&report);
    } else {
        render::key_set(&report);
    }
    Ok(0)
}

async fn verify(cli: &Cli, ws: &Workspace, args: &VerifyArgs) -> Result<u8> {
    let native = args
        .native
        .as_deref()
        .map(|v| {
            semver::Version::parse(v)
                .map_err(|e| Error::InvalidInput(format!("--native {v:?} is not a version: {e}")))
        })
        .transpose()?;
    let keys = if args.keys.is_empty() {
        None
    } else {
        let mut keys = Vec::new();
        for path in &args.keys {
            let pem = std::fs::read_to_string(path).map_err(|e| {
                Error::InvalidInput(format!("cannot read key {}: {e}", path.display()))
            })?;
            keys.extend(PublicKey::from_pem(&pem)?);
        }
        Some(keys)
    };
    let last_accepted: Option<AcceptedPointer> = match &args.state {
        Some(path) if path.exists() => {
            let text = std::fs::read(path)
                .map_err(|e| Error::InvalidInput(format!("cannot read {}: {e}", path.display())))?;
            Some(serde_json::from_slice(&text).map_err(|e| {
                Error::InvalidInput(format!(
                    "{} is not a device state file: {e}",
                    path.display()
                ))
            })?)
        }
        _ => None,
    };
    let device = DeviceProfile {
        install_id: args.install_id.clone(),
        native_version: native,
        last_accepted,
    };
    let decision = ws
        .verify_as_device(&args.app, &args.channel, device, keys)
        .await?;
    if let (Some(path), Some(accepted)) = (&args.state, &decision.accepted_pointer) {
        let bytes = serde_json::to_vec_pretty(accepted).expect("device state serialises");
        std::fs::write(path, bytes)
            .map_err(|e| Error::InvalidInput(format!("cannot write {}: {e}", path.display())))?;
    }
    if cli.json {
        print_json(&decision);
    } else {
        render::decision(&decision);
    }
    Ok(if matches!(decision.outcome, Outcome::Refused { .. }) {
        1
    } else {
        0
    })
}
