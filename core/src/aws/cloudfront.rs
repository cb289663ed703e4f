//! CloudFront invalidation after a pointer write: exactly the pointer paths that changed
//! (never `/*`), then polling until the invalidation completes. The status is compared
//! without regard to case (AWS says `Completed`, some test servers `COMPLETED`). A failed
//! invalidation is reported, never undoes the published pointer: the pointer's short
//! cache lifetime bounds how long the CDN can serve the old one.

use super::explain;
use crate::error::{Error, Result};
use aws_config::SdkConfig;
use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use serde::Serialize;
use std::time::{Duration, Instant};

/// Longest wait for an invalidation to complete (AWS usually takes under a minute).
const MAX_WAIT: Duration = Duration::from_secs(15 * 60);

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct Invalidation {
    pub distribution: String,
    /// Empty when the invalidation could not be created.
    pub id: String,
    pub paths: Vec<String>,
    /// The last status seen (`Completed` when done), or `failed`.
    pub status: String,
    pub waited_ms: u64,
    /// Why it failed, if it did; the pointer is published either way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Creates an invalidation of `paths` and, if `wait`, polls until it completes. Failures
/// are folded into the report.
pub async fn invalidate(
    sdk: &SdkConfig,
    distribution: &str,
    paths: Vec<String>,
    wait: bool,
) -> Invalidation {
    let started = Instant::now();
    let mut report = Invalidation {
        distribution: distribution.to_string(),
        id: String::new(),
        paths: paths.clone(),
        status: "failed".into(),
        waited_ms: 0,
        error: None,
    };
    match run(sdk, distribution, paths, wait, &mut report).await {
        Ok(()) => {}
        Err(e) => report.error = Some(e.to_string()),
    }
    report.waited_ms = started.elapsed().as_millis() as u64;
    report
}

async fn run(
    sdk: &SdkConfig,
    distribution: &str,
    paths: Vec<String>,
    wait: bool,
    report: &mut Invalidation,
) -> Result<()> {
    let client = Client::from_conf(
        aws_sdk_cloudfront::config::Builder::from(sdk)
            .retry_partition(super::retry_partition())
            .build(),
    );
    let fail = |what: &str, detail: String| {
        Error::Config(format!(
            "CloudFront distribution {distribution}: {what}: {detail} (the pointer is \
             published; the CDN serves the old one until its cache lifetime ends)"
        ))
    };
    let caller_reference = format!(
        "airlock-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let batch = InvalidationBatch::builder()
        .paths(
            Paths::builder()
                .quantity(paths.len() as i32)
                .set_items(Some(paths))
                .build()
                .map_err(|e| fail("building the request failed", e.to_string()))?,
        )
        .caller_reference(caller_reference)
        .build()
        .map_err(|e| fail("building the request failed", e.to_string()))?;
    let created = client
        .create_invalidation()
        .distribution_id(distribution)
        .invalidation_batch(batch)
        .send()
        .await
        .map_err(|e| {
            fail(
                "invalidation failed",
                explain(&e, "cloudfront:CreateInvalidation").1,
            )
        })?;
    let inv = created
        .invalidation
        .ok_or_else(|| fail("invalidation failed", "no invalidation returned".into()))?;
    report.id = inv.id().to_string();
    report.status = inv.status().to_string();
    let started = Instant::now();
    let mut delay = Duration::from_millis(500);
    while wait && !report.status.eq_ignore_ascii_case("completed") {
        if started.elapsed() > MAX_WAIT {
            return Err(fail(
                "still not complete",
                format!(
                    "invalidation {} is {} after {MAX_WAIT:?}",
                    report.id, report.status
                ),
            ));
        }
        crate::progress::report(crate::progress::ProgressEvent::Waiting {
            what: format!("CloudFront invalidation {} of {distribution}", report.id),
            seconds: started.elapsed().as_secs(),
        });
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
        let got = client
            .get_invalidation()
            .distribution_id(distribution)
            .id(&report.id)
            .send()
            .await
            .map_err(|e| {
                fail(
                    "polling failed",
                    explain(&e, "cloudfront:GetInvalidation").1,
                )
            })?;
        if let Some(inv) = got.invalidation {
            report.status = inv.status().to_string();
        }
    }
    Ok(())
}
