//! `airlock`: the command line for release managers and CI pipelines, a thin layer over
//! airlock-core. Exit codes: 0 success; 1 refused by a rule (a gate, a missing approval, a
//! conflict, or — for `verify` — the device would refuse the update); 2 unusable arguments,
//! configuration or input; 3 the environment failed (store, keychain, database, the KPI
//! source); 4 the command was committed (its log entry is written) but a pointer or the
//! registry is still pending — do not retry it; `airlock sync` completes it. `analyze`
//! exits with its verdict: 0 pass, 1 fail, 4 inconclusive.

mod analyze;
mod args;
mod bar;
mod chart;
mod credentials;
mod incident;
mod notify;
mod out;
mod render;
mod run;
mod simulate;

use airlock_core::{Error, ErrorKind};
use clap::Parser;
use out::outln;
use std::process::ExitCode;

fn exit_code(err: &Error) -> u8 {
    match err.kind() {
        ErrorKind::Committed => 4,
        ErrorKind::Cancelled => 130,
        k if k.is_refusal() => 1,
        ErrorKind::InvalidInput | ErrorKind::Config | ErrorKind::NotFound => 2,
        ErrorKind::Store
        | ErrorKind::Signer
        | ErrorKind::Keychain
        | ErrorKind::Database
        | ErrorKind::Metrics => 3,
        _ => 3,
    }
}

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let json = cli.json;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the async runtime starts");
    // One bar for the whole command: `release` draws its hashing and uploads on it, every
    // other operation its steps (copies, checks, pointers, the CDN wait) through the scope.
    let bar = std::sync::Arc::new(bar::Bar::new(!json));
    let result = runtime.block_on(airlock_core::progress::reporting(
        bar.clone(),
        run::run(cli, bar.clone()),
    ));
    bar.finish();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if json {
                let mut body = serde_json::json!({
                    "error": { "kind": err.kind(), "message": err.to_string() }
                });
                if let Error::Committed {
                    app,
                    seq,
                    command,
                    pending,
                } = &err
                {
                    body["error"]["app"] = serde_json::json!(app);
                    body["error"]["seq"] = serde_json::json!(seq);
                    body["error"]["command"] = serde_json::json!(command);
                    body["error"]["pending"] = serde_json::json!(pending);
                }
                outln!("{body}");
            }
            eprintln!("error: {err}");
            ExitCode::from(exit_code(&err))
        }
    }
}
