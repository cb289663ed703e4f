//! Test support for the AWS tests: the moto server that `tests/harness/with-moto.sh`
//! started (its address in `AIRLOCK_TEST_MOTO_ENDPOINT`), clients to set up buckets, KMS
//! keys and CloudFront distributions the way an administrator would, workspaces wired to
//! them, and the fault-injecting proxy (`tests/harness/faulty_proxy.py`), run as a child
//! process and stopped by PID when dropped. Nothing here writes Airlock's objects: whatever
//! a test finds in a bucket was put there by the engine under test.

#![allow(dead_code)]

use airlock_core::config::{CdnConfig, Config, StoreConfig};
use airlock_core::registry::Registry;
use airlock_core::{Services, Workspace};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use aws_sdk_s3::config::Credentials;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

pub struct Moto {
    pub endpoint: String,
    pub sdk: SdkConfig,
    pub s3: aws_sdk_s3::Client,
    pub kms: aws_sdk_kms::Client,
    pub cloudfront: aws_sdk_cloudfront::Client,
}

pub fn moto_endpoint() -> String {
    std::env::var("AIRLOCK_TEST_MOTO_ENDPOINT").expect(
        "AIRLOCK_TEST_MOTO_ENDPOINT is not set: run the AWS tests through \
         tests/harness/with-moto.sh (as `make test` does)",
    )
}

pub fn repo_root() -> PathBuf {
    Path::new(&manifest_dir())
        .parent()
        .expect("core/ sits in the repository")
        .to_path_buf()
}

pub fn python() -> String {
    std::env::var("AIRLOCK_TEST_PYTHON").expect(
        "AIRLOCK_TEST_PYTHON is not set: run the AWS tests through tests/harness/with-moto.sh",
    )
}

/// A name no other test (or earlier run against the same server) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl Moto {
    pub async fn connect() -> Self {
        Self::at(&moto_endpoint()).await
    }

    /// Clients talking to `endpoint` (moto itself, or a proxy in front of it).
    pub async fn at(endpoint: &str) -> Self {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::from_static("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .load()
            .await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        );
        Self {
            endpoint: endpoint.to_string(),
            kms: aws_sdk_kms::Client::new(&sdk),
            cloudfront: aws_sdk_cloudfront::Client::new(&sdk),
            s3,
            sdk,
        }
    }

    pub async fn bucket(&self, prefix: &str) -> String {
        let name = unique(prefix);
        self.s3
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .expect("moto creates the bucket");
        name
    }

    /// Every object in `bucket`: key and size.
    pub async fn objects(&self, bucket: &str) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(bucket)
                .set_continuation_token(token)
                .send()
                .await
                .expect("moto lists the bucket");
            out.extend(page.contents().iter().map(|o| {
                (
                    o.key().unwrap_or_default().to_string(),
                    o.size().unwrap_or(0),
                )
            }));
            match page.next_continuation_token() {
                Some(t) => token = Some(t.to_string()),
                None => return out,
            }
        }
    }

    /// A KMS key with an alias; returns the alias (`alias/...`).
    pub async fn key(&self, spec: KeySpec, usage: KeyUsageType) -> String {
        let key = self
            .kms
            .create_key()
            .key_spec(spec)
            .key_usage(usage)
            .send()
            .await
            .expect("moto creates the key")
            .key_metadata
            .expect("key metadata");
        let alias = format!("alias/{}", unique("airlock"));
        self.kms
            .create_alias()
            .alias_name(&alias)
            .target_key_id(key.key_id())
            .send()
            .await
            .expect("moto creates the alias");
        alias
    }

    pub async fn rsa_key(&self) -> String {
        self.key(KeySpec::Rsa2048, KeyUsageType::SignVerify).await
    }

    /// A CloudFront distribution in front of `bucket`; returns its id. (moto wants the
    /// legacy cache settings.)
    #[allow(deprecated)]
    pub async fn distribution(&self, bucket: &str) -> String {
        use aws_sdk_cloudfront::types::*;
        let origin = Origin::builder()
            .id("bucket")
            .domain_name(format!("{bucket}.s3.amazonaws.com"))
            .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
            .build()
            .unwrap();
        let config = DistributionConfig::builder()
            .caller_reference(unique("dist"))
            .comment("airlock test")
            .enabled(true)
            .origins(
                Origins::builder()
                    .quantity(1)
                    .items(origin)
                    .build()
                    .unwrap(),
            )
            .default_cache_behavior(
                DefaultCacheBehavior::builder()
                    .target_origin_id("bucket")
                    .viewer_protocol_policy(ViewerProtocolPolicy::AllowAll)
                    .min_ttl(0)
                    .forwarded_values(
                        ForwardedValues::builder()
                            .query_string(false)
                            .cookies(
                                CookiePreference::builder()
                                    .forward(ItemSelection::None)
                                    .build()
                                    .unwrap(),
                            )
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        self.cloudfront
            .create_distribution()
            .distribution_config(config)
            .send()
            .await
            .expect("moto creates the distribution")
            .distribution
            .expect("a distribution")
            .id
    }
}

/// A workspace configuration: home store `staging` and, if given, Production in `prod`,
/// both path-style at `endpoint`, signing with `signer`.
pub fn s3_config(endpoint: &str, staging: &str, prod: Option<&str>, signer: &str) -> Config {
    let mut config = Config::new("staging", signer);
    config.aws_endpoint = Some(endpoint.to_string());
    let store = |bucket: &str| StoreConfig {
        url: format!("s3://{bucket}/ota"),
        path_style: true,
        ..StoreConfig::default()
    };
    config.stores.insert("staging".into(), store(staging));
    if let Some(prod) = prod {
        config.stores.insert("prod".into(), store(prod));
        config.channels.get_mut("Production").unwrap().store = Some("prod".into());
    }
    config
}

pub fn with_cdn(mut config: Config, channel: &str, distribution: &str) -> Config {
    config.channels.get_mut(channel).unwrap().cdn = Some(CdnConfig {
        distribution: distribution.to_string(),
        path_prefix: None,
        address: None,
        wait: true,
    });
    config
}

/// A console on `config` with its own registry in `dir`.
pub async fn console(dir: &Path, config: Config) -> Workspace {
    let registry = Registry::open(&dir.join("airlock.db"))
        .await
        .expect("the registry opens");
    let mut ws = Workspace::with_config(
        dir,
        config,
        Services {
            registry: Some(registry),
            ..Services::default()
        },
    )
    .await
    .expect("the workspace opens");
    ws.adopt_key_set("test", false)
        .await
        .expect("the workspace starts or joins the bucket's key set");
    ws
}

/// The fault-injecting proxy in front of moto.
pub struct Proxy {
    child: Child,
    pub endpoint: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    pub fn start(args: &[&str]) -> Self {
        let script = repo_root().join("tests/harness/faulty_proxy.py");
        let mut child = Command::new(python())
            .arg(script)
            .arg("--upstream")
            .arg(moto_endpoint())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the proxy starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the proxy prints its port");
        let port: u16 = line.trim().parse().expect("a port number");
        // Drain its log as it comes, so a full pipe never stalls the proxy.
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("stderr");
        let sink = log.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
            reader: Some(reader),
        }
    }

    /// The request log so far.
    pub fn log_so_far(&self) -> String {
        // Give the log reader a moment to catch up with the last reply.
        std::thread::sleep(std::time::Duration::from_millis(200));
        self.log.lock().unwrap().clone()
    }

    /// Stops the proxy (by PID) and returns its request log.
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// This package's folder, as cargo says when it runs the test (a test binary built in
/// another checkout sharing the target folder would otherwise point back there).
fn manifest_dir() -> String {
    std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR for tests")
}
