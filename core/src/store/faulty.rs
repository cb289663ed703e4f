//! A store wrapper that fails on purpose, for crash-consistency tests: after a set number
//! of successful writes every further write fails as if the process had died at that point.
//! Reads keep working, so a test can inspect exactly what a device would see.

use super::{ObjectClass, PutOutcome, Store, StoredObject};
use crate::error::{Error, Result};
use airlock_protocol::limits::Cap;
use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    writes_left: AtomicU64,
    writes_done: AtomicU64,
}

impl FaultyStore {
    /// Lets `allowed_writes` writes through, then fails every write.
    pub fn new(inner: Arc<dyn Store>, allowed_writes: u64) -> Self {
        Self {
            inner,
            writes_left: AtomicU64::new(allowed_writes),
            writes_done: AtomicU64::new(0),
        }
    }

    /// How many writes succeeded.
    pub fn writes_done(&self) -> u64 {
        self.writes_done.load(Ordering::SeqCst)
    }

    fn take_write(&self, op: &'static str, key: &str) -> Result<()> {
        let took = self
            .writes_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if took {
            self.writes_done.fetch_add(1, Ordering::SeqCst);
            Ok(())
        } else {
            Err(Error::Store {
                store: self.inner.url().to_string(),
                op,
                key: key.to_string(),
                detail: "injected failure".into(),
            })
        }
    }
}

#[async_trait]
impl Store for FaultyStore {
    fn id(&self) -> &str {
        self.inner.id()
    }

    fn concurrency(&self) -> usize {
        self.inner.concurrency()
    }

    fn url(&self) -> &str {
        self.inner.url()
    }

    async fn get(&self, key: &str, cap: Cap) -> Result<Option<StoredObject>> {
        self.inner.get(key, cap).await
    }

    async fn put_new(&self, key: &str, bytes: &[u8], class: ObjectClass) -> Result<PutOutcome> {
        self.take_write("put", key)?;
        self.inner.put_new(key, bytes, class).await
    }

    async fn replace(
        &self,
        key: &str,
        bytes: &[u8],
        expected: Option<&str>,
        class: ObjectClass,
    ) -> Result<()> {
        self.take_write("replace", key)?;
        self.inner.replace(key, bytes, expected, class).await
    }

    async fn list(&self, prefix: &str, start_after: Option<&str>) -> Result<Vec<String>> {
        self.inner.list(prefix, start_after).await
    }

    async fn modified(&self, key: &str) -> Result<Option<airlock_protocol::time::Timestamp>> {
        self.inner.modified(key).await
    }

    async fn etag(&self, key: &str) -> Result<Option<String>> {
        self.inner.etag(key).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.take_write("delete", key)?;
        self.inner.delete(key).await
    }
}
