//! The `airlock` binary end to end, as a CI pipeline uses it: verbs, `--json`, exit codes,
//! a real OS keychain, two processes racing on one store, and an independent check of what
//! was published by a script that shares no code with Airlock (Python stdlib + openssl +
//! sha256sum). These tests need a Secret Service: `make test` runs them inside
//! `tests/harness/with-keyring.sh` (a private D-Bus session with gnome-keyring).

#[path = "../../core/tests/support/prometheus.rs"]
mod prometheus_server;

mod desk;

use desk::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

#[test]
fn release_promote_rollback_verified_independently() {
    let d = Desk::new();
    d.init();
    let b1 = d.bundle(
        "b1",
        &[
            ("index.html", "<html>1"),
            ("js/app.js", "one()"),
            ("assets/a b.txt", "x"),
        ],
    );
    let b2 = d.bundle(
        "b2",
        &[
            ("index.html", "<html>1"),
            ("js/app.js", "two()"),
            ("assets/a b.txt", "x"),
        ],
    );
    let r1 = d.ok(
        "ana",
        &[
            "release",
            "shop-ios",
            &b1,
            "--version",
            "1.0.0",
            "--description",
            "first",
        ],
    );
    assert_eq!(r1["uploadedFiles"], 3, "a first release uploads every file");

    let refused = d.airlock(
        "ana",
        &[
            "promote",
            "shop-ios",
            "--from",
            "Staging",
            "--to",
            "Production",
        ],
    );
    assert_eq!(
        code(&refused),
        1,
        "promotion without an approval is refused with exit 1"
    );
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        why.contains("approve shop-ios 1.0.0 --channel Production"),
        "the refusal says what is missing: {why}"
    );
    let own = d.airlock(
        "ana",
        &["approve", "shop-ios", "1.0.0", "--channel", "Production"],
    );
    assert_eq!(code(&own), 1, "an author cannot approve their own release");

    d.ok(
        "bob",
        &["approve", "shop-ios", "1.0.0", "--channel", "Production"],
    );
    d.ok(
        "ana",
        &[
            "promote",
            "shop-ios",
            "--from",
            "Staging",
            "--to",
            "Production",
            "--percent",
            "100",
        ],
    );
    let r2 = d.ok("ana", &["release", "shop-ios", &b2, "--version", "1.1.0"]);
    assert_eq!(
        r2["uploadedFiles"], 1,
        "only the changed file is uploaded again"
    );
    d.ok(
        "bob",
        &["approve", "shop-ios", "1.1.0", "--channel", "Production"],
    );
    d.ok(
        "ana",
        &[
            "promote",
            "shop-ios",
            "--from",
            "Staging",
            "--to",
            "Production",
        ],
    );
    d.ok("ana", &["expand", "shop-ios", "Production", "--next"]);

    // Independent check of the 20 % rollout, including which devices get it.
    let pem = d.root.join("pub.pem");
    let export = d.airlock("ana", &["keys", "export"]);
    assert!(code(&export) == 0 && export.stdout.starts_with(b"-----BEGIN PUBLIC KEY-----"));
    std::fs::write(&pem, &export.stdout).unwrap();
    let ids: Vec<String> = (0..40).map(|i| format!("device-{i}")).collect();
    let check = independent_check(&d, "Production", &pem, &ids);
    assert_eq!(
        check["releases"].as_array().unwrap().len(),
        2,
        "current and rollout both verified: {check}"
    );
    assert!(
        check["logEntries"].as_u64() >= Some(5) && check["keySetVersion"] == 1,
        "the signed log and the key set verify independently: {check}"
    );
    for id in &ids {
        let verdict = d.ok(
            "ana",
            &["verify", "shop-ios", "Production", "--install-id", id],
        );
        assert_eq!(
            verdict["outcome"]["version"],
            check["devices"][id.as_str()],
            "Airlock's device check and the independent bucketing agree for {id}"
        );
    }

    // Rollback needs a rollback-ready release: finish 1.1.0, then roll back to 1.0.0.
    d.ok(
        "ana",
        &["expand", "shop-ios", "Production", "--percent", "100"],
    );
    // At 100 % the default holdout keeps 5 % on 1.0.0: the independent checker, Airlock's
    // device check and `status` agree on it.
    let many: Vec<String> = (0..400).map(|i| format!("device-{i}")).collect();
    let check = independent_check(&d, "Production", &pem, &many);
    let held: Vec<&String> = many
        .iter()
        .filter(|id| check["devices"][id.as_str()] == "1.0.0")
        .collect();
    assert!(
        (5..=40).contains(&held.len()),
        "about 5 % of 400 devices held on 1.0.0, not {}: {check}",
        held.len()
    );
    for id in held.iter().take(3) {
        let verdict = d.ok(
            "ana",
            &["verify", "shop-ios", "Production", "--install-id", id],
        );
        assert_eq!(verdict["outcome"]["version"], "1.0.0", "{verdict}");
        assert_eq!(verdict["outcome"]["via"], "holdout", "{verdict}");
    }
    let status = d.ok("ana", &["status", "shop-ios"]);
    let production = status[0]["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == "Production")
        .unwrap();
    assert_eq!(production["holdout"]["version"], "1.0.0", "{status}");
    assert_eq!(production["holdout"]["basisPoints"], 500, "{status}");
    let text = d.airlock("ana", &["status", "shop-ios"]);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("holdout: 5 % of devices kept on 1.0.0"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
    let back = d.ok(
        "ana",
        &[
            "rollback",
            "shop-ios",
            "Production",
            "--reason",
            "crash spike",
        ],
    );
    assert_eq!(back["entry"]["kind"], "rolledBack");
    let check = independent_check(&d, "Production", &pem, &ids);
    assert!(
        ids.iter()
            .all(|id| check["devices"][id.as_str()] == "1.0.0"),
        "after rollback every device runs the known-good release: {check}"
    );
    let status = d.ok("ana", &["status", "shop-ios"]);
    let rows = status[0]["releases"].as_array().unwrap();
    assert!(
        rows.iter()
            .any(|r| r["version"] == "1.1.0" && r["status"] == "quarantined"),
        "the rolled-back release is quarantined: {rows:?}"
    );
    let log = d.ok("ana", &["log", "shop-ios"]);
    assert_eq!(
        log.as_array().unwrap().last().unwrap()["entry"]["reason"],
        "crash spike"
    );

    // A tampered blob is caught by the independent check, proving it can fail.
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(
            d.root
                .join("store/apps/shop-ios/releases/1.0.0/manifest.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let blob = d
        .root
        .join("store/blobs/sha256")
        .join(manifest["files"][0]["sha256"].as_str().unwrap());
    std::fs::write(&blob, b"tampered").unwrap();
    let out = run_check(&d, "Production", &pem, &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a corrupt blob must fail the independent check"
    );
    let verdict = d.airlock("ana", &["verify", "shop-ios", "Production", "--json"]);
    assert_eq!(
        code(&verdict),
        1,
        "the device check refuses a corrupt bundle with exit 1"
    );
}

fn run_check(d: &Desk, channel: &str, pem: &Path, ids: &[String]) -> Output {
    let script = repo_root().join("tests/cross_language/verify_store.py");
    Command::new("python3")
        .arg(script)
        .arg(d.root.join("store"))
        .args(["shop-ios", channel])
        .arg(pem)
        .args(ids)
        .output()
        .expect("python3 runs")
}

fn independent_check(d: &Desk, channel: &str, pem: &Path, ids: &[String]) -> Value {
    let out = run_check(d, channel, pem, ids);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "independent check failed: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&text).unwrap()
}

#[test]
fn exit_codes_and_gate_errors() {
    let d = Desk::new();
    let out = d.airlock("ana", &["status"]);
    assert_eq!(
        code(&out),
        2,
        "no airlock.toml is a configuration error (exit 2)"
    );
    d.init();
    assert_eq!(
        code(&d.airlock("ana", &["init", "--store", &d.store_url()])),
        2,
        "init never overwrites"
    );
    assert_eq!(
        code(&d.airlock("ana", &["expand", "shop-ios", "Production"])),
        2,
        "--percent or --next is required"
    );
    let missing = d.airlock(
        "ana",
        &["release", "shop-ios", "/no/such/dir", "--version", "1.0.0"],
    );
    assert_eq!(code(&missing), 2, "an unreadable bundle is exit 2");

    let bad = d.bundle(
        "bad",
        &[("index.js", "x"), ("index.js.map", "{}"), ("a\\b.js", "y")],
    );
    let out = d.airlock(
        "ana",
        &["release", "shop-ios", &bad, "--version", "1.0", "--json"],
    );
    assert_eq!(code(&out), 1, "policy gates refuse with exit 1");
    let err: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["error"]["kind"], "gate");
    let message = err["error"]["message"].as_str().unwrap();
    for needle in ["index.js.map", "backslash", "version \"1.0\""] {
        assert!(
            message.contains(needle),
            "every violation is listed ({needle}): {message}"
        );
    }
    assert!(
        !d.root.join("store/blobs").exists(),
        "nothing is uploaded when a gate fails"
    );

    let no_actor = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["approve", "shop-ios", "1.0.0", "--channel", "Production"])
        .current_dir(d.root.join("ws"))
        .env_remove("AIRLOCK_ACTOR")
        .output()
        .unwrap();
    assert_eq!(
        code(&no_actor),
        2,
        "acting without an actor is refused as unusable input"
    );
}

#[test]
fn two_processes_promoting_at_once_one_wins() {
    let d = Desk::new();
    d.init();
    std::fs::create_dir_all(d.root.join("ws2")).unwrap();
    std::fs::copy(
        d.root.join("ws/airlock.toml"),
        d.root.join("ws2/airlock.toml"),
    )
    .unwrap();
    let b = d.bundle("b", &[("index.js", "1")]);
    d.ok("ana", &["release", "shop-ios", &b, "--version", "1.0.0"]);
    d.ok(
        "bob",
        &["approve", "shop-ios", "1.0.0", "--channel", "Production"],
    );
    for round in 0..3 {
        let args = [
            "promote",
            "shop-ios",
            "--from",
            "Staging",
            "--to",
            "Production",
        ];
        let spawn = |ws: &str| {
            Command::new(env!("CARGO_BIN_EXE_airlock"))
                .args(args)
                .current_dir(d.root.join(ws))
                .env("AIRLOCK_ACTOR", "ana")
                .spawn()
                .unwrap()
        };
        let (mut a, mut b) = (spawn("ws"), spawn("ws2"));
        let (ca, cb) = (a.wait().unwrap().code(), b.wait().unwrap().code());
        let wins = [ca, cb].iter().filter(|c| **c == Some(0)).count();
        assert_eq!(
            wins, 1,
            "round {round}: exactly one promotion wins ({ca:?}, {cb:?})"
        );
        assert!(
            [ca, cb].contains(&Some(1)),
            "the loser is refused with exit 1 ({ca:?}, {cb:?})"
        );
        d.ok("ana", &["revert", "shop-ios", "Production"]);
    }
    let synced = d.airlock_in("ws2", "ana", &["sync", "--full", "--json"]);
    assert!(
        synced.status.success(),
        "the chain stays valid: {}",
        String::from_utf8_lossy(&synced.stderr)
    );
    let log = d.ok("ana", &["log", "shop-ios"]);
    let seqs: Vec<u64> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entry"]["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "seqs stay contiguous"
    );
}

/// A teammate's desktop on the same store: `init` joins the key set instead of making a key,
/// says its signer is not trusted, every signing command refuses with what to do, and after
/// `keys export --private` / `keys import` it signs.
#[test]
fn second_desktop_joins_the_key_set_and_imports_the_key() {
    let d = Desk::new();
    d.init();
    let b1 = d.bundle("b1", &[("index.html", "<html>1")]);
    d.ok("ana", &["release", "shop-ios", &b1, "--version", "1.0.0"]);
    std::fs::create_dir_all(d.root.join("ws2")).unwrap();
    let other_signer = format!("{}-2", d.signer);
    let joined = d.airlock_in(
        "ws2",
        "cleo",
        &[
            "init",
            "--store",
            &d.store_url(),
            "--signer",
            &other_signer,
            "--json",
        ],
    );
    assert_eq!(
        code(&joined),
        0,
        "{}",
        String::from_utf8_lossy(&joined.stderr)
    );
    let joined: Value = serde_json::from_slice(&joined.stdout).unwrap();
    assert_eq!(
        joined["keys"]["created"], false,
        "init joins the store's key set: {joined}"
    );
    assert_eq!(joined["keys"]["signerTrusted"], false, "{joined}");
    let toml = std::fs::read_to_string(d.root.join("ws2/airlock.toml")).unwrap();
    assert!(
        toml.contains("key-pin"),
        "the joined set is pinned:\n{toml}"
    );

    let refused = d.airlock_in("ws2", "cleo", &["resign", "shop-ios", "Staging"]);
    assert_eq!(
        code(&refused),
        3,
        "a signing problem is the environment failing"
    );
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("keys export"),
        "it says what to do: {message}"
    );

    let exported = d.airlock(
        "ana",
        &[
            "keys",
            "export",
            "--private",
            "--name",
            d.signer.trim_start_matches("local:"),
        ],
    );
    assert_eq!(
        code(&exported),
        0,
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let mut import = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args([
            "keys",
            "import",
            "--name",
            other_signer.trim_start_matches("local:"),
        ])
        .current_dir(d.root.join("ws2"))
        .env_remove("AIRLOCK_WORKSPACE")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    import
        .stdin
        .take()
        .unwrap()
        .write_all(&exported.stdout)
        .unwrap();
    let imported = import.wait_with_output().unwrap();
    assert_eq!(
        code(&imported),
        0,
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let signed = d.airlock_in("ws2", "cleo", &["resign", "shop-ios", "Staging", "--json"]);
    assert_eq!(
        code(&signed),
        0,
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let show = d.airlock_in("ws2", "cleo", &["keys", "show", "--json"]);
    let show: Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(show["signerTrusted"], true, "{show}");
}

/// Two processes on one workspace (one airlock.db) loading, syncing and reading at once —
/// as the console's polling and a command in a terminal do — never fail with a database
/// error: recording an entry another process recorded first is nothing to do.
#[test]
fn shared_registry_two_processes() {
    let d = Desk::new();
    d.init();
    let b1 = d.bundle("b1", &[("index.html", "<html>1")]);
    d.ok("ana", &["release", "shop-ios", &b1, "--version", "1.0.0"]);
    // A second desktop writes entries the first one's registry has not seen yet.
    std::fs::create_dir_all(d.root.join("ws2")).unwrap();
    let joined = d.airlock_in(
        "ws2",
        "ben",
        &["init", "--store", &d.store_url(), "--signer", &d.signer],
    );
    assert_eq!(
        code(&joined),
        0,
        "{}",
        String::from_utf8_lossy(&joined.stderr)
    );
    for i in 1..=3 {
        let b = d.bundle(
            &format!("b{}", i + 1),
            &[("index.html", &format!("<html>{i}"))],
        );
        let out = d.airlock_in(
            "ws2",
            "ben",
            &["release", "shop-ios", &b, "--version", &format!("1.0.{i}")],
        );
        assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    }
    let spawn = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args(args)
            .current_dir(d.root.join("ws"))
            .env("AIRLOCK_ACTOR", "ana")
            .env_remove("AIRLOCK_WORKSPACE")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the airlock binary runs")
    };
    for round in 0..4 {
        let children = [
            spawn(&["sync"]),
            spawn(&["status", "shop-ios"]),
            spawn(&["log", "shop-ios"]),
            spawn(&["status"]),
        ];
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert_eq!(
                code(&out),
                0,
                "round {round}: a process sharing airlock.db failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// `airlock … | head`: a reader that closes the pipe early ends the command quietly, with
/// exit code 0 and no panic.
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let d = Desk::new();
    d.init();
    let b1 = d.bundle("b1", &[("index.html", "<html>1")]);
    d.ok("ana", &["release", "shop-ios", &b1, "--version", "1.0.0"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["log", "shop-ios", "--json"])
        .current_dir(d.root.join("ws"))
        .env("AIRLOCK_ACTOR", "ana")
        .env_remove("AIRLOCK_WORKSPACE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end before the command has written anything.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(code(&out), 0, "{stderr}");
}

/// `--dry-run` says in words what a step would do to devices and writes nothing.
#[test]
fn dry_run_describes_and_writes_nothing() {
    let d = Desk::new();
    d.init();
    let b1 = d.bundle("b1", &[("index.html", "<html>1")]);
    d.ok("ana", &["release", "shop-ios", &b1, "--version", "1.0.0"]);
    d.ok(
        "bob",
        &["approve", "shop-ios", "1.0.0", "--channel", "Production"],
    );
    let before = d.ok("ana", &["log", "shop-ios"]).as_array().unwrap().len();
    let preview = d.ok(
        "ana",
        &[
            "promote",
            "shop-ios",
            "--from",
            "Staging",
            "--to",
            "Production",
            "--dry-run",
        ],
    );
    let summary = preview["summary"][0].as_str().unwrap();
    assert!(
        summary.starts_with("About 5 % of Production devices will receive 1.0.0"),
        "{preview}"
    );
    assert_eq!(
        d.ok("ana", &["log", "shop-ios"]).as_array().unwrap().len(),
        before,
        "a dry run appends nothing"
    );
    let text = d.airlock(
        "ana",
        &[
            "promote",
            "shop-ios",
            "--from",
            "Staging",
            "--to",
            "Production",
            "--dry-run",
        ],
    );
    assert_eq!(code(&text), 0);
    assert!(String::from_utf8_lossy(&text.stdout).contains("nothing was written"));
}

/// This package's folder, as cargo says when it runs the test (a test binary built in
/// another checkout sharing the target folder would otherwise point back there).
/// `airlock analyze` against a real Prometheus serving three hours of synthetic cohorts
/// (healthy for two, then the candidate crashes ten times as often): pass, fail and
/// inconclusive with their exit codes 0, 1 and 4, the JSON fields the README documents,
/// and questions that cannot be asked (exit 2).
#[test]
fn analyze_judges_on_a_real_prometheus_with_exit_codes() {
    use airlock_core::kpi::synthetic::Cohorts;
    use airlock_protocol::time::Timestamp;
    let d = Desk::new();
    d.init();
    let b1 = d.bundle("b1", &[("index.html", "<html>1"), ("js/app.js", "one()")]);
    let b2 = d.bundle("b2", &[("index.html", "<html>1"), ("js/app.js", "two()")]);
    d.shipped_then_released(&b1, &b2);
    let t0 = Timestamp::parse("2026-11-01T00:00:00Z").unwrap();
    let at = |minutes: i64| t0.plus_seconds(60 * minutes).to_string();
    let history = Cohorts {
        minutes: 180,
        sessions_per_hour: 1_000_000.0,
        worse_from: Some((120, 0.03)),
        seed: 3,
        ..Cohorts::new("shop-ios", "Production", "1.1.0", "1.0.0", t0)
    };
    let prom = prometheus_server::Prometheus::start(&history.openmetrics());

    let no_source = d.airlock(
        "ana",
        &[
            "analyze",
            "shop-ios",
            "Production",
            "--candidate",
            "1.1.0",
            "--from",
            &at(0),
        ],
    );
    assert_eq!(
        code(&no_source),
        2,
        "no [kpi.prometheus] is a configuration error"
    );
    assert!(String::from_utf8_lossy(&no_source.stderr).contains("[kpi.prometheus]"));
    let toml = d.root.join("ws/airlock.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str(&format!(
        "\n[kpi]\nkpis = [\"crash-free\", \"install-time\"]\n\n[kpi.prometheus]\nurl = \"{}\"\n",
        prom.url
    ));
    std::fs::write(&toml, text).unwrap();

    let judge = |from: i64, to: i64, json: bool| {
        let (f, t) = (at(from), at(to));
        let mut args = vec![
            "analyze",
            "shop-ios",
            "Production",
            "--candidate",
            "1.1.0",
            "--from",
            &f,
            "--to",
            &t,
        ];
        if json {
            args.push("--json");
        }
        d.airlock("ana", &args)
    };
    let pass = judge(0, 120, true);
    assert_eq!(
        code(&pass),
        0,
        "{}{}",
        String::from_utf8_lossy(&pass.stdout),
        String::from_utf8_lossy(&pass.stderr)
    );
    let v: Value = serde_json::from_slice(&pass.stdout).unwrap();
    assert_eq!(v["verdict"], "pass");
    assert_eq!(
        (v["candidate"].as_str(), v["baseline"].as_str()),
        (Some("1.1.0"), Some("1.0.0"))
    );
    assert_eq!(v["kpis"][0]["kpi"], "crash-free");
    assert!(v["kpis"][0]["candidate"]["exposure"].as_f64().unwrap() > 3_000.0);

    let fail = judge(120, 180, true);
    assert_eq!(code(&fail), 1, "a fail exits 1");
    let v: Value = serde_json::from_slice(&fail.stdout).unwrap();
    assert_eq!(
        (v["verdict"].as_str(), v["kpis"][0]["verdict"].as_str()),
        (Some("fail"), Some("fail"))
    );
    assert_eq!(v["kpis"][0]["critical"], true);
    let words = judge(120, 180, false);
    let text = String::from_utf8_lossy(&words.stdout);
    assert!(
        text.contains("FAIL!") && text.contains("fail (critical)"),
        "{text}"
    );

    let early = judge(0, 10, true);
    assert_eq!(code(&early), 4, "too little data is inconclusive: exit 4");
    let v: Value = serde_json::from_slice(&early.stdout).unwrap();
    assert_eq!(v["verdict"], "inconclusive");
    assert!(v["kpis"][0]["needsHours"].as_f64().is_some(), "{v}");

    let bad_time = d.airlock(
        "ana",
        &[
            "analyze",
            "shop-ios",
            "Production",
            "--candidate",
            "1.1.0",
            "--from",
            "yesterday",
        ],
    );
    assert_eq!(code(&bad_time), 2);
    assert!(String::from_utf8_lossy(&bad_time.stderr).contains("--from"));
    let watched = d.ok("ana", &["watch", "--once"]);
    assert_eq!(
        watched,
        serde_json::json!([]),
        "no rollout in progress: nothing to act on"
    );
    let bad_interval = d.airlock("ana", &["watch", "--once", "--interval", "3x"]);
    assert_eq!(code(&bad_interval), 2);
    let no_rollout = d.airlock("ana", &["analyze", "shop-ios", "Production"]);
    assert_eq!(code(&no_rollout), 2, "no rollout and no --candidate");
    assert!(String::from_utf8_lossy(&no_rollout.stderr).contains("--candidate"));
}

/// The KPI layer without a Prometheus, as a small team would run it from CI: `simulate`
/// plays a fleet against the real pointer and writes CloudFront logs and a crash-tool
/// export; `kpi ingest` and `kpi import` read them (once); `analyze` judges a backtest on
/// them; an incident is opened, ticked, checked by Airlock after a revert, written up as a
/// postmortem and closed — with the exit codes of bad input on the way.
#[test]
fn simulate_ingest_analyze_and_an_incident_from_the_command_line() {
    use airlock_core::clock::{Clock, SystemClock};
    let d = Desk::new();
    d.init();
    let b1 = d.bundle("b1", &[("index.html", "<html>1"), ("js/app.js", "one()")]);
    let b2 = d.bundle("b2", &[("index.html", "<html>1"), ("js/app.js", "two()")]);
    d.shipped_then_released(&b1, &b2);
    d.ok(
        "bob",
        &["approve", "shop-ios", "1.1.0", "--channel", "Production"],
    );
    let promote = [
        "promote",
        "shop-ios",
        "--from",
        "Staging",
        "--to",
        "Production",
        "--percent",
        "20",
    ];
    d.ok("ana", &promote);
    let cdn = d.root.join("cdn-logs");
    let toml = d.root.join("ws/airlock.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str(&format!(
        "\n[kpi]\nkpis = [\"crash-free\", \"download-success\"]\n\n[kpi.cdn-logs]\nstore = \"file://{}\"\ndistributions = [\"EAIRLOCKSIMULATED\"]\n",
        cdn.display()
    ));
    std::fs::write(&toml, text).unwrap();

    // Two hours that ended a minute ago, on the pointer as it is (20 % on 1.1.0).
    let now = SystemClock.now().unix();
    let t1 = airlock_protocol::time::Timestamp::from_unix(now - now % 60 - 60).unwrap();
    let t0 = t1.plus_seconds(-2 * 3600);
    let (from, to) = (t0.to_string(), t1.to_string());
    let crash_csv = d.root.join("crash.csv").display().to_string();
    let state = d.root.join("fleet.json").display().to_string();
    let sim = d.ok(
        "ana",
        &[
            "simulate",
            "shop-ios",
            "Production",
            "--devices",
            "3000",
            "--sessions-per-hour",
            "3",
            "--rates",
            "1.1.0:crash=0.05",
            "--from",
            &from,
            "--to",
            &to,
            "--state",
            &state,
            "--cdn-logs",
            &cdn.display().to_string(),
            "--crash-export",
            &crash_csv,
        ],
    );
    assert!(sim["sessions"].as_u64().unwrap() > 10_000, "{sim}");
    let on_new = sim["running"]["1.1.0"].as_u64().unwrap_or(0);
    assert!(
        (300..=700).contains(&on_new),
        "about 20 % of 3,000 devices follow the rollout: {sim}"
    );
    assert!(!sim["logFiles"].as_array().unwrap().is_empty(), "{sim}");
    let again = d.airlock(
        "ana",
        &[
            "simulate",
            "shop-ios",
            "Production",
            "--state",
            &state,
            "--to",
            &to,
        ],
    );
    assert_eq!(code(&again), 2, "the state file's fleet is already at --to");
    let reshaped = d.airlock(
        "ana",
        &[
            "simulate",
            "shop-ios",
            "Production",
            "--state",
            &state,
            "--rates",
            "1.1.0:crash=0.5",
        ],
    );
    assert_eq!(code(&reshaped), 2);
    assert!(
        String::from_utf8_lossy(&reshaped.stderr).contains("--rates only shape a new fleet"),
        "a flag the saved fleet would ignore is refused: {}",
        String::from_utf8_lossy(&reshaped.stderr)
    );

    let ingest = d.ok("ana", &["kpi", "ingest"]);
    assert!(ingest["counted"].as_u64().unwrap() > 1_000, "{ingest}");
    assert_eq!(ingest["malformed"], 0, "{ingest}");
    let twice = d.ok("ana", &["kpi", "ingest"]);
    assert_eq!(
        (twice["files"].as_u64(), twice["counted"].as_u64()),
        (Some(0), Some(0)),
        "read once: {twice}"
    );
    let import = d.ok(
        "ana",
        &[
            "kpi",
            "import",
            &crash_csv,
            "--app",
            "shop-ios",
            "--channel",
            "Production",
        ],
    );
    assert_eq!(import["added"], true);

    let judged = d.airlock(
        "ana",
        &[
            "analyze",
            "shop-ios",
            "Production",
            "--candidate",
            "1.1.0",
            "--from",
            &from,
            "--to",
            &to,
            "--json",
        ],
    );
    let v: Value = serde_json::from_slice(&judged.stdout).unwrap();
    assert_eq!(code(&judged), 1, "5 % crashes against 0.3 % fails: {v}");
    let crash = v["kpis"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kpi"] == "crash-free")
        .unwrap();
    assert_eq!(crash["verdict"], "fail", "{crash}");
    let downloads = v["kpis"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kpi"] == "download-success")
        .unwrap();
    assert!(
        downloads["candidate"]["exposure"]
            .as_f64()
            .is_some_and(|n| n > 0.0),
        "downloads come from the CDN logs: {downloads}"
    );

    // An incident, by hand.
    let bad_sev = d.airlock(
        "ana",
        &[
            "incident", "open", "shop-ios", "--sev", "5", "--reason", "x",
        ],
    );
    assert_eq!(code(&bad_sev), 2);
    let opened = d.ok(
        "ana",
        &[
            "incident",
            "open",
            "shop-ios",
            "--sev",
            "1",
            "--reason",
            "crash-free sessions at 95 %",
        ],
    );
    let n = opened["entry"]["seq"].as_u64().unwrap().to_string();
    let listed = d.ok("ana", &["incident", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["severity"], 1);
    assert_eq!(listed[0]["version"], "1.1.0");
    d.ok(
        "cy",
        &[
            "incident",
            "tick",
            "shop-ios",
            &n,
            "support-notified",
            "--note",
            "posted in #support",
        ],
    );
    let bogus = d.airlock("ana", &["incident", "tick", "shop-ios", &n, "bogus"]);
    assert_eq!(code(&bogus), 2);
    let checked = d.ok("ana", &["incident", "check", "shop-ios", &n]);
    let pointer = checked
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["item"] == "pointer")
        .unwrap();
    assert_eq!(
        pointer["held"], false,
        "1.1.0 is still rolling out: {pointer}"
    );
    d.ok(
        "ana",
        &["revert", "shop-ios", "Production", "--reason", "crashes"],
    );
    let checked = d.ok("ana", &["incident", "check", "shop-ios", &n]);
    let pointer = checked
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["item"] == "pointer")
        .unwrap();
    assert_eq!(pointer["held"], true, "{pointer}");
    let shown = d.ok("ana", &["incident", "show", "shop-ios", &n]);
    assert_eq!(shown["timeline"][2]["stage"], "reverted", "{shown}");
    let early = d.airlock("ana", &["incident", "close", "shop-ios", &n]);
    assert_eq!(code(&early), 1, "items unchecked and no reason: refused");
    let pm = d.root.join("postmortem.md");
    d.ok(
        "ana",
        &[
            "incident",
            "postmortem",
            "shop-ios",
            &n,
            "-o",
            &pm.display().to_string(),
        ],
    );
    let md = std::fs::read_to_string(&pm).unwrap();
    assert!(
        md.contains("| reverted |") && md.contains("- [x] support notified"),
        "{md}"
    );
    d.ok(
        "ana",
        &[
            "incident",
            "close",
            "shop-ios",
            &n,
            "--reason",
            "fixed forward in 1.1.1",
        ],
    );
    assert_eq!(d.ok("ana", &["incident", "list"]), serde_json::json!([]));
}

/// `airlock chart` against a real Prometheus serving three hours of two cohorts: an SVG with
/// its accessible name, axes and limit lines; a PNG from the same SVG; the table with
/// `--json`; and bad input refused with nothing written (exit 2).
#[test]
fn chart_writes_svg_and_png_from_a_real_prometheus() {
    use airlock_core::kpi::synthetic::Cohorts;
    use airlock_protocol::time::Timestamp;
    let d = Desk::new();
    d.init();
    let b1 = d.bundle("b1", &[("index.html", "<html>1"), ("js/app.js", "one()")]);
    let b2 = d.bundle("b2", &[("index.html", "<html>1"), ("js/app.js", "two()")]);
    d.shipped_then_released(&b1, &b2);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let t0 = Timestamp::from_unix(now - now % 60 - 3 * 3600).unwrap();
    let history = Cohorts {
        minutes: 180,
        sessions_per_hour: 50_000.0,
        seed: 5,
        ..Cohorts::new("shop-ios", "Production", "1.1.0", "1.0.0", t0)
    };
    let prom = prometheus_server::Prometheus::start(&history.openmetrics());
    let toml = d.root.join("ws/airlock.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str(&format!(
        "\n[kpi]\nkpis = [\"crash-free\", \"install-time\"]\nstep-seconds = 60\n\n[kpi.prometheus]\nurl = \"{}\"\n",
        prom.url
    ));
    std::fs::write(&toml, text).unwrap();
    let (from, to) = (t0.to_string(), t0.plus_seconds(3 * 3600).to_string());
    let out = d.root.join("charts");
    std::fs::create_dir_all(&out).unwrap();
    let chart = |panel: &str, file: &str, extra: &[&str]| {
        let path = out.join(file);
        let path = path.to_str().unwrap().to_string();
        let mut args = vec![
            "chart",
            "shop-ios",
            "Production",
            "--panel",
            panel,
            "--from",
            &from,
            "--to",
            &to,
            "-o",
            &path,
        ];
        args.extend_from_slice(extra);
        d.airlock("ana", &args)
    };

    let svg = chart("install-time", "install.svg", &[]);
    assert_eq!(code(&svg), 0, "{}", String::from_utf8_lossy(&svg.stderr));
    let text = std::fs::read_to_string(out.join("install.svg")).unwrap();
    assert!(text.starts_with("<svg role=\"img\" aria-label=\"Install time p95, Production\""));
    for needle in [
        "install time p95 (s)",
        "target 3.0 s",
        "warning 7.0 s",
        "p95 bucket",
    ] {
        assert!(text.contains(needle), "the SVG shows {needle:?}");
    }
    assert!(
        !text.contains("No install times"),
        "Prometheus's histograms were read"
    );

    let png = chart("adoption", "adoption.png", &["--theme", "dark"]);
    assert_eq!(code(&png), 0, "{}", String::from_utf8_lossy(&png.stderr));
    let bytes = std::fs::read(out.join("adoption.png")).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    assert!(
        bytes.len() > 10_000,
        "a whole picture: {} bytes",
        bytes.len()
    );

    let json = chart("adoption", "adoption.svg", &["--json"]);
    assert_eq!(code(&json), 0);
    let v: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["name"], "Adoption, Production");
    let columns: Vec<&str> = v["table"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(columns, ["bin ends", "1.0.0", "1.1.0", "sessions"]);
    assert!(
        v["table"]["rows"].as_array().unwrap().len() >= 60,
        "per-minute bins of 3 h"
    );
    assert!(
        v["hits"].as_array().unwrap().len() >= 120,
        "a hit per point of each line"
    );

    let gif = chart("adoption", "adoption.gif", &[]);
    assert_eq!(code(&gif), 2);
    assert!(String::from_utf8_lossy(&gif.stderr).contains(".svg or .png"));
    assert!(!out.join("adoption.gif").exists(), "nothing is written");
    let long = d.airlock(
        "ana",
        &[
            "chart",
            "shop-ios",
            "Production",
            "--panel",
            "verdict",
            "--from",
            "2026-01-01T00:00:00Z",
            "--to",
            &to,
            "-o",
            out.join("v.svg").to_str().unwrap(),
        ],
    );
    assert_eq!(code(&long), 2);
    assert!(String::from_utf8_lossy(&long.stderr).contains("1 hour to 30 days"));
    assert!(!out.join("v.svg").exists());

    // This week's rollup from the same Prometheus: three files, the numbers in them.
    let (year, week, _) = t0.to_datetime().date().to_iso_week_date();
    let week = format!("{year}-W{week:02}");
    let reports = out.join("reports");
    let rollup = d.airlock(
        "ana",
        &[
            "report",
            "weekly",
            "--week",
            &week,
            "--out",
            reports.to_str().unwrap(),
        ],
    );
    assert_eq!(
        code(&rollup),
        0,
        "{}",
        String::from_utf8_lossy(&rollup.stderr)
    );
    let md = std::fs::read_to_string(reports.join(format!("rollup-{week}.md"))).unwrap();
    assert!(md.starts_with("# OTA Weekly Rollup — "), "{md}");
    assert!(
        md.contains("| experience | crash-free sessions | 9"),
        "the week's crash-free sessions: {md}"
    );
    let eml = std::fs::read_to_string(reports.join(format!("rollup-{week}.eml"))).unwrap();
    assert!(eml.contains("multipart/alternative") && eml.contains("Content-ID: <adoption-chart>"));
    assert!(reports.join(format!("rollup-{week}.html")).exists());
    let bad = d.airlock("ana", &["report", "weekly", "--week", "2026-49"]);
    assert_eq!(code(&bad), 2);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("YYYY-Www"));
}

/// `kpi import` replaces, never adds, and `kpi import --remove` takes an import out again:
/// by its file, with an error naming an unknown one and listing what is imported, and every
/// import of the channel with `--all` (exit 0 when there is nothing to remove).
#[test]
fn kpi_import_replaces_overlapping_hours_and_remove_takes_an_import_out() {
    let d = Desk::new();
    d.init();
    let export = |name: &str, hours: std::ops::Range<u32>, sessions: u32| {
        let mut csv = String::from("release,time,sessions,crashed_sessions\n");
        for h in hours {
            csv.push_str(&format!("1.0.0,2026-11-01T{h:02}:00:00Z,{sessions},1\n"));
        }
        let path = d.root.join(name);
        std::fs::write(&path, csv).unwrap();
        path.display().to_string()
    };
    let first = export("first.csv", 0..3, 100);
    let second = export("second.csv", 1..4, 200);
    let scope = ["--app", "shop-ios", "--channel", "Production"];
    let import = |file: &str| {
        let mut args = vec!["kpi", "import", file];
        args.extend(scope);
        d.ok("ana", &args)
    };
    assert_eq!(import(&first)["newRows"], 3);
    let r = import(&second);
    assert_eq!(
        (r["newRows"].as_u64(), r["replacedRows"].as_u64()),
        (Some(1), Some(2)),
        "hours 1 and 2 replace the first export's: {r}"
    );

    let mut args = vec!["kpi", "import", "--remove", &first];
    args.extend(scope);
    let removed = d.airlock("ana", &args);
    assert_eq!(
        code(&removed),
        0,
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    let said = String::from_utf8_lossy(&removed.stdout);
    assert!(
        said.contains("removed ") && said.contains("first.csv") && said.contains("1 of its 3 rows"),
        "it says which file and how many rows it still held: {said}"
    );

    let again = d.airlock("ana", &args);
    assert_eq!(code(&again), 2, "an import that is not there is bad input");
    let why = String::from_utf8_lossy(&again.stderr);
    assert!(
        why.contains("first.csv") && why.contains("second.csv  (3 of 3 rows remaining"),
        "the error names the file and lists what is imported: {why}"
    );

    let mut all = vec!["kpi", "import", "--remove", "--all"];
    all.extend(scope);
    let gone = d.ok("ana", &all);
    let files: Vec<&str> = gone["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, [second.as_str()], "{gone}");
    assert_eq!(gone["removed"][0]["rowsRemaining"], 3, "{gone}");
    let nothing = d.airlock("ana", &all);
    assert_eq!(code(&nothing), 0, "nothing to remove is not an error");
    assert!(
        String::from_utf8_lossy(&nothing.stdout)
            .contains("nothing is imported for shop-ios in Production"),
        "{}",
        String::from_utf8_lossy(&nothing.stdout)
    );
}
