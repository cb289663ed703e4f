//! Notifications end to end: the real binary, the real keychain, and webhook receivers this
//! test starts on 127.0.0.1 (a thread each, stopped when the test ends). Each audience gets
//! its messages and nothing else; a receiver answering 500 three times gets the message on
//! the fourth try, once, signed with Standard Webhooks headers; a receiver that never
//! answers costs a rollback at most the budget (measured); two desktops and a CI job on one
//! store send each message once.

mod desk;

use desk::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request a receiver got.
#[derive(Clone, Debug)]
struct Got {
    headers: Vec<(String, String)>,
    body: String,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// How a receiver answers.
#[derive(Clone, Copy)]
enum Answer {
    /// These statuses in turn, then 200.
    Script(&'static [u16]),
    /// Accepts the connection and never answers.
    Hang,
}

struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    fn start(answer: Answer) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let seen = got.clone();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut headers = Vec::new();
                let mut line = String::new();
                reader.read_line(&mut line).unwrap_or(0);
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.trim_end().split_once(':') {
                        headers.push((k.trim().to_string(), v.trim().to_string()));
                    }
                }
                let length: usize = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                seen.lock().unwrap().push(Got {
                    headers,
                    body: String::from_utf8_lossy(&body).to_string(),
                });
                match answer {
                    Answer::Hang => {
                        // Hold the connection open, answering nothing.
                        std::thread::spawn(move || {
                            std::thread::sleep(Duration::from_secs(120));
                            drop(stream);
                        });
                    }
                    Answer::Script(codes) => {
                        let code = codes.get(n).copied().unwrap_or(200);
                        let _ = write!(
                            stream,
                            "HTTP/1.1 {code} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                        );
                    }
                }
            }
        });
        Receiver { url, got }
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }
}

fn with_stdin(d: &Desk, ws: &str, args: &[&str], input: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .current_dir(d.root.join(ws))
        .env("AIRLOCK_ACTOR", "ana")
        .env_remove("AIRLOCK_WORKSPACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// 1.0.0 current in Production, 1.1.0 released into Staging (bundles b1 and b2).
fn shipped() -> Desk {
    let d = Desk::new();
    d.init();
    let b1 = d.bundle("b1", &[("index.html", "<html>1"), ("js/app.js", "one()")]);
    let b2 = d.bundle("b2", &[("index.html", "<html>1"), ("js/app.js", "two()")]);
    d.shipped_then_released(&b1, &b2);
    d
}

fn set(d: &Desk, audience: &str, url: &str) {
    let out = with_stdin(d, "ws", &["notify", "set", audience], &format!("{url}\n"));
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
}

fn append_toml(d: &Desk, ws: &str, text: &str) {
    let toml = d.root.join(ws).join("airlock.toml");
    let mut t = std::fs::read_to_string(&toml).unwrap();
    t.push_str(text);
    std::fs::write(&toml, t).unwrap();
}

fn kinds(got: &[Got]) -> Vec<String> {
    got.iter()
        .map(|g| {
            let v = g.json();
            v["blocks"][3]["elements"][0]["text"]
                .as_str()
                .or(v["type"].as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[test]
fn each_audience_gets_its_messages_and_nothing_else() {
    let d = shipped();
    let (eng, rel, inc) = (
        Receiver::start(Answer::Script(&[])),
        Receiver::start(Answer::Script(&[])),
        Receiver::start(Answer::Script(&[])),
    );
    set(&d, "engineering", &eng.url);
    set(&d, "releases", &rel.url);
    set(&d, "incidents", &inc.url);
    // Turned on over an existing log: history is not replayed.
    let first = d.airlock("ana", &["notify", "send"]);
    assert_eq!(
        code(&first),
        0,
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        eng.got().is_empty() && rel.got().is_empty(),
        "no replay of history"
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
            "--percent",
            "5",
        ],
    );
    d.ok(
        "ana",
        &[
            "revert",
            "shop-ios",
            "Production",
            "--reason",
            "crash at start",
        ],
    );
    d.ok(
        "ana",
        &[
            "incident",
            "open",
            "shop-ios",
            "--channel",
            "Production",
            "--version",
            "1.1.0",
            "--sev",
            "2",
            "--reason",
            "crash at start on Android 14",
        ],
    );
    // Each changing command delivered its own messages within its budget.
    let (e, r, i) = (eng.got(), rel.got(), inc.got());
    assert_eq!(e.len(), 4, "engineering: one per entry: {:?}", kinds(&e));
    for g in &e {
        let v = g.json();
        assert!(
            v["text"].is_string() && v["blocks"].is_array(),
            "Slack Block Kit with a text fallback: {v}"
        );
    }
    assert_eq!(
        r.len(),
        2,
        "releases: the first reach of Production and the revert: {:?}",
        r.iter()
            .map(|g| g.json()["text"].clone())
            .collect::<Vec<_>>()
    );
    assert!(
        r[0].json()["text"]
            .as_str()
            .unwrap()
            .contains("1.1.0 reaches Production")
    );
    assert!(
        r[0].body.contains("ETA to 100 %"),
        "the ETA from the plan: {}",
        r[0].body
    );
    assert!(r[1].json()["text"].as_str().unwrap().contains("reverted"));
    assert_eq!(i.len(), 1, "incidents: the opening");
    assert!(
        i[0].json()["text"]
            .as_str()
            .unwrap()
            .contains("SEV-2 incident")
    );
    assert!(i[0].body.contains("crash at start on Android 14"));

    // Nothing is sent twice.
    let again = d.airlock("ana", &["notify", "send"]);
    assert_eq!(code(&again), 0);
    assert_eq!(
        (eng.got().len(), rel.got().len(), inc.got().len()),
        (4, 2, 1)
    );
    let log: Value =
        serde_json::from_slice(&d.airlock("ana", &["--json", "notify", "log"]).stdout).unwrap();
    let rows = log.as_array().unwrap();
    assert_eq!(rows.len(), 7);
    for row in rows {
        assert_eq!(row["status"], "sent", "{row}");
        assert_eq!(row["tries"].as_array().unwrap().len(), 1);
        assert_eq!(row["tries"][0]["status"], 200);
    }
    // A receiver that refuses the connection: the error says so without the URL (a secret).
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/secret-token-path", l.local_addr().unwrap())
    };
    set(&d, "incidents", &closed);
    let test = d.airlock("ana", &["--json", "notify", "test", "incidents"]);
    assert_eq!(code(&test), 1, "no answer is a failed test");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
    assert!(
        !said.contains("secret-token-path"),
        "the webhook URL never shows: {said}"
    );
    set(&d, "incidents", &inc.url);
    // An app published after notifications were turned on is told from its first entry.
    let b3 = d.bundle("b3", &[("index.html", "<html>w"), ("js/app.js", "w()")]);
    d.ok("ana", &["release", "wallet", &b3, "--version", "0.1.0"]);
    let e = eng.got();
    assert_eq!(e.len(), 5, "the new app's first entry: {:?}", kinds(&e));
    assert!(e[4].body.contains("wallet"), "{}", e[4].body);
}

#[test]
fn a_receiver_failing_three_times_gets_it_on_the_fourth_signed_and_once() {
    let d = shipped();
    append_toml(
        &d,
        "ws",
        "\n[notify]\nretry-seconds = 0\n\n[notify.engineering]\nformat = \"json\"\n",
    );
    let eng = Receiver::start(Answer::Script(&[500, 500, 500]));
    set(&d, "engineering", &eng.url);
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let out = with_stdin(
        &d,
        "ws",
        &["notify", "set", "engineering", "--signing-secret"],
        &format!("{secret}\n"),
    );
    assert_eq!(code(&out), 0);
    d.airlock("ana", &["notify", "send"]);
    d.ok(
        "bob",
        &["approve", "shop-ios", "1.1.0", "--channel", "Production"],
    );
    for _ in 0..5 {
        d.airlock("ana", &["notify", "send"]);
    }
    let got = eng.got();
    assert_eq!(
        got.len(),
        4,
        "three 500s, then the fourth try succeeds, and nothing after"
    );
    let ids: Vec<&str> = got
        .iter()
        .map(|g| g.header("webhook-id").unwrap())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "one message, the same id each try: {ids:?}"
    );
    for g in &got {
        let ts: i64 = g.header("webhook-timestamp").unwrap().parse().unwrap();
        let want = airlock_core::notify::message::signature(secret.as_bytes(), ids[0], ts, &g.body);
        assert_eq!(
            g.header("webhook-signature"),
            Some(want.as_str()),
            "a Standard Webhooks signature"
        );
        assert_eq!(g.json()["type"], "airlock.approved");
    }
    let log: Value =
        serde_json::from_slice(&d.airlock("ana", &["--json", "notify", "log"]).stdout).unwrap();
    let tries: Vec<i64> = log[0]["tries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_i64().unwrap())
        .collect();
    assert_eq!(tries, [500, 500, 500, 200]);
    assert_eq!(log[0]["status"], "sent");
}

#[test]
fn a_receiver_that_never_answers_costs_a_rollback_at_most_the_budget() {
    let d = shipped();
    let b3 = d.bundle("b3", &[("index.html", "<html>1"), ("js/app.js", "three()")]);
    append_toml(&d, "ws", "\n[notify]\nbudget-seconds = 1\n");
    let to_100 = |v: &str| {
        d.ok(
            "bob",
            &["approve", "shop-ios", v, "--channel", "Production"],
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
    };
    let rollback = || {
        let t = Instant::now();
        let out = d.airlock(
            "ana",
            &["rollback", "shop-ios", "Production", "--reason", "bad"],
        );
        assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
        t.elapsed().as_secs_f64()
    };
    to_100("1.1.0");
    let without = rollback();
    d.ok("ana", &["release", "shop-ios", &b3, "--version", "1.2.0"]);
    to_100("1.2.0");
    let hang = Receiver::start(Answer::Hang);
    set(&d, "engineering", &hang.url);
    d.airlock("ana", &["notify", "send"]);
    let with = rollback();
    let status: Value = d.ok("ana", &["status", "shop-ios"]);
    let prod = status[0]["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == "Production")
        .unwrap()
        .clone();
    assert_eq!(prod["current"], "1.0.0", "the rollback took effect: {prod}");
    assert!(!hang.got().is_empty(), "the message was attempted");
    println!(
        "rollback without notifications {without:.2} s; with a receiver that never answers {with:.2} s (budget 1 s)"
    );
    assert!(
        with - without <= 1.0 + 0.75,
        "a hanging receiver adds at most the budget: {without:.2} s → {with:.2} s"
    );
}

#[test]
fn two_desktops_and_a_ci_job_send_each_message_once() {
    let d = shipped();
    // Budget 0: the commands leave every message for the three senders below.
    append_toml(&d, "ws", "\n[notify]\nbudget-seconds = 0\n");
    for ws in ["desk2", "ci"] {
        std::fs::create_dir_all(d.root.join(ws)).unwrap();
        std::fs::copy(
            d.root.join("ws/airlock.toml"),
            d.root.join(ws).join("airlock.toml"),
        )
        .unwrap();
    }
    let eng = Receiver::start(Answer::Script(&[]));
    set(&d, "engineering", &eng.url);
    for ws in ["ws", "desk2", "ci"] {
        let out = d.airlock_in(ws, "ana", &["notify", "send"]);
        assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    }
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
            "5",
        ],
    );
    d.ok("ana", &["pause", "shop-ios", "Production"]);
    for ws in ["desk2", "ci"] {
        assert_eq!(code(&d.airlock_in(ws, "ana", &["sync"])), 0);
    }
    let senders: Vec<_> = ["ws", "desk2", "ci"]
        .into_iter()
        .map(|ws| {
            Command::new(env!("CARGO_BIN_EXE_airlock"))
                .args(["notify", "send"])
                .current_dir(d.root.join(ws))
                .env("AIRLOCK_ACTOR", "ana")
                .env_remove("AIRLOCK_WORKSPACE")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for s in senders {
        let out = s.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let got = eng.got();
    let mut seqs: Vec<String> = got
        .iter()
        .map(|g| {
            g.json()["blocks"][3]["elements"][0]["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    seqs.sort();
    let before = seqs.len();
    seqs.dedup();
    assert_eq!(
        before, 3,
        "approve, promote and pause, each sent once by one of three senders: {seqs:?}"
    );
    assert_eq!(seqs.len(), 3, "no message twice");
}

/// A sender that stopped between writing its claim and its first attempt recognises its own
/// claim (the token it kept in its outbox) and sends; a claim holding another token is
/// another sender's, and this one sends nothing.
#[test]
fn a_sender_that_stopped_after_its_claim_sends_once_it_runs_again() {
    let d = shipped();
    append_toml(&d, "ws", "\n[notify]\nbudget-seconds = 0\n");
    let eng = Receiver::start(Answer::Script(&[]));
    set(&d, "engineering", &eng.url);
    d.airlock("ana", &["notify", "send"]);
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
            "5",
        ],
    );
    // Fill the outbox (budget 0 sends nothing), then play the two claims by hand: the first
    // message's claim written by this sender before it stopped, the second's by another.
    d.airlock("ana", &["notify", "send", "--budget", "0"]);
    let db = d.root.join("ws/airlock.db");
    let script = r#"
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
rows = c.execute("SELECT app, seq FROM notify_outbox WHERE audience = 'engineering' ORDER BY seq").fetchall()
assert len(rows) == 2, rows
c.execute("UPDATE notify_outbox SET claim = 'mine' WHERE seq = ?", (rows[0][1],))
c.commit()
print(rows[0][1], rows[1][1])
"#;
    let out = Command::new("python3")
        .args(["-c", script, db.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seqs: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    let claim = |seq: u64, token: &str| {
        let path = d
            .root
            .join(format!("store/apps/shop-ios/notify/engineering/{seq:020}"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, token).unwrap();
    };
    claim(seqs[0], "mine");
    claim(seqs[1], "someone-else");
    let out = d.airlock("ana", &["--json", "notify", "send"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (r["sent"].as_u64(), r["elsewhere"].as_u64()),
        (Some(1), Some(1)),
        "{r}"
    );
    let got = eng.got();
    assert_eq!(got.len(), 1, "only the message this sender had claimed");
    assert!(
        got[0].body.contains(&format!("log seq {}", seqs[0])),
        "{}",
        got[0].body
    );
}
