//! A real Prometheus for tests: Debian's `prometheus` started on a free 127.0.0.1 port over
//! a history that `promtool tsdb create-blocks-from openmetrics` backfilled from the given
//! OpenMetrics text, stopped by PID when dropped; [`Prometheus::add`] backfills more history
//! (a simulated fleet's next chunk) and restarts it on the same port. `make setup` installs
//! both binaries.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Prometheus {
    child: Child,
    dir: tempfile::TempDir,
    pub url: String,
    /// Histories backfilled so far.
    chunks: u32,
}

/// `promtool tsdb create-blocks-from openmetrics` of `openmetrics` into `dir`'s data folder.
fn backfill(dir: &Path, openmetrics: &str, n: u32) {
    let data = dir.join("data");
    let om = dir.join(format!("history-{n}.om"));
    std::fs::write(&om, openmetrics).expect("the history is written");
    let out = Command::new(tool("promtool"))
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om)
        .arg(&data)
        .output()
        .expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool refused the history: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts Prometheus on `dir`'s data folder, listening on 127.0.0.1:`port`.
fn spawn(dir: &Path, port: u16) -> Child {
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1h\n").expect("config written");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("prometheus.log"))
        .expect("log file");
    Command::new(tool("prometheus"))
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg("--storage.tsdb.retention.time=100y")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("prometheus starts")
}

fn tool(name: &str) -> String {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{name} is not installed; the KPI tests run against a real Prometheus \
         (`make setup` installs Debian's prometheus package, which has both binaries)"
    );
    name.to_string()
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port on 127.0.0.1");
    l.local_addr().expect("the port").port()
}

impl Prometheus {
    /// Backfills `openmetrics` and starts Prometheus on it; ready when this returns.
    pub fn start(openmetrics: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        backfill(dir.path(), openmetrics, 0);
        let port = free_port();
        let child = spawn(dir.path(), port);
        let p = Self {
            child,
            dir,
            url: format!("http://127.0.0.1:{port}"),
            chunks: 1,
        };
        p.wait_ready();
        p
    }

    /// Adds more history (a chunk a fleet played since): stops the server, backfills the
    /// chunk beside what it holds and starts it again on the same port.
    pub fn add(&mut self, openmetrics: &str) {
        self.add_all(&[openmetrics]);
    }

    /// Adds several histories over the same hours (two fleets' chunks) with one restart;
    /// their blocks overlap in time, which Prometheus (2.39 and later) reads as one.
    pub fn add_all(&mut self, histories: &[&str]) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for openmetrics in histories {
            backfill(self.dir.path(), openmetrics, self.chunks);
            self.chunks += 1;
        }
        let port: u16 = self
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the URL ends with the port");
        self.child = spawn(self.dir.path(), port);
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = self.url.trim_start_matches("http://").to_string();
        while Instant::now() < deadline {
            if ready(&addr) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "prometheus did not get ready in 30 s; its log:\n{}",
            self.log()
        );
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// `GET /-/ready` answers 200 (plain HTTP over a socket: no client library needed).
fn ready(addr: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(format!("GET /-/ready HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200")
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
