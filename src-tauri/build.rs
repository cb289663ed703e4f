//! Lists the app's own commands so the capability in `capabilities/main.json` gates them
//! like plugin commands (the set `allow-app-commands` is in `permissions/app.toml`).

const COMMANDS: &[&str] = &[
    "current_workspace",
    "recent_workspace",
    "startup_error",
    "open_workspace",
    "create_workspace",
    "open_demo",
    "pick_folder",
    "pick_bundle",
    "overview",
    "releases",
    "release_detail",
    "log_page",
    "rollout_chart",
    "check_log",
    "publish",
    "cancel_publish",
    "preview_action",
    "perform_action",
    "settings",
    "edit_settings",
    "test_connection",
    "credentials_status",
    "set_credentials",
    "sync_now",
    "gate_status",
    "set_gate",
    "gate_pass_now",
    "kpi_screen",
    "app_health",
    "adoption",
    "incidents",
    "incident",
    "open_incident",
    "tick_incident",
    "close_incident",
    "export_postmortem",
    "weekly_rollup",
    "write_weekly_rollup",
    "notify_status",
    "set_notify",
    "delete_notify",
    "test_notify",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("the tauri build step failed");
}
