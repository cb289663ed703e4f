//! A desktop for the binary's end-to-end tests: a temporary workspace and local store, the
//! `airlock` binary run as a person (its own keychain key per test), and the set-up most
//! tests start from. Shared by cli.rs and tamper.rs.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo_root() -> PathBuf {
    Path::new(&manifest_dir())
        .parent()
        .expect("cli/ sits in the repo")
        .to_path_buf()
}

pub fn require_keychain() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "these tests use the real OS keychain; run them with \
         `tests/harness/with-keyring.sh cargo test -p airlock` (make test does)"
    );
}

pub struct Desk {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
    /// Each test signs with its own keychain key, so parallel tests never share one.
    pub signer: String,
}

impl Desk {
    pub fn new() -> Self {
        require_keychain();
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        std::fs::create_dir_all(root.join("ws")).unwrap();
        let name = root
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches('.')
            .to_string();
        Self {
            _tmp: tmp,
            root,
            signer: format!("local:cli-test-{name}"),
        }
    }

    pub fn init(&self) -> Value {
        let store = self.store_url();
        self.ok(
            "ana",
            &["init", "--store", &store, "--signer", &self.signer],
        )
    }

    pub fn store_url(&self) -> String {
        format!("file://{}", self.root.join("store").display())
    }

    pub fn airlock_in(&self, ws: &str, actor: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args(args)
            .current_dir(self.root.join(ws))
            .env("AIRLOCK_ACTOR", actor)
            .env_remove("AIRLOCK_WORKSPACE")
            .output()
            .expect("the airlock binary runs")
    }

    pub fn airlock(&self, actor: &str, args: &[&str]) -> Output {
        self.airlock_in("ws", actor, args)
    }

    pub fn ok(&self, actor: &str, args: &[&str]) -> Value {
        let mut full = args.to_vec();
        full.push("--json");
        let out = self.airlock(actor, &full);
        assert!(
            out.status.success(),
            "airlock {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("--json prints JSON")
    }

    pub fn bundle(&self, name: &str, files: &[(&str, &str)]) -> String {
        let dir = self.root.join(name);
        for (path, content) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        dir.display().to_string()
    }

    /// 1.0.0 (bundle `b1`) released by ana, approved by bob and promoted to 100 % of
    /// Production; then 1.1.0 (bundle `b2`) released into Staging.
    pub fn shipped_then_released(&self, b1: &str, b2: &str) {
        self.ok("ana", &["release", "shop-ios", b1, "--version", "1.0.0"]);
        self.ok(
            "bob",
            &["approve", "shop-ios", "1.0.0", "--channel", "Production"],
        );
        self.ok(
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
        self.ok("ana", &["release", "shop-ios", b2, "--version", "1.1.0"]);
    }
}

pub fn code(out: &Output) -> i32 {
    out.status.code().expect("airlock exits normally")
}

pub fn manifest_dir() -> String {
    std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR for tests")
}
