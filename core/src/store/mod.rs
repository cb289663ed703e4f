//! Where published objects live: a bucket plus prefix. The engine talks to every store
//! through [`Store`], whose writes have exactly three shapes, each with a fixed guarantee:
//! - [`Store::put_new`]: create-only. Immutable objects (blobs, manifests, statements, log
//!   entries) are never overwritten; a second writer learns the object already exists.
//! - [`Store::replace`]: compare-and-swap on the object's etag, for channel pointers, so two
//!   consoles cannot silently overwrite each other.
//! - [`Store::delete`]: only for garbage collection of unreferenced blobs.
//!
//! A write either lands whole or not at all. Implementations: [`local::LocalStore`] (a
//! folder, `file:///abs/dir`), [`s3::S3Store`] (`s3://bucket/prefix`) and
//! [`faulty::FaultyStore`] (a wrapper for failure tests).

pub mod faulty;
pub mod local;
pub mod s3;

use crate::config::StoreSpec;
use crate::error::{Error, Result};
use airlock_protocol::digest::ObjectRef;
use airlock_protocol::limits::Cap;
use airlock_protocol::time::Timestamp;
use async_trait::async_trait;
use aws_config::SdkConfig;
use std::sync::Arc;

/// An object read from a store, with the etag to pass to [`Store::replace`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredObject {
    pub bytes: Vec<u8>,
    pub etag: String,
}

/// How an object should be served by a CDN in front of the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectClass {
    /// Content-addressed bundle file: cache forever.
    Blob { content_type: &'static str },
    /// Manifest or statement: immutable JSON.
    Immutable,
    /// Event-log entry: immutable, never served to devices.
    Log,
    /// Channel pointer: short-lived caching.
    Pointer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    AlreadyExists,
}

#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// The store's URL, for messages.
    fn url(&self) -> &str;

    /// What identifies the store's contents: the URL, plus the endpoint for S3-compatible
    /// services (the same bucket name at two endpoints is two stores). The registry's
    /// caches of what a store holds are keyed by it.
    fn id(&self) -> &str {
        self.url()
    }

    /// How many uploads to keep in flight at once.
    fn concurrency(&self) -> usize {
        8
    }

    /// The S3 store behind this one, for server-side copies.
    fn as_s3(&self) -> Option<&s3::S3Store> {
        None
    }

    /// Reads `key`, holding at most `cap` bytes of it: a larger object is refused with
    /// [`airlock_protocol::Error::OverCap`] naming the key and the cap, before it is read
    /// whole (every object a stranger could have written has a cap: `protocol::limits`).
    async fn get(&self, key: &str, cap: Cap) -> Result<Option<StoredObject>>;

    /// Creates `key` only if it does not exist yet.
    async fn put_new(&self, key: &str, bytes: &[u8], class: ObjectClass) -> Result<PutOutcome>;

    /// Writes `key` only if its current etag is `expected` (`None`: only if it is absent).
    /// Fails with [`Error::Conflict`] otherwise.
    async fn replace(
        &self,
        key: &str,
        bytes: &[u8],
        expected: Option<&str>,
        class: ObjectClass,
    ) -> Result<()>;

    /// Keys under `prefix` that sort after `start_after`, in ascending order.
    async fn list(&self, prefix: &str, start_after: Option<&str>) -> Result<Vec<String>>;

    async fn delete(&self, key: &str) -> Result<()>;

    /// The etag of `key` (what [`Store::replace`] compares) without reading its bytes;
    /// `None` if it is missing. For replacing an object too large to read.
    async fn etag(&self, key: &str) -> Result<Option<String>>;

    /// When `key` was last written, by the store's clock; `None` if it is missing or the
    /// store cannot say (then `gc` keeps it).
    async fn modified(&self, _key: &str) -> Result<Option<Timestamp>> {
        Ok(None)
    }
}

/// Opens the store `spec` names; S3 stores need the AWS settings.
pub fn open(spec: &StoreSpec, aws: Option<&SdkConfig>) -> Result<Arc<dyn Store>> {
    let url = &spec.url;
    if let Some(path) = url.strip_prefix("file://") {
        return Ok(Arc::new(local::LocalStore::open(path)?));
    }
    if url.starts_with("s3://") {
        let aws = aws.ok_or_else(|| {
            Error::Config(format!("store {url}: the AWS settings were not loaded"))
        })?;
        return Ok(Arc::new(s3::S3Store::open(spec, aws)?));
    }
    Err(Error::Config(format!(
        "store URL {url:?} is not understood; expected file:///absolute/dir or \
         s3://bucket/prefix"
    )))
}

/// What identifies the store `spec` names (see [`Store::id`]): its URL, plus the endpoint
/// in use for an S3 store that has one (its own, else the AWS settings').
pub fn store_id(spec: &StoreSpec, aws: Option<&SdkConfig>) -> String {
    let endpoint = spec
        .endpoint
        .as_deref()
        .or_else(|| aws.and_then(SdkConfig::endpoint_url));
    match endpoint {
        Some(e) if needs_aws(spec) => format!("{} at {e}", spec.url),
        _ => spec.url.clone(),
    }
}

/// Whether opening `spec` needs the AWS settings.
pub fn needs_aws(spec: &StoreSpec) -> bool {
    spec.url.starts_with("s3://")
}

/// Copies an immutable, content-addressed object (a blob or statement whose hash and size
/// `want` gives) from one store to another, and proves the copy: inside S3 (`CopyObject`)
/// when both stores are buckets at one endpoint, else by reading it (at most its size) and
/// writing it with [`put_verified`]. Either way the target's object is then hashed, so a
/// corrupt source or a planted target is an error, never a copy called done.
pub async fn copy_object(
    from: &dyn Store,
    to: &dyn Store,
    key: &str,
    class: ObjectClass,
    want: &ObjectRef,
) -> Result<()> {
    let cap = Cap::new("object being copied", want.size);
    if let (Some(src), Some(dst)) = (from.as_s3(), to.as_s3())
        && dst.can_copy_from(src)
    {
        dst.copy_within(src, key).await?;
        return match verify_object(to, key, want).await? {
            Verified::Intact => Ok(()),
            other => Err(Error::Integrity(format!(
                "{key} copied into {} {}; the copy in {} may be corrupt too",
                to.url(),
                other.describe(want),
                from.url()
            ))),
        };
    }
    let obj = from
        .get(key, cap)
        .await?
        .ok_or_else(|| Error::Integrity(format!("{key} is missing from {}", from.url())))?;
    if !want.matches(&obj.bytes) {
        return Err(Error::Integrity(format!(
            "{key} in {} is corrupt (its bytes do not hash to {}); nothing was copied",
            from.url(),
            want.sha256
        )));
    }
    put_verified(to, key, &obj.bytes, class).await?;
    Ok(())
}

/// What a content-addressed object in a store turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verified {
    /// Its bytes hash to what its key says.
    Intact,
    Missing,
    /// Present, but not those bytes (a planted or torn object).
    Corrupt,
}

impl Verified {
    fn describe(self, want: &ObjectRef) -> String {
        match self {
            Verified::Intact => "is intact".into(),
            Verified::Missing => "is missing".into(),
            Verified::Corrupt => format!("does not hash to {} ({} bytes)", want.sha256, want.size),
        }
    }
}

/// Reads `key` (at most `want.size` bytes: a longer object is corrupt without reading it
/// whole) and says whether it is the object `want` pins.
pub async fn verify_object(store: &dyn Store, key: &str, want: &ObjectRef) -> Result<Verified> {
    match store.get(key, Cap::new("object", want.size)).await {
        Ok(None) => Ok(Verified::Missing),
        Ok(Some(obj)) if want.matches(&obj.bytes) => Ok(Verified::Intact),
        Ok(Some(_)) | Err(Error::Protocol(airlock_protocol::Error::OverCap { .. })) => {
            Ok(Verified::Corrupt)
        }
        Err(e) => Err(e),
    }
}

/// What [`put_verified`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placed {
    /// Written now.
    Created,
    /// Already there, and verified to be these bytes.
    Verified,
    /// Already there but corrupt, and replaced by these bytes.
    Repaired,
}

/// Writes a content-addressed object (its key names the SHA-256 of `bytes`) create-only,
/// and makes sure the store then holds exactly `bytes`: an object already there is read
/// back and hashed before it counts (a "412, already exists" proves nothing about what is
/// there), and a corrupt one is replaced by compare-and-swap on its etag.
pub async fn put_verified(
    store: &dyn Store,
    key: &str,
    bytes: &[u8],
    class: ObjectClass,
) -> Result<Placed> {
    if store.put_new(key, bytes, class).await? == PutOutcome::Created {
        return Ok(Placed::Created);
    }
    let want = ObjectRef::of(bytes);
    let cap = Cap::new("object", want.size);
    let etag = match store.get(key, cap).await {
        Ok(Some(obj)) if want.matches(&obj.bytes) => return Ok(Placed::Verified),
        Ok(Some(obj)) => Some(obj.etag),
        // Longer than the object it should be: corrupt, and not worth reading.
        Err(Error::Protocol(airlock_protocol::Error::OverCap { .. })) => store.etag(key).await?,
        Ok(None) => None,
        Err(e) => return Err(e),
    };
    let Some(etag) = etag else {
        return Err(Error::Conflict(format!(
            "{key} in {} was removed while it was being checked; publish again",
            store.url()
        )));
    };
    store.replace(key, bytes, Some(&etag), class).await?;
    Ok(Placed::Repaired)
}

/// A content type for a bundle file, from its name; devices and CDNs use it.
pub fn content_type_for(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "js" | "mjs" | "cjs" | "bundle" => "application/javascript",
        "json" => "application/json",
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}
