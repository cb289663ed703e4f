//! `airlock-console [--workspace DIR] [--actor NAME] [--viewer] [--demo]`: opens that workspace
//! (read-only with `--viewer`, whatever its airlock.toml says), else the
//! one used last, else (with `--demo`, as `make run` does) the demo, else the first-run screen.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use airlock_console::state::Console;
use std::path::PathBuf;
use std::sync::Arc;
use tauri::Manager;

struct Args {
    workspace: Option<PathBuf>,
    actor: Option<String>,
    /// With no workspace named and none used before: open (or create) the demo.
    demo: bool,
    /// Open read-only (role = viewer), whatever the workspace's airlock.toml says.
    viewer: bool,
}

fn args() -> Result<Args, String> {
    let mut out = Args {
        workspace: None,
        demo: false,
        viewer: false,
        actor: std::env::var("AIRLOCK_ACTOR")
            .ok()
            .filter(|a| !a.is_empty()),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--workspace" => out.workspace = it.next().map(PathBuf::from),
            "--actor" => out.actor = it.next(),
            "--demo" => out.demo = true,
            "--viewer" => out.viewer = true,
            "--help" | "-h" => {
                println!(
                    "usage: airlock-console [--workspace DIR] [--actor NAME] [--viewer] [--demo]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}; see --help")),
        }
    }
    Ok(out)
}

fn main() {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("airlock-console: {e}");
            std::process::exit(2);
        }
    };
    let builder = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .on_window_event(airlock_console::window::on_event);
    let context = tauri::generate_context!();
    // The data folder (demo, last workspace): AIRLOCK_CONSOLE_DATA, else the OS's.
    let data_dir = std::env::var_os("AIRLOCK_CONSOLE_DATA")
        .map(PathBuf::from)
        .or_else(|| {
            let home = std::env::var_os("HOME").map(PathBuf::from)?;
            Some(
                std::env::var_os("XDG_DATA_HOME")
                    .map_or(home.join(".local/share"), PathBuf::from)
                    .join("airlock"),
            )
        })
        .unwrap_or_else(|| PathBuf::from("airlock-data"));
    let mut console = Console::new(
        Arc::new(airlock_core::Services::default),
        data_dir.clone(),
        Some(data_dir.join("last-workspace")),
    );
    console.actor = args.actor;
    console.set_viewer(args.viewer);
    let workspace = args.workspace.or_else(|| console.recent());
    let demo = args.demo && workspace.is_none();
    airlock_console::app(builder, console)
        .setup(move |app| {
            airlock_console::use_native_dialog(app.handle());
            airlock_console::events::watch(app.handle().clone());
            airlock_console::gate::run(app.handle().clone());
            let console = app.state::<Console>();
            let opened = match (&workspace, demo) {
                (Some(dir), _) => Some(tauri::async_runtime::block_on(console.open(dir))),
                (None, true) => Some(tauri::async_runtime::block_on(console.open_demo())),
                (None, false) => None,
            };
            if let Some(Err(e)) = opened {
                console.set_startup_error(*e.0);
            }
            Ok(())
        })
        .run(context)
        .expect("the console failed to start");
}
