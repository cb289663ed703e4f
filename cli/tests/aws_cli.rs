//! The `airlock` binary against the moto server (S3 + KMS) that `tests/harness/with-moto.sh`
//! starts, inside the keyring session of `tests/harness/with-keyring.sh` (`make test` runs
//! both): two processes promoting the same channel at once, and AWS keys kept in a real
//! gnome-keyring — stored, used for a whole rollout, shown without the secret, deleted —
//! after which no file the run wrote and nothing it printed contains the secret.

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run through tests/harness/with-moto.sh (make test does)")
    })
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

/// Creates buckets and an RSA signing key in moto as an administrator would (boto3).
fn provision(buckets: &[&str]) -> String {
    let alias = format!("alias/{}", unique("cli"));
    let script = format!(
        "import boto3\n\
         kw = dict(endpoint_url='{ep}', region_name='us-east-1')\n\
         s3 = boto3.client('s3', **kw)\n\
         for b in {buckets:?}: s3.create_bucket(Bucket=b)\n\
         kms = boto3.client('kms', **kw)\n\
         k = kms.create_key(KeySpec='RSA_2048', KeyUsage='SIGN_VERIFY')['KeyMetadata']['KeyId']\n\
         kms.create_alias(AliasName='{alias}', TargetKeyId=k)\n",
        ep = env("AIRLOCK_TEST_MOTO_ENDPOINT"),
    );
    let out = Command::new(env("AIRLOCK_TEST_PYTHON"))
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    alias
}

struct Desk {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    /// Every command's output, to search for leaked secrets.
    printed: std::cell::RefCell<Vec<u8>>,
}

impl Desk {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        for ws in ["ws", "ws2"] {
            std::fs::create_dir_all(root.join(ws)).unwrap();
        }
        Self {
            _tmp: tmp,
            root,
            printed: Default::default(),
        }
    }

    fn command(&self, ws: &str, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_airlock"));
        c.args(args)
            .current_dir(self.root.join(ws))
            .env("AIRLOCK_ACTOR", "ana")
            .env_remove("AIRLOCK_WORKSPACE");
        c
    }

    fn run(&self, ws: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let mut c = self.command(ws, args);
        if stdin.is_some() {
            c.stdin(Stdio::piped());
        }
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let mut p = self.printed.borrow_mut();
        p.extend_from_slice(&out.stdout);
        p.extend_from_slice(&out.stderr);
        out
    }

    fn ok(&self, ws: &str, actor: &str, args: &[&str]) -> Value {
        let mut full = args.to_vec();
        full.extend(["--json", "--actor", actor]);
        let out = self.run(ws, &full, None);
        assert!(
            out.status.success(),
            "airlock {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("--json prints JSON")
    }

    fn init(&self, ws: &str, staging: &str, prod: &str, alias: &str, extra: &[&str]) {
        let (s, p) = (format!("s3://{staging}/ota"), format!("s3://{prod}/ota"));
        let ep = env("AIRLOCK_TEST_MOTO_ENDPOINT");
        let mut args = vec![
            "init",
            "--store",
            &s,
            "--production-store",
            &p,
            "--endpoint",
            &ep,
            "--path-style",
        ];
        let signer = format!("kms:{alias}");
        args.extend(["--signer", &signer]);
        args.extend(extra);
        self.ok(ws, "ana", &args);
    }

    fn bundle(&self, name: &str, files: usize) -> String {
        let dir = self.root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..files {
            std::fs::write(dir.join(format!("f{i}.js")), format!("// {name} {i}\n")).unwrap();
        }
        dir.display().to_string()
    }
}

#[test]
fn two_processes_promoting_at_once_on_s3_one_wins() {
    let (staging, prod) = (unique("race-staging"), unique("race-prod"));
    let alias = provision(&[&staging, &prod]);
    let d = Desk::new();
    d.init("ws", &staging, &prod, &alias, &[]);
    std::fs::copy(
        d.root.join("ws/airlock.toml"),
        d.root.join("ws2/airlock.toml"),
    )
    .unwrap();
    let b = d.bundle("b", 3);
    d.ok("ws", "ana", &["release", "shop", &b, "--version", "1.0.0"]);
    d.ok(
        "ws",
        "bob",
        &["approve", "shop", "1.0.0", "--channel", "Production"],
    );
    for round in 0..3 {
        let args = ["promote", "shop", "--from", "Staging", "--to", "Production"];
        let spawn = |ws: &str| {
            d.command(ws, &args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn("ws"), spawn("ws2"));
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let codes = [a.status.code(), b.status.code()];
        assert_eq!(
            codes.iter().filter(|c| **c == Some(0)).count(),
            1,
            "round {round}: exactly one promotion wins: {codes:?}\n{}\n{}",
            String::from_utf8_lossy(&a.stderr),
            String::from_utf8_lossy(&b.stderr)
        );
        let loser = if a.status.success() { &b } else { &a };
        assert_eq!(
            loser.status.code(),
            Some(1),
            "the loser is refused with exit 1"
        );
        // Overlapping runs lose at the log append ("conflict"); a run that started after
        // the winner finished is refused by the rule instead. Either way it says why.
        let why = String::from_utf8_lossy(&loser.stderr);
        assert!(
            why.contains("conflict") || why.contains("in progress"),
            "the loser says why: {why}"
        );
        d.ok("ws", "ana", &["revert", "shop", "Production"]);
    }
    // The KMS key's public half, for the app to embed.
    let exported = d.ok("ws", "ana", &["keys", "export"]);
    assert_eq!(exported[0]["algorithm"], "rsa-pkcs1-sha256", "{exported}");
    assert!(
        exported[0]["pem"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
    let checked = d.ok("ws2", "ana", &["check"]);
    assert_eq!(
        checked["stores"].as_array().map(Vec::len),
        Some(2),
        "{checked}"
    );
    let synced = d.ok("ws2", "ana", &["sync"]);
    assert!(
        synced.is_array() || synced.is_object(),
        "the chain stays valid"
    );
    let log = d.ok("ws", "ana", &["log", "shop"]);
    let seqs: Vec<u64> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entry"]["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert_eq!(
        seqs.len(),
        2 + 3 * 2,
        "release, approve, then a promotion and a revert per round"
    );
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn aws_keys_live_only_in_the_keychain() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "run inside tests/harness/with-keyring.sh (make test does)"
    );
    let (staging, prod) = (unique("cred-staging"), unique("cred-prod"));
    let alias = provision(&[&staging, &prod]);
    let d = Desk::new();
    d.init("ws", &staging, &prod, &alias, &[]);
    let name = unique("creds");
    let secret = format!(
        "Sec{}ret/Value+{}",
        unique("x").replace('-', ""),
        std::process::id()
    );
    let token = format!("Tok{}", unique("t").replace('-', ""));

    let set = d.run(
        "ws",
        &[
            "credentials",
            "set",
            "--access-key-id",
            "AKIAAIRLOCKTEST0001",
            "--name",
            &name,
            "--session-token",
        ],
        Some(&format!("{secret}\n{token}\n")),
    );
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let toml = std::fs::read_to_string(d.root.join("ws/airlock.toml")).unwrap();
    assert!(
        toml.contains(&format!("credentials = \"keychain:{name}\"")),
        "{toml}"
    );

    let shown = d.ok("ws", "ana", &["credentials", "show"]);
    assert_eq!(shown["source"], format!("keychain:{name}"));
    assert_eq!(shown["accessKeyId"], "***************0001");
    assert_eq!(shown["sessionToken"], true);

    // A whole rollout with no AWS keys in the environment: only the keychain's can work.
    let without_env = |args: &[&str]| {
        let mut full = args.to_vec();
        full.push("--json");
        let mut c = d.command("ws", &full);
        for v in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
        ] {
            c.env_remove(v);
        }
        let out = c.output().unwrap();
        d.printed
            .borrow_mut()
            .extend(out.stdout.iter().chain(&out.stderr));
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let b = d.bundle("b", 4);
    without_env(&["release", "shop", &b, "--version", "1.0.0"]);
    without_env(&[
        "approve",
        "shop",
        "1.0.0",
        "--channel",
        "Production",
        "--actor",
        "bob",
    ]);
    without_env(&["promote", "shop", "--from", "Staging", "--to", "Production"]);
    without_env(&["expand", "shop", "Production", "--percent", "100"]);
    without_env(&["status", "shop"]);

    // A keychain that cannot be reached says how to fix it.
    let mut c = d.command("ws", &["status", "shop"]);
    c.env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(why.contains("keyring") && why.contains("unlocked"), "{why}");

    let deleted = d.ok("ws", "ana", &["credentials", "delete", "--name", &name]);
    assert_eq!(deleted["deleted"], true);
    let shown = d.ok("ws", "ana", &["credentials", "show"]);
    assert_eq!(shown["source"], "chain");

    // The secret appears in no file the run wrote and in nothing it printed.
    for needle in [&secret, &token] {
        for file in files_under(&d.root) {
            let bytes = std::fs::read(&file).unwrap();
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{} contains a secret",
                file.display()
            );
        }
        let printed = d.printed.borrow();
        assert!(
            !printed
                .windows(needle.len())
                .any(|w| w == needle.as_bytes()),
            "a command printed a secret"
        );
    }
}

/// The AWS SDK's standard settings apply: with no endpoint in airlock.toml, the workspace
/// reaches moto through `AWS_ENDPOINT_URL`, as it would a private endpoint.
#[test]
fn standard_aws_settings_are_honoured() {
    let bucket = unique("env-endpoint");
    let alias = provision(&[&bucket]);
    let d = Desk::new();
    let store = format!("s3://{bucket}/ota");
    let signer = format!("kms:{alias}");
    let b = d.bundle("b", 2);
    for args in [
        vec![
            "init",
            "--store",
            &store,
            "--path-style",
            "--signer",
            &signer,
            "--json",
        ],
        vec!["release", "shop", &b, "--version", "1.0.0", "--json"],
    ] {
        let out = d
            .command("ws", &args)
            .env("AWS_ENDPOINT_URL", env("AIRLOCK_TEST_MOTO_ENDPOINT"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let toml = std::fs::read_to_string(d.root.join("ws/airlock.toml")).unwrap();
    assert!(
        !toml.contains("endpoint ="),
        "the endpoint came from the environment: {toml}"
    );
    // Without it, the same workspace would go to AWS itself; a dead endpoint says so.
    let out = d
        .command("ws", &["status", "shop"])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(
        why.contains(&bucket) && why.contains("network unreachable"),
        "{why}"
    );
}

/// A named profile from the shared AWS files, chosen with `credentials use`, is what signs
/// the requests when the environment holds no keys; a profile that does not exist fails
/// with a message that says so.
#[test]
fn a_named_aws_profile_can_be_chosen() {
    let bucket = unique("profile");
    let alias = provision(&[&bucket]);
    let d = Desk::new();
    let creds = d.root.join("aws-credentials");
    std::fs::write(
        &creds,
        "[release-team]\naws_access_key_id = AKIAPROFILETEST01\naws_secret_access_key = \
         profile-secret-value\n",
    )
    .unwrap();
    let store = format!("s3://{bucket}/ota");
    let signer = format!("kms:{alias}");
    let ep = env("AIRLOCK_TEST_MOTO_ENDPOINT");
    let b = d.bundle("b", 2);
    let run = |args: &[&str]| {
        let mut c = d.command("ws", args);
        for v in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
        ] {
            c.env_remove(v);
        }
        c.env("AWS_SHARED_CREDENTIALS_FILE", &creds)
            .output()
            .unwrap()
    };
    for args in [
        vec![
            "init",
            "--store",
            &store,
            "--endpoint",
            &ep,
            "--path-style",
            "--signer",
            &signer,
            "--credentials",
            "profile:release-team",
        ],
        vec!["credentials", "show", "--json"],
        vec!["release", "shop", &b, "--version", "1.0.0"],
    ] {
        let out = run(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = run(&["credentials", "use", "profile:nobody"]);
    assert!(out.status.success());
    let out = run(&["status", "shop"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(
        why.contains("credentials"),
        "the failure names credentials: {why}"
    );
}

/// Runs a boto3 snippet against moto (`s3` is a client); returns what it printed.
fn boto3(snippet: &str) -> String {
    let script = format!(
        "import boto3, hashlib\n\
         s3 = boto3.client('s3', endpoint_url='{}', region_name='us-east-1')\n{snippet}",
        env("AIRLOCK_TEST_MOTO_ENDPOINT")
    );
    let out = Command::new(env("AIRLOCK_TEST_PYTHON"))
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A bucket writer without a key, on S3: a blob planted before the release is replaced (not
/// counted as uploaded), and deleting the rollback from the log is refused as tampering
/// until `recover` writes it back.
#[test]
fn on_s3_a_planted_blob_is_replaced_and_a_truncated_log_is_refused() {
    let (staging, prod) = (unique("tamper-staging"), unique("tamper-prod"));
    let alias = provision(&[&staging, &prod]);
    let d = Desk::new();
    d.init("ws", &staging, &prod, &alias, &[]);
    let b1 = d.bundle("b1", 2);
    let b2 = d.bundle("b2", 2);
    // The blob of b1's first file, planted with other bytes under its name.
    let content = std::fs::read(Path::new(&b1).join("f0.js")).unwrap();
    let sha = airlock_protocol::digest::sha256_hex(&content);
    boto3(&format!(
        "s3.put_object(Bucket='{staging}', Key='ota/blobs/sha256/{sha}', Body=b'planted')\n"
    ));
    d.ok("ws", "ana", &["release", "shop", &b1, "--version", "1.0.0"]);
    let body = boto3(&format!(
        "print(s3.get_object(Bucket='{staging}', Key='ota/blobs/sha256/{sha}')['Body'].read().decode())\n"
    ));
    assert_eq!(
        body.trim_end(),
        String::from_utf8_lossy(&content).trim_end(),
        "the planted blob was replaced by the real one"
    );
    d.ok(
        "ws",
        "bob",
        &["approve", "shop", "1.0.0", "--channel", "Production"],
    );
    let to_prod = [
        "promote",
        "shop",
        "--from",
        "Staging",
        "--to",
        "Production",
        "--percent",
        "100",
    ];
    d.ok("ws", "ana", &to_prod);
    d.ok("ws", "ana", &["release", "shop", &b2, "--version", "1.1.0"]);
    d.ok(
        "ws",
        "bob",
        &["approve", "shop", "1.1.0", "--channel", "Production"],
    );
    d.ok("ws", "ana", &to_prod);
    d.ok(
        "ws",
        "ana",
        &["rollback", "shop", "Production", "--reason", "crashes"],
    );

    let newest = boto3(&format!(
        "keys = [o['Key'] for o in s3.list_objects_v2(Bucket='{staging}', Prefix='ota/apps/shop/log/')['Contents']]\n\
         print(max(keys))\n\
         s3.delete_object(Bucket='{staging}', Key=max(keys))\n"
    ));
    let sync = d.run("ws", &["sync"], None);
    let why = String::from_utf8_lossy(&sync.stderr);
    assert_eq!(sync.status.code(), Some(1), "{why}");
    assert!(why.contains("TAMPERING") && why.contains("shop"), "{why}");
    let resign = d.run(
        "ws",
        &["resign", "shop", "Production", "--actor", "ana"],
        None,
    );
    assert_eq!(
        resign.status.code(),
        Some(1),
        "nothing is signed from a shorter log"
    );

    let done = d.ok(
        "ws",
        "ana",
        &["recover", "shop", "--reason", "log object deleted", "--yes"],
    );
    assert_eq!(done["restore"].as_array().map(Vec::len), Some(1), "{done}");
    let back = boto3(&format!(
        "print(len(s3.get_object(Bucket='{staging}', Key='{}')['Body'].read()))\n",
        newest.trim()
    ));
    assert!(back.trim().parse::<u64>().unwrap() > 0, "the entry is back");
    let status = d.ok("ws", "ana", &["status", "shop"]);
    let rows = status[0]["releases"].as_array().unwrap();
    assert!(
        rows.iter()
            .any(|r| r["version"] == "1.1.0" && r["status"] == "quarantined"),
        "{rows:?}"
    );
}
