//! An S3 bucket (or S3-compatible service) as a store: `s3://bucket/prefix`. The store's
//! three write shapes map onto S3's conditional writes: `put_new` is `If-None-Match: *`
//! (a 412 means the object is already there), `replace` is `If-Match: <etag>` (or
//! `If-None-Match: *` for a first write), and a 412 is a conflict; a 409 (another
//! conditional write of the key still in flight) is asked again after a pause. Large blobs
//! go up in parts. Blobs are served `immutable` for a year; pointers briefly. Retries with
//! backoff are the SDK's (see [`crate::aws`]); a retried write whose first attempt landed
//! sees a 412, which callers treat as "already there" and check.

use super::{ObjectClass, PutOutcome, Store, StoredObject};
use crate::aws::{Failure, explain};
use crate::config::StoreSpec;
use crate::error::{Error, Result};
use airlock_protocol::limits::Cap;
use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, MetadataDirective};

/// Blobs at least this large go up in parts.
pub const MULTIPART_THRESHOLD: usize = 16 << 20;
const PART_SIZE: usize = 8 << 20;
const BLOB_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

#[derive(Debug)]
pub struct S3Store {
    url: String,
    bucket: String,
    /// Empty, or ends with `/`.
    prefix: String,
    client: Client,
    /// The endpoint in use (empty: AWS), so server-side copies happen only between buckets
    /// one client can reach.
    endpoint: String,
    /// The URL, plus the endpoint when there is one: see [`Store::id`].
    id: String,
    pointer_cache_control: String,
    concurrency: usize,
}

impl S3Store {
    pub fn open(spec: &StoreSpec, sdk: &SdkConfig) -> Result<Self> {
        let rest = spec
            .url
            .strip_prefix("s3://")
            .ok_or_else(|| Error::Config(format!("{} is not an s3:// URL", spec.url)))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/');
        if bucket.len() < 3
            || bucket.len() > 63
            || !bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        {
            return Err(Error::Config(format!(
                "store {}: {bucket:?} is not a valid bucket name (3–63 lowercase letters, \
                 digits, dots and hyphens)",
                spec.url
            )));
        }
        let mut builder = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(spec.path_style)
            .retry_partition(crate::aws::retry_partition());
        if let Some(endpoint) = &spec.endpoint {
            crate::aws::check_endpoint(&format!("store {}: endpoint", spec.url), endpoint)?;
            builder = builder.endpoint_url(endpoint);
        }
        if let Some(region) = &spec.region {
            builder = builder.region(aws_config::Region::new(region.clone()));
        }
        let pointer_cache_control = match spec.pointer_max_age {
            None | Some(0) => "no-cache".to_string(),
            Some(s) => format!("public, max-age={s}"),
        };
        let endpoint = spec
            .endpoint
            .clone()
            .or_else(|| sdk.endpoint_url().map(str::to_string))
            .unwrap_or_default();
        Ok(Self {
            id: super::store_id(spec, Some(sdk)),
            url: spec.url.clone(),
            bucket: bucket.to_string(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            client: Client::from_conf(builder.build()),
            endpoint,
            pointer_cache_control,
            concurrency: spec.concurrency.unwrap_or(16),
        })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The object key of a store key (the prefix prepended).
    pub fn object_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn fail(&self, op: &'static str, key: &str, detail: String) -> Error {
        Error::Store {
            store: self.url.clone(),
            op,
            key: key.to_string(),
            detail,
        }
    }

    fn headers(&self, class: ObjectClass) -> (String, &'static str) {
        match class {
            ObjectClass::Blob { content_type } => (BLOB_CACHE_CONTROL.into(), content_type),
            ObjectClass::Immutable => (BLOB_CACHE_CONTROL.into(), "application/json"),
            ObjectClass::Log => ("no-store".into(), "application/json"),
            ObjectClass::Pointer => (self.pointer_cache_control.clone(), "application/json"),
        }
    }

    /// A conditional single PUT: `If-None-Match: *` when `expected` is `None`, else
    /// `If-Match`. `Ok(false)` when the condition failed.
    async fn put(
        &self,
        key: &str,
        bytes: &[u8],
        expected: Option<&str>,
        class: ObjectClass,
    ) -> Result<bool> {
        // A 409 means another conditional write of this key is still in flight (perhaps our
        // own earlier attempt): not an answer yet, so wait and ask again.
        let mut delay = std::time::Duration::from_millis(100);
        for _ in 0..6 {
            match self.put_once(key, bytes, expected, class).await? {
                Put::Written => return Ok(true),
                Put::ConditionFailed => return Ok(false),
                Put::Busy => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        Err(self.fail(
            "write",
            key,
            "another write of this key kept the service busy (409 after 6 tries); try again".into(),
        ))
    }

    async fn put_once(
        &self,
        key: &str,
        bytes: &[u8],
        expected: Option<&str>,
        class: ObjectClass,
    ) -> Result<Put> {
        let (cache_control, content_type) = self.headers(class);
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .body(ByteStream::from(bytes.to_vec()))
            .cache_control(cache_control)
            .content_type(content_type);
        req = match expected {
            None => req.if_none_match("*"),
            Some(etag) => req.if_match(etag),
        };
        match req.send().await {
            Ok(_) => Ok(Put::Written),
            Err(e) => match explain(&e, "s3:PutObject") {
                (Failure::Busy, _) => Ok(Put::Busy),
                (Failure::Precondition, _) => Ok(Put::ConditionFailed),
                // If-Match on an object that is gone.
                (Failure::NotFound, _) if expected.is_some() => Ok(Put::ConditionFailed),
                (_, detail) => Err(self.fail("write", key, detail)),
            },
        }
    }

    /// A large blob in parts, completed create-only; the upload is aborted on failure.
    async fn put_multipart(&self, key: &str, bytes: &[u8], class: ObjectClass) -> Result<bool> {
        let (cache_control, content_type) = self.headers(class);
        let object_key = self.object_key(key);
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&object_key)
            .cache_control(cache_control)
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| self.fail("write", key, explain(&e, "s3:PutObject").1))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| self.fail("write", key, "the service gave no upload id".into()))?
            .to_string();
        // Aborts the upload unless it completes — also when this future is dropped (a
        // sibling upload failed, or the user pressed Ctrl-C), so no parts are left billed.
        let mut guard = AbortOnDrop {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            key: object_key.clone(),
            upload_id: upload_id.clone(),
            completed: false,
        };
        let result = async {
            let mut parts = Vec::new();
            for (i, chunk) in bytes.chunks(PART_SIZE).enumerate() {
                let number = i as i32 + 1;
                let part = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(&object_key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .body(ByteStream::from(chunk.to_vec()))
                    .send()
                    .await
                    .map_err(|e| self.fail("write", key, explain(&e, "s3:PutObject").1))?;
                parts.push(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(part.e_tag().map(str::to_string))
                        .build(),
                );
            }
            let done = self
                .client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(&object_key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .if_none_match("*")
                .send()
                .await;
            match done {
                Ok(_) => Ok(true),
                Err(e) => match explain(&e, "s3:PutObject") {
                    (Failure::Precondition, _) => Ok(false),
                    (_, detail) => Err(self.fail("write", key, detail)),
                },
            }
        }
        .await;
        guard.completed = matches!(result, Ok(true));
        result
    }

    /// Copies `key` from `source` (same endpoint) inside S3, keeping its headers.
    pub async fn copy_within(&self, source: &S3Store, key: &str) -> Result<()> {
        let from = format!(
            "{}/{}",
            source.bucket,
            percent_encode_key(&source.object_key(key))
        );
        self.client
            .copy_object()
            .copy_source(from)
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .metadata_directive(MetadataDirective::Copy)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                self.fail(
                    "copy",
                    key,
                    format!(
                        "from {}: {}",
                        source.url,
                        explain(&e, "s3:GetObject on the source and s3:PutObject").1
                    ),
                )
            })
    }

    /// Whether a server-side copy from `source` is possible.
    pub fn can_copy_from(&self, source: &S3Store) -> bool {
        self.endpoint == source.endpoint
    }
}

/// How one conditional PUT went.
enum Put {
    Written,
    /// 412 (or 404 for `If-Match` on a deleted object).
    ConditionFailed,
    /// 409: another conditional write of the key is in flight; try again.
    Busy,
}

/// Aborts a multipart upload that did not complete, when dropped.
struct AbortOnDrop {
    client: Client,
    bucket: String,
    key: String,
    upload_id: String,
    completed: bool,
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if self.completed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let abort = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id);
        // Best effort: an upload left behind only costs storage until a lifecycle rule.
        runtime.spawn(async move {
            let _ = abort.send().await;
        });
    }
}

/// Encodes an object key for `x-amz-copy-source`: everything but unreserved characters and
/// `/`. Store keys are ASCII by construction, but encode bytes generally anyway.
fn percent_encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[async_trait]
impl Store for S3Store {
    fn url(&self) -> &str {
        &self.url
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn concurrency(&self) -> usize {
        self.concurrency
    }

    fn as_s3(&self) -> Option<&S3Store> {
        Some(self)
    }

    async fn get(&self, key: &str, cap: Cap) -> Result<Option<StoredObject>> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                // Without s3:ListBucket, S3 answers 403 for a key that does not exist.
                let action = "s3:GetObject (and s3:ListBucket, which S3 needs to say a key \
                              is missing)";
                return match explain(&e, action) {
                    (Failure::NotFound, _) => Ok(None),
                    (_, detail) => Err(self.fail("read", key, detail)),
                };
            }
        };
        let etag = out
            .e_tag()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                self.fail(
                    "read",
                    key,
                    "the service sent no ETag, so compare-and-swap writes cannot work".into(),
                )
            })?
            .to_string();
        if let Some(size) = out.content_length() {
            cap.check(key, u64::try_from(size).unwrap_or(0))?;
        }
        // A server may send more than it announced: stop at the cap + 1.
        let mut body = out.body;
        let mut bytes = Vec::new();
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| self.fail("read", key, format!("the download broke off: {e}")))?
        {
            bytes.extend_from_slice(&chunk);
            cap.check(key, bytes.len() as u64)?;
        }
        Ok(Some(StoredObject { bytes, etag }))
    }

    async fn put_new(&self, key: &str, bytes: &[u8], class: ObjectClass) -> Result<PutOutcome> {
        let created = if bytes.len() >= MULTIPART_THRESHOLD {
            self.put_multipart(key, bytes, class).await?
        } else {
            self.put(key, bytes, None, class).await?
        };
        Ok(if created {
            PutOutcome::Created
        } else {
            PutOutcome::AlreadyExists
        })
    }

    async fn replace(
        &self,
        key: &str,
        bytes: &[u8],
        expected: Option<&str>,
        class: ObjectClass,
    ) -> Result<()> {
        if self.put(key, bytes, expected, class).await? {
            Ok(())
        } else {
            Err(Error::Conflict(format!(
                "{key} in {} changed since it was read (someone else wrote it first)",
                self.url
            )))
        }
    }

    async fn list(&self, prefix: &str, start_after: Option<&str>) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(self.object_key(prefix));
            if let Some(after) = start_after {
                req = req.start_after(self.object_key(after));
            }
            if let Some(t) = &token {
                req = req.continuation_token(t);
            }
            let out = req
                .send()
                .await
                .map_err(|e| self.fail("list", prefix, explain(&e, "s3:ListBucket").1))?;
            keys.extend(
                out.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .filter_map(|k| k.strip_prefix(&self.prefix))
                    .map(str::to_string),
            );
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(keys)
    }

    async fn modified(&self, key: &str) -> Result<Option<airlock_protocol::time::Timestamp>> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .send()
            .await
        {
            Ok(out) => Ok(out
                .last_modified()
                .and_then(|t| airlock_protocol::time::Timestamp::from_unix(t.secs()).ok())),
            Err(e) => match explain(&e, "s3:GetObject") {
                (Failure::NotFound, _) => Ok(None),
                (_, detail) => Err(self.fail("stat", key, detail)),
            },
        }
    }

    async fn etag(&self, key: &str) -> Result<Option<String>> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .send()
            .await
        {
            Ok(out) => Ok(out.e_tag().map(str::to_string)),
            Err(e) => match explain(&e, "s3:GetObject") {
                (Failure::NotFound, _) => Ok(None),
                (_, detail) => Err(self.fail("stat", key, detail)),
            },
        }
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.fail("delete", key, explain(&e, "s3:DeleteObject").1))
    }
}
