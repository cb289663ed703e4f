//! The attacks of a bucket writer who holds no key, run against the real binary on a local
//! store: each must be refused loudly (or passed over) and must never change what devices
//! are served. They need a Secret Service, like cli.rs: `make test` provides one.

mod desk;

use desk::*;
use serde_json::Value;
use std::path::PathBuf;

/// 1.0.0 at 100 % of Production, then 1.1.0 released, approved and promoted to `percent`.
fn promoted(d: &Desk, percent: &str) {
    d.init();
    let b1 = d.bundle("b1", &[("index.html", "<html>1")]);
    let b2 = d.bundle("b2", &[("index.html", "<html>2")]);
    d.shipped_then_released(&b1, &b2);
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
            "--percent",
            percent,
        ],
    );
}

/// 1.0.0 and 1.1.0 both at 100 % of Production, then rolled back to 1.0.0 (1.1.0
/// quarantined): the state a release manager relies on in an incident.
fn rolled_back(d: &Desk) {
    promoted(d, "100");
    d.ok(
        "ana",
        &[
            "rollback",
            "shop-ios",
            "Production",
            "--reason",
            "crash spike",
        ],
    );
}

fn log_dir(d: &Desk) -> PathBuf {
    d.root.join("store/apps/shop-ios/log")
}

/// The log's entry files, oldest first.
fn log_files(d: &Desk) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(log_dir(d))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// What a device would run from Production now (the reference device check).
fn device_runs(d: &Desk) -> Value {
    let out = d.airlock("ana", &["verify", "shop-ios", "Production", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("verify prints JSON");
    v["outcome"]["version"].clone()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_truncated_log_is_refused_and_never_re_serves_the_rolled_back_release() {
    let d = Desk::new();
    rolled_back(&d);
    assert_eq!(device_runs(&d), "1.0.0", "the rollback took effect");
    let files = log_files(&d);
    let newest = files.last().unwrap();
    let seq = files.len();
    std::fs::remove_file(newest).unwrap();

    let sync = d.airlock("ana", &["sync"]);
    assert_eq!(
        code(&sync),
        1,
        "a shorter log is refused: {}",
        stderr(&sync)
    );
    assert!(
        stderr(&sync).contains("TAMPERING")
            && stderr(&sync).contains("shop-ios")
            && stderr(&sync).contains(&format!("seq {seq}")),
        "the refusal names the app and the seq: {}",
        stderr(&sync)
    );
    for _ in 0..2 {
        let resign = d.airlock("ana", &["resign", "shop-ios", "Production"]);
        assert_eq!(code(&resign), 1, "nothing is signed from a shorter log");
    }
    assert_eq!(
        device_runs(&d),
        "1.0.0",
        "no command re-serves the quarantined release"
    );

    // A desktop that remembers nothing (its registry deleted) still has the stored pointer
    // as a witness: its commands are refused before anything is written.
    for db in ["airlock.db", "airlock.db-wal", "airlock.db-shm"] {
        let _ = std::fs::remove_file(d.root.join("ws").join(db));
    }
    let resign = d.airlock("ana", &["resign", "shop-ios", "Production"]);
    assert_eq!(code(&resign), 1, "{}", stderr(&resign));
    assert!(stderr(&resign).contains("TAMPERING"), "{}", stderr(&resign));
    assert_eq!(log_files(&d).len(), seq - 1, "nothing was appended");
    assert_eq!(device_runs(&d), "1.0.0");
}

#[test]
fn recover_writes_back_what_the_store_lost_and_says_so_first() {
    let d = Desk::new();
    rolled_back(&d);
    let files = log_files(&d);
    let seq = files.len() as u64;
    let lost = std::fs::read(files.last().unwrap()).unwrap();
    std::fs::remove_file(files.last().unwrap()).unwrap();

    let plan = d.airlock(
        "ana",
        &[
            "recover",
            "shop-ios",
            "--reason",
            "bucket tampered",
            "--json",
        ],
    );
    assert_eq!(
        code(&plan),
        1,
        "without --yes nothing is done, and the exit code says so"
    );
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(plan["restore"], serde_json::json!([seq]), "{plan}");
    assert_eq!(plan["discard"], serde_json::json!([]), "{plan}");
    assert_eq!(log_files(&d).len() as u64, seq - 1, "a plan writes nothing");

    let no_reason = d.airlock("ana", &["recover", "shop-ios", "--yes"]);
    assert_eq!(code(&no_reason), 2, "a recovery says why");

    let done = d.ok(
        "ana",
        &[
            "recover",
            "shop-ios",
            "--reason",
            "bucket tampered",
            "--yes",
        ],
    );
    assert!(done["committedSeq"].as_u64() > Some(seq), "{done}");
    assert_eq!(
        std::fs::read(&files[seq as usize - 1]).unwrap(),
        lost,
        "the lost entry is back, byte for byte"
    );
    let sync = d.airlock("ana", &["sync"]);
    assert_eq!(code(&sync), 0, "{}", stderr(&sync));
    let status = d.ok("ana", &["status", "shop-ios"]);
    let rows = status[0]["releases"].as_array().unwrap();
    assert!(
        rows.iter()
            .any(|r| r["version"] == "1.1.0" && r["status"] == "quarantined"),
        "the quarantine is back: {rows:?}"
    );
    assert_eq!(device_runs(&d), "1.0.0");
    let log = d.ok("ana", &["log", "shop-ios"]);
    let last = log.as_array().unwrap().last().unwrap();
    assert_eq!(last["entry"]["kind"], "recovered");
    assert_eq!(last["entry"]["reason"], "bucket tampered");
}

#[test]
fn an_unsigned_object_at_the_next_position_never_blocks_a_revert() {
    let d = Desk::new();
    promoted(&d, "5");
    let next = log_files(&d).len() + 1;
    // An unknown kind ("written by a newer Airlock") that nobody signed, at the next seq.
    let payload = format!(
        r#"{{"formatVersion":2,"app":"shop-ios","seq":{next},"kind":"launchCodes","at":"2026-01-01T00:00:00Z","actor":"mallory"}}"#
    );
    let forged = serde_json::json!({
        "payloadType": "application/vnd.airlock.log-entry+json",
        "payload": base64_encode(payload.as_bytes()),
        "signatures": [{"keyid": "00", "sig": "AA=="}],
    });
    std::fs::write(
        log_dir(&d).join(format!("{next:020}.json")),
        serde_json::to_vec(&forged).unwrap(),
    )
    .unwrap();

    let status = d.ok("ana", &["status", "shop-ios"]);
    assert!(
        status[0]["warnings"].as_array().unwrap().is_empty()
            || !status[0]["warnings"].to_string().contains("newer Airlock"),
        "an unsigned object is not honoured as a newer Airlock's: {status}"
    );
    let revert = d.ok("ana", &["revert", "shop-ios", "Production"]);
    assert_eq!(revert["entry"]["kind"], "reverted");
    assert_eq!(
        revert["entry"]["seq"].as_u64(),
        Some(next as u64 + 1),
        "the revert takes the next free position"
    );
    // The whole log read again reports what it passed over.
    let sync = d.ok("ana", &["sync", "--full"]);
    assert!(
        sync.to_string().contains(&format!("{next:020}.json")),
        "the passed-over object is reported: {sync}"
    );
}

#[test]
fn a_removed_key_set_version_is_refused_on_a_desktop_pinned_earlier() {
    let d = Desk::new();
    d.init();
    let first = std::fs::read(d.root.join("store/keys/00000000000000000001.json")).unwrap();
    let pin1 = format!("1:{}", sha256_hex(&first));
    let next = format!("{}-next", d.signer);
    d.ok(
        "ana",
        &[
            "keys",
            "create",
            "--name",
            next.trim_start_matches("local:"),
        ],
    );
    d.ok("ana", &["keys", "rotate", "--to", &next]);
    let keys = d.ok("ana", &["keys", "show"]);
    let old = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["source"] == d.signer.as_str())
        .unwrap()["keyid"]
        .as_str()
        .unwrap()
        .to_string();
    d.ok("ana", &["keys", "retire", &old]);
    // Pin this desktop back at version 1, as a desktop that joined early is.
    let toml = d.root.join("ws/airlock.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let pinned: String = text
        .lines()
        .map(|l| {
            if l.starts_with("key-pin") {
                format!("key-pin = \"{pin1}\"")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&toml, pinned).unwrap();
    d.ok("ana", &["keys", "show"]);
    std::fs::remove_file(d.root.join("store/keys/00000000000000000003.json")).unwrap();
    let show = d.airlock("ana", &["keys", "show"]);
    assert_eq!(code(&show), 1, "{}", stderr(&show));
    assert!(
        stderr(&show).contains("TAMPERING") && stderr(&show).contains("version 3"),
        "the missing version is named: {}",
        stderr(&show)
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    airlock_protocol::digest::sha256_hex(bytes)
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Runs the binary through Python's `resource`, returning its output and its peak resident
/// memory in KiB (what the kernel measured, not an estimate).
fn with_peak(d: &Desk, args: &[&str]) -> (std::process::Output, u64) {
    let script = "import resource, subprocess, sys\n\
                  r = subprocess.run(sys.argv[1:], capture_output=True)\n\
                  sys.stdout.buffer.write(r.stdout)\n\
                  sys.stderr.buffer.write(r.stderr)\n\
                  print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n\
                  sys.exit(r.returncode)";
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .current_dir(d.root.join("ws"))
        .env("AIRLOCK_ACTOR", "ana")
        .env_remove("AIRLOCK_WORKSPACE")
        .output()
        .expect("python3 runs the binary");
    let err = String::from_utf8_lossy(&out.stderr);
    let peak = err
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("the peak is the last line");
    (out, peak)
}

#[test]
fn a_1_gb_log_object_is_passed_over_in_bounded_memory() {
    let d = Desk::new();
    rolled_back(&d);
    let next = log_files(&d).len() + 1;
    let planted = log_dir(&d).join(format!("{next:020}.json"));
    // Sparse: a gigabyte on the listing that costs no disk.
    std::fs::File::create(&planted)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let (out, peak_kib) = with_peak(&d, &["sync", "--full", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let sync: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        sync.to_string().contains("is over its cap"),
        "the object is reported with its cap: {sync}"
    );
    eprintln!("peak memory of sync over a 1 GB log object: {peak_kib} KiB");
    assert!(peak_kib < 200 * 1024, "peak {peak_kib} KiB");
    let resign = d.ok("ana", &["resign", "shop-ios", "Production"]);
    assert_eq!(resign["entry"]["seq"].as_u64(), Some(next as u64 + 1));
}

#[test]
fn a_gzip_bomb_in_the_cdn_logs_is_refused_in_bounded_memory() {
    let d = Desk::new();
    d.init();
    let cdn = d.root.join("cdn-logs");
    std::fs::create_dir_all(&cdn).unwrap();
    let toml = d.root.join("ws/airlock.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str(&format!(
        "\n[kpi.cdn-logs]\nstore = \"file://{}\"\ndistributions = [\"EBOMB\"]\n",
        cdn.display()
    ));
    std::fs::write(&toml, text).unwrap();
    // 1 GiB of zeros gzipped to about a megabyte, named as CloudFront names its logs; and a
    // file from a distribution nobody configured.
    let bomb = cdn.join("EBOMB.2026-12-01-10.b0b0b0b0.gz");
    let made = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import gzip, sys\n\
             with gzip.open(sys.argv[1], 'wb', compresslevel=9) as f:\n\
             \x20   block = bytes(1 << 20)\n\
             \x20   for _ in range(1024): f.write(block)",
        )
        .arg(&bomb)
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::copy(&bomb, cdn.join("EUNKNOWN.2026-12-01-10.c0c0c0c0.gz")).unwrap();
    let (out, peak_kib) = with_peak(&d, &["kpi", "ingest", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let problems = report["problems"].to_string();
    assert!(
        problems.contains("EBOMB") && problems.contains("gzip bomb"),
        "the bomb is named with why it stopped: {report} {}",
        stderr(&out)
    );
    assert!(
        problems.contains("EUNKNOWN") && problems.contains("no channel"),
        "a distribution nobody configured is refused: {report}"
    );
    eprintln!("peak memory of ingesting a 1 GiB gzip bomb: {peak_kib} KiB");
    assert!(peak_kib < 200 * 1024, "peak {peak_kib} KiB");
}

#[test]
fn a_planted_corrupt_blob_is_replaced_and_check_deep_finds_one_changed_later() {
    let d = Desk::new();
    d.init();
    let content = "<html>planted";
    let sha = sha256_hex(content.as_bytes());
    let blob = d.root.join("store/blobs/sha256").join(&sha);
    std::fs::create_dir_all(blob.parent().unwrap()).unwrap();
    std::fs::write(&blob, b"not what the name says").unwrap();
    let b1 = d.bundle("b1", &[("index.html", content)]);
    d.ok("ana", &["release", "shop-ios", &b1, "--version", "1.0.0"]);
    assert_eq!(
        std::fs::read(&blob).unwrap(),
        content.as_bytes(),
        "the planted blob was verified, found corrupt and replaced"
    );
    let verdict = d.ok("ana", &["verify", "shop-ios", "Staging"]);
    assert_eq!(verdict["outcome"]["version"], "1.0.0", "{verdict}");
    let deep = d.ok("ana", &["check", "--deep", "shop-ios"]);
    assert!(deep[0]["error"].is_null(), "{deep}");

    // Changed behind Airlock's back after the release: the deep check and the device agree.
    std::fs::write(&blob, b"changed later").unwrap();
    let deep = d.airlock("ana", &["check", "--deep", "shop-ios", "1.0.0", "--json"]);
    assert_eq!(code(&deep), 1, "{}", stderr(&deep));
    let deep: Value = serde_json::from_slice(&deep.stdout).unwrap();
    assert!(
        deep[0]["error"].as_str().unwrap().contains("corrupt"),
        "{deep}"
    );
    let device = d.airlock("ana", &["verify", "shop-ios", "Staging", "--json"]);
    assert_eq!(code(&device), 1, "a device refuses it too");
}

#[test]
fn recover_puts_back_an_entry_overwritten_with_junk_and_discards_nothing() {
    let d = Desk::new();
    rolled_back(&d);
    let files = log_files(&d);
    let newest = files.last().unwrap().clone();
    let seq = files.len() as u64;
    let genuine = std::fs::read(&newest).unwrap();
    std::fs::write(&newest, b"{\"payloadType\":\"junk\"}").unwrap();
    let sync = d.airlock("ana", &["sync"]);
    assert_eq!(code(&sync), 1, "another object at a seen seq is tampering");
    let done = d.ok(
        "ana",
        &[
            "recover",
            "shop-ios",
            "--reason",
            "entry overwritten",
            "--yes",
        ],
    );
    assert_eq!(done["restore"], serde_json::json!([seq]), "{done}");
    assert_eq!(
        done["discard"],
        serde_json::json!([]),
        "planted bytes never outrank the signed entry this desktop holds: {done}"
    );
    assert_eq!(std::fs::read(&newest).unwrap(), genuine);
    assert_eq!(device_runs(&d), "1.0.0", "the rollback still stands");
}
