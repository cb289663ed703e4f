//! The engine against real wire protocols: S3, KMS and CloudFront served by the moto server
//! that `tests/harness/with-moto.sh` starts (`make test` runs it). Covers the S3 store's
//! create-only and compare-and-swap writes, a staged rollout from a staging bucket into a
//! production bucket signed by a KMS key (checked after every step by the reference device
//! check reading S3 and by an independent Python verifier), how many requests a re-release
//! and a rollback cost, publishing through a proxy that injects failures, and KMS keys that
//! must be refused.

mod aws {
    pub mod moto;
}

use airlock_core::Attribution;
use airlock_core::ErrorKind;
use airlock_core::ops::release::{ReleaseOutcome, ReleaseRequest};
use airlock_core::ops::rollout::{ExpandTo, PromoteRequest};
use airlock_core::progress::Silent;
use airlock_core::store::{ObjectClass, PutOutcome, Store};
use airlock_core::workspace::check_create_only;
use airlock_core::{Workspace, config::StoreConfig};
use airlock_protocol::device::{Outcome, Refusal};
use aws::moto::{self, Moto, Proxy};
use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const APP: &str = "shop";

fn alice() -> Attribution {
    Attribution::new("alice", None).unwrap()
}

fn bob() -> Attribution {
    Attribution::new("bob", None).unwrap()
}

/// Writes a bundle of `files` files; the first `changed` differ per `version`.
fn bundle(dir: &Path, files: usize, changed: usize, version: &str) {
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("index.html"), format!("<html>{}</html>", files)).unwrap();
    for i in 0..files - 1 {
        let body = if i < changed {
            format!("export const v = '{version}'; // file {i}\n").repeat(40)
        } else {
            format!("export const f{i} = {i};\n").repeat(40)
        };
        std::fs::write(dir.join(format!("assets/f{i:04}.js")), body).unwrap();
    }
}

/// A release of the bundle in `dir` into the default channel.
fn request(dir: &Path, version: &str) -> ReleaseRequest {
    ReleaseRequest {
        app: APP.into(),
        bundle: dir.to_path_buf(),
        version: version.into(),
        channel: None,
        min_native_version: None,
        description: Some(format!("release {version}")),
    }
}

async fn release(ws: &Workspace, dir: &Path, version: &str) -> ReleaseOutcome {
    ws.release(&alice(), &request(dir, version), &Silent)
        .await
        .unwrap_or_else(|e| panic!("release {version}: {e}"))
}

/// What each of `ids` runs from `channel`, by the reference device check reading S3 (one
/// reader for the fleet, which fetches each object once).
async fn fleet(ws: &Workspace, channel: &str, ids: &[String]) -> BTreeMap<String, Option<String>> {
    use airlock_core::ops::device::StoreSource;
    use airlock_protocol::device::{DeviceRequest, verify_update};
    let source = StoreSource::new(ws.channel_store(channel).unwrap().clone());
    let keys = vec![ws.signer().await.unwrap().public_key().clone()];
    let now = airlock_protocol::time::Timestamp::from_unix(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    )
    .unwrap();
    let (channel, ids) = (channel.to_string(), ids.to_vec());
    tokio::task::spawn_blocking(move || {
        let mut out = BTreeMap::new();
        for id in &ids {
            let d = verify_update(
                &DeviceRequest {
                    app: APP,
                    channel: &channel,
                    install_id: id,
                    native_version: None,
                    trusted_keys: &keys,
                    last_accepted: None,
                    now,
                },
                &source,
            );
            let v = match &d.outcome {
                Outcome::Run { version, .. } => Some(version.clone()),
                Outcome::KeepBuiltIn => None,
                // Nothing published in the channel yet: the device keeps its built-in bundle.
                Outcome::Refused {
                    reason: Refusal::PointerMissing { .. },
                } => None,
                Outcome::Refused { .. } => panic!("{id} refused the update: {d:?}"),
            };
            out.insert(id.clone(), v);
        }
        out
    })
    .await
    .unwrap()
}

/// The independent verifier (Python, boto3 + cryptography) on `bucket`, with the log and
/// the key set in `home`; its verdicts.
fn python_check(
    endpoint: &str,
    (home, bucket): (&str, &str),
    channel: &str,
    kms_key: &str,
    ids: &[String],
) -> BTreeMap<String, Option<String>> {
    let out = Command::new(moto::python())
        .arg(moto::repo_root().join("tests/cross_language/verify_s3.py"))
        .args([
            "--endpoint",
            endpoint,
            "--bucket",
            bucket,
            "--prefix",
            "ota",
            "--home-bucket",
            home,
            "--home-prefix",
            "ota",
        ])
        .args([APP, channel, "--kms-key-id", kms_key])
        .args(ids)
        .output()
        .expect("python runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "verify_s3.py printed no JSON ({e}): {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        out.status.success() && v["ok"] == true,
        "the independent check failed: {v}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        v["logEntries"].as_u64() > Some(0) && v["keySetVersion"] == 1,
        "the signed log and the key set verify independently: {v}"
    );
    v["devices"]
        .as_object()
        .expect("devices")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string)))
        .collect()
}

fn share(fleet: &BTreeMap<String, Option<String>>, version: &str) -> f64 {
    let n = fleet
        .values()
        .filter(|v| v.as_deref() == Some(version))
        .count();
    n as f64 / fleet.len() as f64
}

#[tokio::test]
async fn s3_store_keeps_the_store_contract() {
    let moto = Moto::connect().await;
    let bucket = moto.bucket("contract").await;
    let spec = StoreConfig {
        url: format!("s3://{bucket}/pre/fix"),
        path_style: true,
        endpoint: Some(moto.endpoint.clone()),
        pointer_max_age: Some(30),
        ..StoreConfig::default()
    };
    let store = airlock_core::store::open(&spec, Some(&moto.sdk)).unwrap();
    check_create_only(store.as_ref())
        .await
        .expect("moto honours If-None-Match");

    assert_eq!(
        store
            .get(
                "apps/x",
                airlock_protocol::limits::Cap::new("object", u64::MAX)
            )
            .await
            .unwrap(),
        None
    );
    let blob = ObjectClass::Blob {
        content_type: "application/javascript",
    };
    assert_eq!(
        store.put_new("a/1", b"one", blob).await.unwrap(),
        PutOutcome::Created
    );
    assert_eq!(
        store.put_new("a/1", b"two", blob).await.unwrap(),
        PutOutcome::AlreadyExists
    );
    assert_eq!(
        store
            .get(
                "a/1",
                airlock_protocol::limits::Cap::new("object", u64::MAX)
            )
            .await
            .unwrap()
            .unwrap()
            .bytes,
        b"one"
    );

    // Compare-and-swap on the etag.
    store
        .replace("p", b"v1", None, ObjectClass::Pointer)
        .await
        .unwrap();
    let first = store
        .get("p", airlock_protocol::limits::Cap::new("object", u64::MAX))
        .await
        .unwrap()
        .unwrap();
    let lost = store
        .replace("p", b"x", None, ObjectClass::Pointer)
        .await
        .unwrap_err();
    assert_eq!(lost.kind(), ErrorKind::Conflict, "{lost}");
    store
        .replace("p", b"v2", Some(&first.etag), ObjectClass::Pointer)
        .await
        .unwrap();
    let stale = store
        .replace("p", b"v3", Some(&first.etag), ObjectClass::Pointer)
        .await
        .unwrap_err();
    assert_eq!(
        stale.kind(),
        ErrorKind::Conflict,
        "a stale etag must lose: {stale}"
    );
    assert_eq!(
        store
            .get("p", airlock_protocol::limits::Cap::new("object", u64::MAX))
            .await
            .unwrap()
            .unwrap()
            .bytes,
        b"v2"
    );

    // Eight consoles replacing the same pointer at once, all having read the same etag:
    // exactly one write wins.
    let current = store
        .get("p", airlock_protocol::limits::Cap::new("object", u64::MAX))
        .await
        .unwrap()
        .unwrap()
        .etag;
    let attempts = (0..8u8).map(|i| {
        let (store, etag) = (store.clone(), current.clone());
        async move {
            store
                .replace("p", &[b'w', i], Some(&etag), ObjectClass::Pointer)
                .await
        }
    });
    let results = futures_util::future::join_all(attempts).await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "exactly one pointer write wins: {results:?}");
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| e.kind() == ErrorKind::Conflict),
        "{results:?}"
    );

    // Headers a CDN needs, and the prefix is applied.
    let head = moto
        .s3
        .head_object()
        .bucket(&bucket)
        .key("pre/fix/a/1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.cache_control(),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(head.content_type(), Some("application/javascript"));
    let head = moto
        .s3
        .head_object()
        .bucket(&bucket)
        .key("pre/fix/p")
        .send()
        .await
        .unwrap();
    assert_eq!(head.cache_control(), Some("public, max-age=30"));

    // A blob over the multipart threshold goes up in parts and reads back whole.
    let big: Vec<u8> = (0..(airlock_core::store::s3::MULTIPART_THRESHOLD + 12345))
        .map(|i| (i % 251) as u8)
        .collect();
    assert_eq!(
        store.put_new("big", &big, blob).await.unwrap(),
        PutOutcome::Created
    );
    assert_eq!(
        store
            .get(
                "big",
                airlock_protocol::limits::Cap::new("object", u64::MAX)
            )
            .await
            .unwrap()
            .unwrap()
            .bytes,
        big
    );

    for i in 0..5 {
        store
            .put_new(&format!("l/{i}"), b"x", ObjectClass::Log)
            .await
            .unwrap();
    }
    assert_eq!(store.list("l/", Some("l/2")).await.unwrap(), ["l/3", "l/4"]);
    store.delete("l/4").await.unwrap();
    assert_eq!(store.list("l/", None).await.unwrap().len(), 4);

    // Errors name the bucket and the cause.
    let missing = airlock_core::store::open(
        &StoreConfig {
            url: "s3://no-such-bucket-airlock/x".into(),
            ..spec.clone()
        },
        Some(&moto.sdk),
    )
    .unwrap();
    let e = missing
        .get("k", airlock_protocol::limits::Cap::new("object", u64::MAX))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Store);
    let text = e.to_string();
    assert!(
        text.contains("no-such-bucket-airlock") && text.contains("does not exist"),
        "{text}"
    );

    let dead = airlock_core::store::open(
        &StoreConfig {
            endpoint: Some("http://127.0.0.1:9".into()),
            ..spec
        },
        Some(&moto.sdk),
    )
    .unwrap();
    let e = dead
        .get("k", airlock_protocol::limits::Cap::new("object", u64::MAX))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("network unreachable") || e.contains("timed out"),
        "{e}"
    );
}

/// Release into a staging bucket, promote into a production bucket behind CloudFront, and
/// walk the whole rollout; after every step both the reference device check (reading S3)
/// and the independent Python verifier agree on what each device runs.
#[tokio::test]
async fn staged_rollout_across_buckets_with_kms_and_cloudfront() {
    let moto = Moto::connect().await;
    let (staging, prod) = (moto.bucket("staging").await, moto.bucket("prod").await);
    let key = moto.rsa_key().await;
    let dist = moto.distribution(&prod).await;
    let config = moto::with_cdn(
        moto::s3_config(&moto.endpoint, &staging, Some(&prod), &format!("kms:{key}")),
        "Production",
        &dist,
    );
    let work = tempfile::tempdir().unwrap();
    let ws = moto::console(work.path(), config).await;
    let ids: Vec<String> = (0..200).map(|i| format!("device-{i:04}")).collect();
    let sample: Vec<String> = ids.iter().step_by(10).cloned().collect();

    let (b1, b2) = (work.path().join("b1"), work.path().join("b2"));
    bundle(&b1, 40, 2, "1.0.0");
    bundle(&b2, 40, 2, "1.1.0");
    let r1 = release(&ws, &b1, "1.0.0").await;
    assert_eq!(r1.uploaded_files, 40);
    ws.approve(&bob(), APP, "1.0.0", "Production")
        .await
        .unwrap();
    let full = |version: &str| PromoteRequest {
        app: APP.into(),
        from: "Staging".into(),
        to: "Production".into(),
        percent: Some(100.0),
        version: Some(version.into()),
    };
    let c = ws.promote(&alice(), &full("1.0.0")).await.unwrap();
    // The pointer write was followed by an invalidation of exactly its path.
    let inv = c.pointers[0]
        .invalidation
        .as_ref()
        .expect("an invalidation");
    assert_eq!(inv.error, None, "{inv:?}");
    let pointer_key = airlock_protocol::layout::pointer_key(APP, "Production");
    assert_eq!(inv.paths, [format!("/ota/{pointer_key}")]);
    assert!(inv.status.eq_ignore_ascii_case("completed"), "{inv:?}");
    assert!(!inv.id.is_empty());

    // Promotion copied the release into the production bucket before its pointer moved.
    let in_prod = moto.objects(&prod).await;
    assert_eq!(
        in_prod
            .iter()
            .filter(|(k, _)| k.starts_with("ota/blobs/"))
            .count(),
        40,
        "every blob was copied"
    );
    assert!(
        in_prod
            .iter()
            .any(|(k, _)| k.ends_with(&airlock_protocol::layout::statement_key(APP, "1.0.0")))
    );
    assert!(
        !in_prod.iter().any(|(k, _)| k.contains("/log/")),
        "the log stays in the home store"
    );
    let everyone = fleet(&ws, "Production", &sample).await;
    assert!(everyone.values().all(|v| v.as_deref() == Some("1.0.0")));
    assert_eq!(
        python_check(
            &moto.endpoint,
            (&staging, &prod),
            "Production",
            &key,
            &sample
        ),
        everyone
    );

    let r2 = release(&ws, &b2, "1.1.0").await;
    assert_eq!(r2.uploaded_files, 2, "only the changed files go up: {r2:?}");
    ws.approve(&bob(), APP, "1.1.0", "Production")
        .await
        .unwrap();
    let step = PromoteRequest {
        percent: None,
        ..full("1.1.0")
    };
    ws.promote(&alice(), &step).await.unwrap();
    let at5 = fleet(&ws, "Production", &ids).await;
    assert!(
        (share(&at5, "1.1.0") - 0.05).abs() < 0.05,
        "{}",
        share(&at5, "1.1.0")
    );
    assert_eq!(
        python_check(&moto.endpoint, (&staging, &prod), "Production", &key, &ids),
        at5
    );

    ws.expand(&alice(), APP, "Production", ExpandTo::Next)
        .await
        .unwrap();
    let at20 = fleet(&ws, "Production", &ids).await;
    assert!(
        at20.iter()
            .all(|(id, v)| at5[id].as_deref() != Some("1.1.0") || v == &at5[id]),
        "devices in at 5 % stay in at 20 %"
    );
    assert_eq!(
        python_check(&moto.endpoint, (&staging, &prod), "Production", &key, &ids),
        at20
    );

    ws.revert(&alice(), APP, "Production").await.unwrap();
    let reverted = fleet(&ws, "Production", &sample).await;
    assert!(reverted.values().all(|v| v.as_deref() == Some("1.0.0")));
    assert_eq!(
        python_check(
            &moto.endpoint,
            (&staging, &prod),
            "Production",
            &key,
            &sample
        ),
        reverted
    );

    ws.promote(&alice(), &step).await.unwrap();
    ws.expand(&alice(), APP, "Production", ExpandTo::Percent(100.0))
        .await
        .unwrap();
    // 100 %: everyone on 1.1.0 but the default 5 % holdout, which stays on 1.0.0 (the
    // Python checker below applies the holdout rule on its own).
    let all_new = fleet(&ws, "Production", &ids).await;
    let held = all_new
        .values()
        .filter(|v| v.as_deref() == Some("1.0.0"))
        .count();
    assert_eq!(
        all_new
            .values()
            .filter(|v| v.as_deref() == Some("1.1.0"))
            .count()
            + held,
        ids.len()
    );
    assert!(
        held > 0 && held * 10 < ids.len(),
        "the holdout keeps a few devices on 1.0.0: {held} of {}",
        ids.len()
    );
    assert_eq!(
        python_check(&moto.endpoint, (&staging, &prod), "Production", &key, &ids),
        all_new
    );

    let started = std::time::Instant::now();
    ws.rollback(&alice(), APP, "Production", None)
        .await
        .unwrap();
    eprintln!("rollback on moto took {:?}", started.elapsed());
    let back = fleet(&ws, "Production", &ids).await;
    assert!(
        back.values().all(|v| v.as_deref() == Some("1.0.0")),
        "{back:?}"
    );
    assert_eq!(
        python_check(&moto.endpoint, (&staging, &prod), "Production", &key, &ids),
        back
    );

    // A second desktop rebuilds the same registry from the buckets.
    let other = tempfile::tempdir().unwrap();
    let ws2 = moto::console(other.path(), ws.config().clone()).await;
    ws2.sync().await.unwrap();
    assert_eq!(
        ws2.registry().statuses(APP).await.unwrap(),
        ws.registry().statuses(APP).await.unwrap()
    );
}

/// Counts requests by method and kind of key through a pass-through proxy.
fn count(log: &str, method: &str, needle: &str) -> usize {
    log.lines()
        .filter(|l| l.starts_with(method) && l.contains(needle))
        .count()
}

#[tokio::test]
async fn known_blobs_cost_no_requests_and_rollback_reads_every_blob() {
    let moto = Moto::connect().await;
    let bucket = moto.bucket("requests").await;
    let key = moto.rsa_key().await;
    let work = tempfile::tempdir().unwrap();
    let (b1, b2) = (work.path().join("b1"), work.path().join("b2"));
    bundle(&b1, 100, 5, "1.0.0");
    bundle(&b2, 100, 5, "1.1.0");

    // One proxy throughout: the store's identity includes its endpoint.
    let proxy = Proxy::start(&[]);
    let config = moto::s3_config(&proxy.endpoint, &bucket, None, &format!("kms:{key}"));
    let ws = moto::console(work.path(), config.clone()).await;
    release(&ws, &b1, "1.0.0").await;
    let first = proxy.log_so_far();
    assert_eq!(count(&first, "PUT", "/blobs/sha256/"), 100, "{first}");

    // A second desktop session on the same registry, as after a restart.
    drop(ws);
    let ws = moto::console(work.path(), config).await;
    let r = release(&ws, &b2, "1.1.0").await;
    assert_eq!((r.uploaded_files, r.files), (5, 100));
    let started = std::time::Instant::now();
    ws.rollback(&alice(), APP, "Staging", None).await.unwrap();
    eprintln!("rollback through the proxy took {:?}", started.elapsed());
    let all = proxy.stop();
    let second = &all[first.len()..];
    let blob_requests: Vec<&str> = second.lines().filter(|l| l.contains("/blobs/")).collect();
    let (puts, gets): (Vec<&str>, Vec<&str>) =
        blob_requests.iter().partition(|l| l.starts_with("PUT"));
    assert_eq!(
        puts.len(),
        5,
        "only the 5 changed blobs were sent, nothing asked about the rest: {puts:#?}"
    );
    // The rollback proves its target whole where devices read it: every blob, whatever the
    // registry remembers (a bucket writer may have replaced one since it was uploaded).
    assert_eq!(
        gets.len(),
        100,
        "the rollback read each of 1.0.0's 100 blobs once: {gets:#?}"
    );
    assert!(gets.iter().all(|l| l.starts_with("GET")), "{gets:#?}");
}

struct Run {
    moto: Moto,
    bucket: String,
    key: String,
    result: airlock_core::Result<ReleaseOutcome>,
    log: String,
    _work: tempfile::TempDir,
}

/// Publishes 60 files through the fault-injecting proxy started with `args`.
async fn publish_through(args: &[&str]) -> Run {
    let moto = Moto::connect().await;
    let bucket = moto.bucket("faults").await;
    let key = moto.rsa_key().await;
    let work = tempfile::tempdir().unwrap();
    let b = work.path().join("b");
    bundle(&b, 60, 60, "1.0.0");
    // The key set is started directly on moto, as `airlock init` did long before; only the
    // publish goes through the faults.
    let starter = tempfile::tempdir().unwrap();
    moto::console(
        starter.path(),
        moto::s3_config(&moto.endpoint, &bucket, None, &format!("kms:{key}")),
    )
    .await;
    let proxy = Proxy::start(args);
    let config = moto::s3_config(&proxy.endpoint, &bucket, None, &format!("kms:{key}"));
    let ws = moto::console(work.path(), config).await;
    let result = ws.release(&alice(), &request(&b, "1.0.0"), &Silent).await;
    let log = proxy.stop();
    Run {
        moto,
        bucket,
        key,
        result,
        log,
        _work: work,
    }
}

#[tokio::test]
async fn publishing_retries_through_failures_and_lost_replies() {
    // Each faulted request's retry goes through (--once): with 16 uploads in flight,
    // plain every-Nth counting can hit one request on all 6 attempts by chance.
    for args in [
        &["--fail-every", "3", "--once"][..],
        &["--drop-every", "4", "--once"][..],
        &["--reset-every", "5", "--once"][..],
    ] {
        let run = publish_through(args).await;
        let r = run.result.unwrap_or_else(|e| {
            panic!(
                "{args:?}: the publish must retry and finish: {e}\n{}",
                run.log
            )
        });
        assert_eq!(r.files, 60);
        let injected = run
            .log
            .lines()
            .filter(|l| l.contains("injected") || l.contains("dropped") || l.contains("reset"))
            .count();
        assert!(
            injected >= 5,
            "{args:?}: the proxy injected too little:\n{}",
            run.log
        );
        // Read back directly from moto, by a fresh console: every device gets the release.
        let fresh = tempfile::tempdir().unwrap();
        let config = moto::s3_config(
            &run.moto.endpoint,
            &run.bucket,
            None,
            &format!("kms:{}", run.key),
        );
        let ws = moto::console(fresh.path(), config).await;
        let ids: Vec<String> = (0..20).map(|i| format!("d{i}")).collect();
        let seen = fleet(&ws, "Staging", &ids).await;
        assert!(
            seen.values().all(|v| v.as_deref() == Some("1.0.0")),
            "{args:?}: {seen:?}"
        );
        ws.sync().await.unwrap();
        assert_eq!(
            ws.load(APP).await.unwrap().head.map(|h| h.seq),
            Some(1),
            "one log entry"
        );
    }
}

#[tokio::test]
async fn a_store_that_keeps_failing_leaves_nothing_half_published() {
    let run = publish_through(&["--fail-every", "1", "--methods", "PUT"]).await;
    let e = run.result.expect_err("every write fails");
    assert_eq!(e.kind(), ErrorKind::Store, "{e}");
    let text = e.to_string();
    assert!(
        text.contains(&run.bucket) && text.contains("InternalError"),
        "{text}"
    );
    let left = run.moto.objects(&run.bucket).await;
    assert!(
        left.iter().all(|(k, _)| k.starts_with("ota/keys/")),
        "nothing but the key set started before may be there: {left:?}"
    );
}

#[tokio::test]
async fn kms_signatures_verify_with_openssl_and_bad_keys_are_refused() {
    use airlock_core::aws::kms::KmsSigner;
    use airlock_core::signer::{Signer, sign_envelope};
    let moto = Moto::connect().await;
    let dir = tempfile::tempdir().unwrap();
    for spec in [KeySpec::Rsa2048, KeySpec::EccNistP256] {
        let alias = moto.key(spec.clone(), KeyUsageType::SignVerify).await;
        let signer = KmsSigner::connect(&moto.sdk, &alias).await.unwrap();
        let env = sign_envelope(&signer, "application/vnd.airlock.test", b"{\"hello\":1}")
            .await
            .unwrap();
        let pae = airlock_protocol::dsse::pae("application/vnd.airlock.test", b"{\"hello\":1}");
        let (msg, sig, pem) = (
            dir.path().join("m"),
            dir.path().join("s"),
            dir.path().join("k"),
        );
        std::fs::write(&msg, &pae).unwrap();
        std::fs::write(&sig, signer.sign(&pae).await.unwrap()).unwrap();
        std::fs::write(&pem, signer.public_key().to_pem()).unwrap();
        let out = Command::new("openssl")
            .args(["dgst", "-sha256", "-verify"])
            .arg(&pem)
            .arg("-signature")
            .arg(&sig)
            .arg(&msg)
            .output()
            .unwrap();
        assert!(out.status.success(), "{spec:?}: openssl: {out:?}");
        assert_eq!(env.signatures[0].keyid, signer.public_key().keyid());
    }

    async fn refused(moto: &Moto, alias: &str, needle: &str) {
        let e = KmsSigner::connect(&moto.sdk, alias).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Signer, "{e}");
        assert!(e.to_string().contains(needle), "{alias}: {e}");
    }
    refused(&moto, "alias/no-such-airlock-key", "does not exist").await;
    let wrong = moto
        .key(KeySpec::SymmetricDefault, KeyUsageType::EncryptDecrypt)
        .await;
    refused(&moto, &wrong, "SIGN_VERIFY").await;
    let disabled = moto.rsa_key().await;
    let id = moto
        .kms
        .describe_key()
        .key_id(&disabled)
        .send()
        .await
        .unwrap();
    let id = id.key_metadata.unwrap().key_id;
    moto.kms.disable_key().key_id(id).send().await.unwrap();
    refused(&moto, &disabled, "disabled").await;

    // Publishing with a disabled key writes nothing. (The bucket's key set was started with
    // a working key; the desktop with the disabled one joins it.)
    let bucket = moto.bucket("disabled").await;
    let good = moto.rsa_key().await;
    let starter = tempfile::tempdir().unwrap();
    moto::console(
        starter.path(),
        moto::s3_config(&moto.endpoint, &bucket, None, &format!("kms:{good}")),
    )
    .await;
    let config = moto::s3_config(&moto.endpoint, &bucket, None, &format!("kms:{disabled}"));
    let ws = moto::console(dir.path(), config).await;
    let b = dir.path().join("b");
    bundle(&b, 5, 5, "1.0.0");
    let e = ws
        .release(&alice(), &request(&b, "1.0.0"), &Silent)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Signer, "{e}");
    let left = moto.objects(&bucket).await;
    assert!(
        left.iter().all(|(k, _)| k.starts_with("ota/keys/")),
        "nothing published: {left:?}"
    );
}

/// Holds every log append until both consoles have reached theirs, while armed, so two
/// promotions really do race at the store (otherwise one often finishes first).
#[derive(Debug)]
struct Rendezvous {
    inner: std::sync::Arc<dyn Store>,
    barrier: std::sync::Arc<tokio::sync::Barrier>,
    armed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

#[async_trait::async_trait]
impl Store for Rendezvous {
    fn url(&self) -> &str {
        self.inner.url()
    }
    async fn get(
        &self,
        key: &str,
        cap: airlock_protocol::limits::Cap,
    ) -> airlock_core::Result<Option<airlock_core::store::StoredObject>> {
        self.inner.get(key, cap).await
    }
    async fn put_new(
        &self,
        key: &str,
        bytes: &[u8],
        class: ObjectClass,
    ) -> airlock_core::Result<PutOutcome> {
        if class == ObjectClass::Log && self.armed.load(std::sync::atomic::Ordering::SeqCst) {
            self.barrier.wait().await;
        }
        self.inner.put_new(key, bytes, class).await
    }
    async fn replace(
        &self,
        key: &str,
        bytes: &[u8],
        expected: Option<&str>,
        class: ObjectClass,
    ) -> airlock_core::Result<()> {
        self.inner.replace(key, bytes, expected, class).await
    }
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> airlock_core::Result<Vec<String>> {
        self.inner.list(prefix, start_after).await
    }
    async fn delete(&self, key: &str) -> airlock_core::Result<()> {
        self.inner.delete(key).await
    }
    async fn etag(&self, key: &str) -> airlock_core::Result<Option<String>> {
        self.inner.etag(key).await
    }
}

/// Two consoles (own registries) promoting the same channel at the same moment against
/// moto: both validated against the same log, both append the same seq with
/// `If-None-Match: *`; exactly one is created, the other hears of the conflict, and the
/// chain stays valid.
#[tokio::test]
async fn two_consoles_promoting_at_once_on_s3_one_wins() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let moto = Moto::connect().await;
    let (staging, prod) = (moto.bucket("race-s").await, moto.bucket("race-p").await);
    let key = moto.rsa_key().await;
    let config = moto::s3_config(&moto.endpoint, &staging, Some(&prod), &format!("kms:{key}"));
    let home = config.home_store().unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let armed = Arc::new(AtomicBool::new(false));
    let console = |dir: std::path::PathBuf| {
        let (config, home) = (config.clone(), home.clone());
        let (barrier, armed, sdk) = (barrier.clone(), armed.clone(), moto.sdk.clone());
        async move {
            let store = Rendezvous {
                inner: airlock_core::store::open(&home, Some(&sdk)).unwrap(),
                barrier,
                armed,
            };
            let registry = airlock_core::registry::Registry::open(&dir.join("airlock.db"))
                .await
                .unwrap();
            let mut ws = Workspace::with_config(
                &dir,
                config,
                airlock_core::Services {
                    store: Some(Arc::new(store)),
                    registry: Some(registry),
                    ..airlock_core::Services::default()
                },
            )
            .await
            .unwrap();
            ws.adopt_key_set("test", false).await.unwrap();
            ws
        }
    };
    let (w1, w2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = console(w1.path().to_path_buf()).await;
    let b = console(w2.path().to_path_buf()).await;
    let dir = w1.path().join("b");
    bundle(&dir, 3, 3, "1.0.0");
    release(&a, &dir, "1.0.0").await;
    a.approve(&bob(), APP, "1.0.0", "Production").await.unwrap();
    b.sync().await.unwrap();
    let req = PromoteRequest {
        app: APP.into(),
        from: "Staging".into(),
        to: "Production".into(),
        percent: None,
        version: None,
    };
    for round in 0..4 {
        let by = alice();
        armed.store(true, Ordering::SeqCst);
        let (ra, rb) = tokio::join!(a.promote(&by, &req), b.promote(&by, &req));
        armed.store(false, Ordering::SeqCst);
        let err = match (ra, rb) {
            (Ok(_), Err(e)) | (Err(e), Ok(_)) => e,
            (ra, rb) => panic!(
                "round {round}: exactly one wins: {:?} / {:?}",
                ra.err(),
                rb.err()
            ),
        };
        assert_eq!(err.kind(), ErrorKind::Conflict, "round {round}: {err}");
        assert!(err.to_string().contains("another console"), "{err}");
        a.revert(&alice(), APP, "Production").await.unwrap();
        b.sync().await.unwrap();
    }
    let state = b.load(APP).await.unwrap();
    assert_eq!(
        state.head.map(|h| h.seq),
        Some(2 + 4 * 2),
        "a contiguous chain"
    );
}

/// A store that ignores conditional writes (as some S3-compatible services do) is refused
/// by `init`, saying why, and nothing is configured.
#[tokio::test]
async fn init_refuses_a_store_that_ignores_conditional_writes() {
    let moto = Moto::connect().await;
    let bucket = moto.bucket("noconds").await;
    let key = moto.rsa_key().await;
    let work = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(&["--strip-conditions"]);
    let config = moto::s3_config(&proxy.endpoint, &bucket, None, &format!("kms:{key}"));
    let e = Workspace::init(
        work.path(),
        config,
        airlock_core::Services::default(),
        "alice",
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(
        e.to_string().contains("does not honour create-only writes"),
        "{e}"
    );
    assert!(!work.path().join("airlock.toml").exists());
    drop(proxy);

    // The same bucket reached directly is accepted.
    let config = moto::s3_config(&moto.endpoint, &bucket, None, &format!("kms:{key}"));
    Workspace::init(
        work.path(),
        config,
        airlock_core::Services::default(),
        "alice",
    )
    .await
    .expect("moto honours conditional writes");
    assert!(work.path().join("airlock.toml").exists());
}

/// A publish to S3 cut off after each of several writes (the process dying there): no
/// device ever sees a pointer naming something missing, and running the same release
/// again completes it.
#[tokio::test]
async fn a_publish_cut_off_at_any_write_is_safe_and_completes_when_rerun() {
    use airlock_core::store::faulty::FaultyStore;
    use std::sync::Arc;
    let moto = Moto::connect().await;
    let key = moto.rsa_key().await;
    let work = tempfile::tempdir().unwrap();
    let b = work.path().join("b");
    bundle(&b, 30, 30, "1.0.0");
    let ids: Vec<String> = (0..10).map(|i| format!("d{i}")).collect();
    // 30 blobs, manifest, statement, log entry, pointer: 34 writes.
    for cut in [0, 1, 15, 29, 30, 31, 32, 33] {
        let bucket = moto.bucket("cut").await;
        let config = moto::s3_config(&moto.endpoint, &bucket, None, &format!("kms:{key}"));
        let home = config.home_store().unwrap();
        let s3 = airlock_core::store::open(&home, Some(&moto.sdk)).unwrap();
        let faulty = Arc::new(FaultyStore::new(s3, cut));
        let dir = tempfile::tempdir().unwrap();
        // The key set is started directly, so the cut counts only the publish's writes.
        let starter = tempfile::tempdir().unwrap();
        moto::console(starter.path(), config.clone()).await;
        let registry = airlock_core::registry::Registry::open(&dir.path().join("airlock.db"))
            .await
            .unwrap();
        let mut ws = Workspace::with_config(
            dir.path(),
            config.clone(),
            airlock_core::Services {
                store: Some(faulty.clone()),
                registry: Some(registry),
                ..airlock_core::Services::default()
            },
        )
        .await
        .unwrap();
        ws.adopt_key_set("test", false).await.unwrap();
        let req = request(&b, "1.0.0");
        let e = ws.release(&alice(), &req, &Silent).await.unwrap_err();
        assert_eq!(faulty.writes_done(), cut, "cut {cut}: {e}");
        // Whatever landed, devices reading the bucket directly refuse nothing.
        let fresh = tempfile::tempdir().unwrap();
        let direct = moto::console(fresh.path(), config.clone()).await;
        let seen = fleet(&direct, "Staging", &ids).await;
        assert!(
            seen.values().all(|v| v.is_none())
                || seen.values().all(|v| v.as_deref() == Some("1.0.0")),
            "cut {cut}: {seen:?}"
        );
        // The same command again, on the same desktop, finishes the job.
        drop(ws);
        let again = moto::console(dir.path(), config).await;
        again
            .release(&alice(), &req, &Silent)
            .await
            .unwrap_or_else(|e| panic!("cut {cut}: the rerun must complete: {e}"));
        let seen = fleet(&direct, "Staging", &ids).await;
        assert!(
            seen.values().all(|v| v.as_deref() == Some("1.0.0")),
            "cut {cut}: {seen:?}"
        );
    }
}

/// Listing pages past S3's 1,000 keys per response, with a prefix and a start-after (as
/// the log reader does for a long log).
#[tokio::test]
async fn listing_pages_past_a_thousand_keys() {
    let moto = Moto::connect().await;
    let bucket = moto.bucket("paging").await;
    let spec = StoreConfig {
        url: format!("s3://{bucket}/p"),
        path_style: true,
        endpoint: Some(moto.endpoint.clone()),
        ..StoreConfig::default()
    };
    let store = airlock_core::store::open(&spec, Some(&moto.sdk)).unwrap();
    let keys: Vec<String> = (0..1_205).map(|i| format!("log/{i:020}.json")).collect();
    for chunk in keys.chunks(64) {
        let puts = chunk
            .iter()
            .map(|k| store.put_new(k, b"{}", ObjectClass::Log));
        for r in futures_util::future::join_all(puts).await {
            assert_eq!(r.unwrap(), PutOutcome::Created);
        }
    }
    store
        .put_new("other/x", b"x", ObjectClass::Log)
        .await
        .unwrap();
    assert_eq!(store.list("log/", None).await.unwrap(), keys);
    let after = store.list("log/", Some(&keys[99])).await.unwrap();
    assert_eq!(after, keys[100..]);
}

/// CDN logs in S3, as CloudFront delivers them to a logging bucket: a simulated fleet on
/// Production (which has a CloudFront distribution, served by moto) writes its access logs
/// into a logs bucket; `kpi ingest` reads them through the S3 API, once, counting
/// downloads for the releases of the channel the distribution serves. Then an incident's
/// pointer check reads the pointer back from the bucket *and* through the CDN address.
#[tokio::test]
async fn cdn_logs_in_s3_are_ingested_and_an_incident_reads_the_pointer_through_the_cdn() {
    use airlock_core::kpi::fleet::Scenario;
    use airlock_core::kpi::policy::{CdnLogSettings, KpiSettings};
    use airlock_core::kpi::source::{Counter, MemorySource, Scope, Window};
    use airlock_core::ops::incident::OpenRequest;
    let moto = Moto::connect().await;
    let (staging, prod, logs) = (
        moto.bucket("staging").await,
        moto.bucket("prod").await,
        moto.bucket("cdn-logs").await,
    );
    let key = moto.rsa_key().await;
    let dist = moto.distribution(&prod).await;
    let mut config = moto::with_cdn(
        moto::s3_config(&moto.endpoint, &staging, Some(&prod), &format!("kms:{key}")),
        "Production",
        &dist,
    );
    // Path-style moto stands in for the CDN's address: an anonymous GET of the pointer's
    // CDN path, which the bucket's policy allows (as an origin access policy would).
    let public = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{prod}/*"}}]}}"#
    );
    moto.s3
        .put_bucket_policy()
        .bucket(&prod)
        .policy(public)
        .send()
        .await
        .expect("moto takes the bucket policy");
    if let Some(cdn) = config
        .channels
        .get_mut("Production")
        .and_then(|c| c.cdn.as_mut())
    {
        cdn.address = Some(format!("{}/{prod}", moto.endpoint));
    }
    config.stores.insert(
        "logs".into(),
        StoreConfig {
            url: format!("s3://{logs}/cloudfront"),
            path_style: true,
            ..StoreConfig::default()
        },
    );
    config.kpi = Some(KpiSettings {
        cdn_logs: Some(CdnLogSettings {
            store: "logs".into(),
            distributions: Vec::new(),
        }),
        ..KpiSettings::default()
    });
    let work = tempfile::tempdir().unwrap();
    let ws = moto::console(work.path(), config).await;
    let (b1, b2) = (work.path().join("b1"), work.path().join("b2"));
    bundle(&b1, 6, 2, "1.0.0");
    bundle(&b2, 6, 2, "1.1.0");
    release(&ws, &b1, "1.0.0").await;
    ws.approve(&bob(), APP, "1.0.0", "Production")
        .await
        .unwrap();
    let promote = |version: &str, percent| PromoteRequest {
        app: APP.into(),
        from: "Staging".into(),
        to: "Production".into(),
        percent,
        version: Some(version.into()),
    };
    ws.promote(&alice(), &promote("1.0.0", Some(100.0)))
        .await
        .unwrap();
    release(&ws, &b2, "1.1.0").await;
    ws.approve(&bob(), APP, "1.1.0", "Production")
        .await
        .unwrap();
    ws.promote(&alice(), &promote("1.1.0", Some(20.0)))
        .await
        .unwrap();

    let start = ws.now().plus_seconds(-3600);
    let scenario = Scenario {
        devices: 1500,
        sessions_per_hour: 2.0,
        ..Scenario::default()
    };
    let mut fleet = ws
        .new_fleet(APP, "Production", scenario, start)
        .await
        .unwrap();
    let spec = ws.config().resolve_store("logs").unwrap();
    let store = airlock_core::store::open(&spec, ws.aws()).unwrap();
    let (played, files) = ws
        .play_fleet(&mut fleet, ws.now(), Some(&store))
        .await
        .unwrap();
    assert!(
        files.iter().all(|f| f.starts_with(&format!("{dist}."))),
        "named as CloudFront names them: {files:?}"
    );
    let r = ws.ingest_cdn_logs().await.unwrap();
    assert_eq!(r.files as usize, files.len(), "{r:?}");
    assert_eq!((r.malformed, r.unattributed), (0, 0), "{r:?}");
    assert_eq!(
        r.counted,
        played.update_checks + played_blob_requests(&played)
    );
    assert_eq!(ws.ingest_cdn_logs().await.unwrap().files, 0, "read once");
    let source = ws.kpi_source().await.unwrap();
    let scope = Scope {
        app: APP.into(),
        channel: "Production".into(),
        versions: vec!["1.1.0".into(), "1.0.0".into()],
        holdout: false,
    };
    let w = Window::new(start, ws.now(), 300).unwrap();
    let downloads = source.counts(Counter::Downloads, &scope, &w).await.unwrap();
    let n = |v: &str| downloads.get(v).map_or(0.0, |b| b.iter().sum::<f64>());
    assert!(n("1.1.0") > 0.0 && n("1.0.0") > 0.0, "{downloads:?}");

    let by = Attribution::new("alice", Some("support reports crashes")).unwrap();
    let opened = ws
        .open_incident(
            &by,
            &OpenRequest {
                app: APP.into(),
                channel: Some("Production".into()),
                version: Some("1.1.0".into()),
                severity: 2,
            },
        )
        .await
        .unwrap();
    let number = opened.entry.entry.seq;
    ws.revert(&alice(), APP, "Production").await.unwrap();
    let checks = ws
        .check_incident("alice", &MemorySource::default(), APP, number)
        .await
        .unwrap();
    let pointer = checks
        .iter()
        .find(|c| c.item == airlock_core::log::entry::ChecklistItem::Pointer)
        .expect("the pointer was checked");
    assert!(pointer.held, "{pointer:?}");
    assert!(
        pointer
            .detail
            .contains(&format!("{}/{prod}/ota/apps/", moto.endpoint))
            && pointer.detail.contains("serves the same"),
        "read back through the CDN address too: {}",
        pointer.detail
    );
}

/// The blob requests a fleet's log lines hold.
fn played_blob_requests(p: &airlock_core::kpi::fleet::Played) -> u64 {
    p.log_lines
        .values()
        .flatten()
        .filter(|l| l.contains("/blobs/sha256/"))
        .count() as u64
}
