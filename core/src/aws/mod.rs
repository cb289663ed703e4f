//! AWS plumbing shared by the S3 store, the KMS signer and CloudFront invalidation: loading
//! the SDK's standard settings (environment, shared config and profiles, `AWS_ENDPOINT_URL`)
//! with the workspace's chosen credentials, the retry and timeout policy, and turning SDK
//! errors into words a release manager understands.

pub mod cloudfront;
pub mod credentials;
pub mod kms;

use crate::error::{Error, Result};
use crate::keychain::{Keychain, SecretServiceKeychain};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use credentials::CredentialSource;
use std::sync::Arc;
use std::time::Duration;

/// Attempts per request, counting the first: 5xx, throttling, connection resets and
/// timeouts are retried with exponential backoff and jitter.
pub const MAX_ATTEMPTS: u32 = 6;

/// Loads the AWS settings with credentials from `source`. The keychain is opened only for
/// [`CredentialSource::Keychain`] (the given one, else the desktop's Secret Service).
pub async fn load_sdk_config(
    source: &CredentialSource,
    endpoint: Option<&str>,
    region: Option<&str>,
    keychain: Option<Arc<dyn Keychain>>,
) -> Result<SdkConfig> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(100))
                .with_max_backoff(Duration::from_secs(5)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .read_timeout(Duration::from_secs(60))
                .operation_attempt_timeout(Duration::from_secs(300))
                .build(),
        );
    if let Some(endpoint) = endpoint {
        check_endpoint("aws-endpoint", endpoint)?;
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_string()));
    }
    match source {
        CredentialSource::Chain => {}
        CredentialSource::Profile(name) => loader = loader.profile_name(name),
        CredentialSource::Keychain(name) => {
            let name = name.clone();
            let keys = tokio::task::spawn_blocking(move || {
                let keychain: Arc<dyn Keychain> = match keychain {
                    Some(k) => k,
                    None => Arc::new(SecretServiceKeychain::connect()?),
                };
                credentials::load(keychain.as_ref(), &name)?.ok_or_else(|| {
                    Error::Config(format!(
                        "airlock.toml says credentials = \"keychain:{name}\" but the keychain \
                         holds no AWS keys under that name; store them with `airlock \
                         credentials set --name {name} --access-key-id AKIA…` (the secret is \
                         read from standard input)"
                    ))
                })
            })
            .await
            .map_err(|e| Error::Keychain(format!("reading AWS keys failed: {e}")))??;
            loader = loader.credentials_provider(Credentials::new(
                keys.access_key_id.clone(),
                keys.secret_access_key.expose().clone(),
                keys.session_token.as_ref().map(|t| t.expose().clone()),
                None,
                "airlock-keychain",
            ));
        }
    }
    let config = loader.load().await;
    if config.region().is_some() {
        return Ok(config);
    }
    // S3 needs a region to sign with; us-east-1 is what S3-compatible services expect.
    Ok(config
        .into_builder()
        .region(Region::from_static("us-east-1"))
        .build())
}

/// Refuses an endpoint setting that is not an http(s) URL; `what` names the setting.
pub(crate) fn check_endpoint(what: &str, endpoint: &str) -> Result<()> {
    if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "{what} {endpoint:?} must start with http:// or https://"
        )))
    }
}

/// A retry partition of one client's own, without the SDK's shared retry quota: each
/// request is bounded by [`MAX_ATTEMPTS`] and uploads by the store's concurrency, and a
/// quota shared process-wide would let one bad minute stop every later retry of a publish.
pub(crate) fn retry_partition() -> aws_sdk_s3::config::retry::RetryPartition {
    use aws_sdk_s3::config::retry::{RetryPartition, TokenBucket};
    RetryPartition::custom("airlock")
        .token_bucket(TokenBucket::unlimited())
        .build()
}

/// What an SDK failure means, for callers that branch on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// 412: a condition (`If-None-Match`, `If-Match`) did not hold.
    Precondition,
    /// 409: another conditional write of the key is in flight; ask again shortly.
    Busy,
    NotFound,
    Other,
}

/// How [`explain`] begins an access-denied answer; [`denied_action`] reads the action back.
const DENIED: &str = "access denied: the credentials in use may not ";

/// The IAM action an access-denied `detail` written by [`explain`] names, if it is one.
pub(crate) fn denied_action(detail: &str) -> Option<String> {
    let rest = detail.strip_prefix(DENIED)?;
    Some(rest.split(" here").next().unwrap_or(rest).to_string())
}

/// Classifies an SDK error and says what happened in words; `action` names the IAM
/// action involved (e.g. `s3:PutObject`), for access-denied messages.
pub(crate) fn explain<E, R>(err: &SdkError<E, R>, action: &str) -> (Failure, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HasStatus,
{
    let status = err.raw_response().map(HasStatus::status);
    let code = err.code().unwrap_or_default().to_string();
    let failure = match (status, code.as_str()) {
        (_, "ConditionalRequestConflict") | (Some(409), "") => Failure::Busy,
        (Some(412), _) | (_, "PreconditionFailed") => Failure::Precondition,
        (_, "NoSuchKey" | "NotFound" | "NotFoundException" | "NoSuchInvalidation") => {
            Failure::NotFound
        }
        (Some(404), c) if c != "NoSuchBucket" => Failure::NotFound,
        _ => Failure::Other,
    };
    let message = err.message().unwrap_or_default();
    let text = match code.as_str() {
        "NoSuchBucket" => "the bucket does not exist (check its name, and the region or \
                           endpoint in use)"
            .to_string(),
        "AccessDenied" | "AccessDeniedException" | "Forbidden" => format!(
            "{DENIED}{action} here (check the IAM policy){}",
            suffix(message)
        ),
        "ExpiredToken" | "ExpiredTokenException" | "TokenRefreshRequired" | "RequestExpired" => {
            "the AWS credentials have expired; refresh them (for SSO: `aws sso login`) or \
             store new ones with `airlock credentials set`"
                .to_string()
        }
        "InvalidAccessKeyId"
        | "SignatureDoesNotMatch"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "InvalidClientTokenId" => format!(
            "AWS rejected the credentials ({code}); check the access key and secret, or \
             the profile in use{}",
            suffix(message)
        ),
        "SlowDown" | "Throttling" | "ThrottlingException" | "RequestLimitExceeded" => format!(
            "AWS kept throttling the requests after {MAX_ATTEMPTS} attempts; try again later"
        ),
        _ => match err {
            SdkError::DispatchFailure(d) if d.is_timeout() => {
                format!("timed out reaching the service after {MAX_ATTEMPTS} attempts")
            }
            SdkError::DispatchFailure(d) if d.is_io() => format!(
                "network unreachable: could not connect to the service after {MAX_ATTEMPTS} \
                 attempts ({})",
                DisplayErrorContext(err)
            ),
            SdkError::TimeoutError(_) => {
                format!("timed out after {MAX_ATTEMPTS} attempts")
            }
            SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_)
                if DisplayErrorContext(err)
                    .to_string()
                    .to_ascii_lowercase()
                    .contains("credential") =>
            {
                // The SDK's account of each provider it tried, without its Debug dump.
                let full = DisplayErrorContext(err).to_string();
                let cut = ["(DispatchFailure", "(ConstructionFailure"]
                    .iter()
                    .filter_map(|m| full.find(m))
                    .min()
                    .unwrap_or(full.len());
                format!(
                    "no usable AWS credentials: check the source this workspace uses \
                     (`airlock credentials show`), set keys in the environment or a profile, or \
                     store them with `airlock credentials set` ({})",
                    full[..cut].trim_end()
                )
            }
            _ if !code.is_empty() => format!(
                "{code}{}{}",
                suffix(message),
                status.map(|s| format!(" (HTTP {s})")).unwrap_or_default()
            ),
            _ => DisplayErrorContext(err).to_string(),
        },
    };
    (failure, text)
}

fn suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// The HTTP status of a raw SDK response.
pub(crate) trait HasStatus {
    fn status(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::config::http::HttpResponse;
    use aws_sdk_s3::error::ErrorMetadata;
    use aws_sdk_s3::operation::get_object::GetObjectError;
    use aws_sdk_s3::primitives::SdkBody;

    fn failure(status: u16, code: &str, message: &str) -> (Failure, String) {
        let err = SdkError::service_error(
            GetObjectError::generic(ErrorMetadata::builder().code(code).message(message).build()),
            HttpResponse::new(status.try_into().unwrap(), SdkBody::empty()),
        );
        explain(&err, "s3:GetObject")
    }

    /// The words for failures moto cannot produce (it accepts any credentials).
    #[test]
    fn failures_are_said_in_words() {
        let (f, t) = failure(403, "AccessDenied", "User is not authorized");
        assert_eq!(f, Failure::Other);
        assert!(
            t.contains("access denied") && t.contains("s3:GetObject"),
            "{t}"
        );
        // The console says which action was refused, in which store, from fields.
        assert_eq!(denied_action(&t).as_deref(), Some("s3:GetObject"));
        let report = crate::error::ErrorReport::from(&crate::Error::Store {
            store: "s3://shop-prod".into(),
            op: "read",
            key: "apps/shop/log/00000001.json".into(),
            detail: t.clone(),
        });
        assert_eq!(report.denied_action.as_deref(), Some("s3:GetObject"));
        assert_eq!(report.store.as_deref(), Some("s3://shop-prod"));
        let (_, other) = failure(500, "InternalError", "boom");
        assert_eq!(denied_action(&other), None);
        let (_, t) = failure(400, "ExpiredToken", "The provided token has expired.");
        assert!(
            t.contains("expired") && t.contains("airlock credentials set"),
            "{t}"
        );
        let (_, t) = failure(403, "InvalidAccessKeyId", "");
        assert!(t.contains("rejected the credentials"), "{t}");
        let (f, t) = failure(404, "NoSuchBucket", "");
        assert_eq!(
            f,
            Failure::Other,
            "a missing bucket is not a missing object"
        );
        assert!(t.contains("bucket does not exist"), "{t}");
        assert_eq!(failure(404, "NoSuchKey", "").0, Failure::NotFound);
        assert_eq!(
            failure(412, "PreconditionFailed", "").0,
            Failure::Precondition
        );
        assert_eq!(
            failure(409, "ConditionalRequestConflict", "").0,
            Failure::Busy
        );
        let (_, t) = failure(503, "SlowDown", "");
        assert!(t.contains("throttling"), "{t}");
    }
}
