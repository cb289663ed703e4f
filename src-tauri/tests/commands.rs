//! Every console command through real IPC on tauri's mock runtime (no display): the request
//! goes in as the web view sends it (origin `tauri://localhost`), through the capability
//! check, into the command and core, and the answer comes back as the web view reads it —
//! including each refusal with its kind.

use airlock_console::state::Console;
use airlock_core::Services;
use airlock_core::keychain::MemoryKeychain;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder};
use tauri::webview::InvokeRequest;
use tauri::{App, WebviewWindow, WebviewWindowBuilder};

struct Harness {
    _app: App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    _data: tempfile::TempDir,
    data: PathBuf,
}

fn console(data: &Path, actor: &str, keychain: Arc<MemoryKeychain>) -> Console {
    let mut c = Console::new(
        Arc::new(move || Services {
            keychain: Some(keychain.clone()),
            ..Services::default()
        }),
        data.to_path_buf(),
        None,
    );
    c.actor = Some(actor.to_string());
    c
}

fn harness_with(actor: &str, keychain: Arc<MemoryKeychain>, data: tempfile::TempDir) -> Harness {
    let path = data.path().to_path_buf();
    let app = airlock_console::app(mock_builder(), console(&path, actor, keychain))
        .build(tauri::generate_context!())
        .expect("the app builds on the mock runtime");
    let window = WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .expect("a main window");
    Harness {
        _app: app,
        window,
        _data: data,
        data: path,
    }
}

fn harness(actor: &str) -> Harness {
    harness_with(
        actor,
        Arc::new(MemoryKeychain::default()),
        tempfile::tempdir().unwrap(),
    )
}

impl Harness {
    /// Invokes `cmd` as the web view would; `Ok(answer)` or `Err(error as sent)`.
    fn call(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        let res = get_ipc_response(
            &self.window,
            InvokeRequest {
                cmd: cmd.into(),
                callback: CallbackFn(0),
                error: CallbackFn(1),
                url: "tauri://localhost".parse().unwrap(),
                body: InvokeBody::Json(args),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        );
        res.map(|b| b.deserialize::<Value>().expect("a JSON answer"))
    }

    fn ok(&self, cmd: &str, args: Value) -> Value {
        self.call(cmd, args)
            .unwrap_or_else(|e| panic!("{cmd} should succeed, got {e}"))
    }

    /// The error kind of a call that must fail.
    fn refused(&self, cmd: &str, args: Value) -> String {
        let e = self
            .call(cmd, args)
            .expect_err(&format!("{cmd} must be refused"));
        e["kind"]
            .as_str()
            .unwrap_or_else(|| panic!("errors carry a kind: {e}"))
            .to_string()
    }

    fn demo(&self) -> Value {
        self.ok("open_demo", json!({}))
    }
}

fn action(kind: &str, app: &str, extra: Value) -> Value {
    let mut a = json!({ "action": kind, "app": app });
    a.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    a
}

fn perform(
    h: &Harness,
    a: Value,
    reason: Option<&str>,
    expect: Option<u32>,
) -> Result<Value, Value> {
    h.call(
        "perform_action",
        json!({ "action": a, "reason": reason, "commandId": format!("test-{}", rand_id()),
                "expectBasisPoints": expect, "progress": "__CHANNEL__:8" }),
    )
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
        + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
}

#[test]
fn with_no_workspace_the_console_says_so() {
    let h = harness("alex");
    assert_eq!(h.ok("current_workspace", json!({})), Value::Null);
    assert_eq!(h.refused("overview", json!({})), "not_found");
}

#[test]
fn the_demo_opens_with_its_apps_at_their_stages() {
    let h = harness("alex");
    let info = h.demo();
    assert_eq!(info["readOnly"], false);
    let apps = h.ok("overview", json!({}));
    let names: Vec<&str> = apps
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["app"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["checkout", "loyalty"]);
    let checkout = &apps[0];
    let prod = checkout["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == "Production")
        .unwrap();
    assert_eq!(prod["current"], "1.1.0");
    assert_eq!(prod["rollout"]["version"], "1.2.0");
    assert_eq!(
        prod["rollout"]["basisPoints"], 2000,
        "the demo rolls out at 20 %"
    );
    assert_eq!(prod["rollbackTarget"], "1.0.0");
    assert_eq!(apps[1]["pendingApprovals"][0]["version"], "2.1.0");

    let detail = h.ok(
        "release_detail",
        json!({ "app": "checkout", "version": "1.2.0", "channel": null }),
    );
    assert_eq!(detail["diff"]["from"], "1.1.0");
    assert!(detail["biggest"][0]["size"].as_u64().unwrap() >= 320_000);
    assert!(detail["signatures"][0]["algorithm"].is_string(), "{detail}");
    assert!(!detail["timeline"].as_array().unwrap().is_empty());

    let chart = h.ok(
        "rollout_chart",
        json!({ "app": "checkout", "channel": "Production" }),
    );
    assert!(chart["svg"].as_str().unwrap().starts_with("<svg"));
    let log = h.ok(
        "log_page",
        json!({ "app": "checkout", "query": { "kinds": ["approved"] } }),
    );
    assert!(
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["kind"] == "approved"),
        "the filter holds: {log}"
    );
    assert!(
        h.ok("check_log", json!({ "app": "checkout" }))
            .as_u64()
            .unwrap()
            > 5
    );
    let synced = h.ok("sync_now", json!({ "progress": "__CHANNEL__:9" }));
    assert!(
        synced["error"].is_null(),
        "the demo syncs cleanly: {synced}"
    );
}

#[test]
fn a_rollout_is_previewed_then_expanded_and_devices_see_it() {
    let h = harness("alex");
    h.demo();
    let expand = action(
        "expand",
        "checkout",
        json!({ "channel": "Production", "percent": null }),
    );
    let preview = h.ok("preview_action", json!({ "action": expand }));
    let summary = preview["summary"][0].as_str().unwrap();
    assert!(
        summary.contains("50 %") && summary.contains("1.2.0"),
        "{summary}"
    );
    let done = perform(&h, expand.clone(), None, Some(2000)).expect("the expansion");
    assert_eq!(done["kind"], "expanded");
    let seen = &done["devicesSee"][0];
    assert_eq!(
        seen["rollout"]["basisPoints"], 5000,
        "read back from the store: {seen}"
    );
    assert!(seen["problem"].is_null(), "devices accept it: {seen}");
    // Another console saw 20 %: the same expansion from that stale view is a conflict.
    let e = perform(&h, expand, None, Some(2000)).expect_err("stale expectation");
    assert_eq!(e["kind"], "conflict", "{e}");
}

#[test]
fn refusals_carry_their_kind() {
    let h = harness("alex");
    h.demo();
    // alex authored loyalty 2.1.0: approving it himself is refused.
    let approve = action(
        "approve",
        "loyalty",
        json!({ "version": "2.1.0", "channel": "Production" }),
    );
    let e = perform(&h, approve, None, None).expect_err("self-approval");
    assert_eq!(e["kind"], "refused", "{e}");
    // Promoting it without an approval.
    let promote = action(
        "promote",
        "loyalty",
        json!({ "from": "Staging", "to": "Production", "version": "2.1.0", "percent": null }),
    );
    let e = perform(&h, promote, None, None).expect_err("no approval");
    assert_eq!(e["kind"], "approval_missing", "{e}");
    assert_eq!(e["version"], "2.1.0", "structured fields: {e}");
    // A rollback without a reason.
    let rollback = action(
        "rollback",
        "checkout",
        json!({ "channel": "Production", "to": null }),
    );
    let e = perform(&h, rollback, None, None).expect_err("no reason");
    assert_eq!(e["kind"], "invalid_input", "{e}");
}

#[test]
fn a_bundle_failing_the_gates_is_reported_file_by_file() {
    let h = harness("alex");
    h.demo();
    let bad = h.data.join("demo/bundles/loyalty-2.2.0-with-source-maps");
    let e = h
        .call(
            "publish",
            json!({
                "request": { "app": "loyalty", "bundle": bad, "version": "2.2.0",
                              "channel": null, "description": null, "minNativeVersion": null },
                "id": "p1",
                "progress": "__CHANNEL__:7",
            }),
        )
        .expect_err("the gates refuse source maps");
    assert_eq!(e["kind"], "gate", "{e}");
    assert!(
        e["violations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v.as_str().unwrap().contains("js/app.js.map")),
        "each violation names its file: {e}"
    );
    let before = h.ok("overview", json!({}));
    assert_eq!(
        before[1]["headSeq"],
        h.ok("overview", json!({}))[1]["headSeq"],
        "nothing written"
    );
}

#[test]
fn a_viewer_changes_nothing() {
    let h = harness("pat");
    h.demo();
    let info = h.ok(
        "edit_settings",
        json!({ "edits": [{ "setting": "role", "value": "viewer" }] }),
    );
    assert_eq!(info["readOnly"], true);
    let expand = action(
        "expand",
        "checkout",
        json!({ "channel": "Production", "percent": null }),
    );
    let e = perform(&h, expand.clone(), None, None).expect_err("viewer");
    assert_eq!(e["kind"], "refused", "{e}");
    assert_eq!(
        h.refused("preview_action", json!({ "action": expand })),
        "refused"
    );
    // Reading still works.
    h.ok("overview", json!({}));
    h.ok(
        "release_detail",
        json!({ "app": "checkout", "version": "1.1.0", "channel": null }),
    );
}

#[test]
fn a_workspace_opened_read_only_changes_nothing_and_its_file_stays() {
    let h = harness("alex");
    h.demo();
    let dir = h.data.join("demo/workspace");
    let toml = std::fs::read_to_string(dir.join("airlock.toml")).unwrap();
    let info = h.ok("open_workspace", json!({ "dir": dir, "viewer": true }));
    assert_eq!(info["readOnly"], true, "{info}");
    let pause = action("pause", "checkout", json!({ "channel": "Production" }));
    let e = perform(&h, pause, None, None).expect_err("opened read-only");
    assert_eq!(e["kind"], "refused", "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("chosen when it was opened"),
        "{e}"
    );
    // Settings reopen the workspace: still read-only.
    let info = h.ok(
        "edit_settings",
        json!({ "edits": [{ "setting": "syncIntervalSeconds", "value": 60 }] }),
    );
    assert_eq!(info["readOnly"], true, "{info}");
    assert!(
        !std::fs::read_to_string(dir.join("airlock.toml"))
            .unwrap()
            .contains("viewer"),
        "the choice is not written to airlock.toml (it was: {toml})"
    );
    // Opened again normally, it acts.
    let info = h.ok("open_workspace", json!({ "dir": dir, "viewer": false }));
    assert_eq!(info["readOnly"], false, "{info}");
}

#[test]
fn settings_are_validated_and_keep_the_file() {
    let h = harness("alex");
    h.demo();
    let dir = h.data.join("demo/workspace/airlock.toml");
    let before = std::fs::read_to_string(&dir).unwrap();
    let e = h.refused(
        "edit_settings",
        json!({ "edits": [{ "setting": "channel", "name": "Production", "protected": true, "plan": [50, 20] }] }),
    );
    assert_eq!(e, "config");
    assert_eq!(
        std::fs::read_to_string(&dir).unwrap(),
        before,
        "a refused edit writes nothing"
    );
    let info = h.ok(
        "edit_settings",
        json!({ "edits": [{ "setting": "syncIntervalSeconds", "value": 10 }] }),
    );
    assert_eq!(info["syncIntervalSeconds"], 10);
    let c = h.ok("settings", json!({}));
    assert_eq!(c["sync-interval-seconds"], 10);
    // Keys typed into the window go to the keychain; only the masked id comes back.
    let status = h.ok(
        "set_credentials",
        json!({ "keys": { "name": "ci", "accessKeyId": "AKIAEXAMPLEKEY1234", "secretAccessKey": "s3cr3t/value", "sessionToken": null } }),
    );
    assert_eq!(status["stored"], true);
    assert_eq!(status["source"], "keychain:ci");
    let text = status.to_string();
    assert!(
        !text.contains("s3cr3t") && !text.contains("AKIAEXAMPLEKEY1234"),
        "{text}"
    );
    let report = h.ok("test_connection", json!({}));
    assert_eq!(report["signatureVerified"], true);
}

#[test]
fn no_command_answers_a_remote_origin() {
    let h = harness("alex");
    let res = get_ipc_response(
        &h.window,
        InvokeRequest {
            cmd: "current_workspace".into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "https://example.com".parse().unwrap(),
            body: InvokeBody::Json(json!({})),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    );
    assert!(
        res.is_err(),
        "a remote page must not reach the console's commands"
    );
}

/// The canary gate through real IPC: off at the start; a pass on demand judges the demo's
/// rollout on its fleet numbers and expands it; the switch turns on, and opening another
/// workspace turns it off again; a viewer cannot turn it on.
#[test]
fn the_gate_is_switched_and_run_through_its_commands() {
    let h = harness("alex");
    h.demo();
    let off = h.ok("gate_status", json!({}));
    assert_eq!(
        (off["on"].as_bool(), off["intervalSeconds"].as_u64()),
        (Some(false), Some(300))
    );
    let passed = h.ok("gate_pass_now", json!({}));
    let reports = passed["last"]["reports"]
        .as_array()
        .expect("the pass's reports");
    let checkout = reports
        .iter()
        .find(|r| r["app"] == "checkout")
        .unwrap_or_else(|| panic!("checkout judged: {passed}"));
    assert_eq!(checkout["action"], "expanded", "{checkout}");
    assert_eq!(
        passed["on"], false,
        "a pass on demand does not turn the gate on"
    );
    let on = h.ok("set_gate", json!({ "on": true }));
    assert_eq!(on["on"], true);
    h.ok(
        "open_workspace",
        json!({ "dir": h.data.join("demo/workspace"), "viewer": true }),
    );
    let after = h.ok("gate_status", json!({}));
    assert_eq!(after["on"], false, "opening a workspace turns the gate off");
    assert_eq!(after["last"], Value::Null);
    assert_eq!(h.refused("set_gate", json!({ "on": true })), "refused");
}
