//! Running many store calls at once, at most `limit` in flight, handling each result as it
//! comes (for progress). Jobs are boxed as `Send` futures: that keeps the operations that
//! use this spawnable (`tokio::spawn`), which the desktop shell needs and which stream
//! combinators over borrowed data defeat (the compiler cannot prove them `Send`).

use crate::error::Result;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use std::future::Future;
use std::pin::Pin;

pub(crate) type Job<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs `jobs` with at most `limit` in flight, passing each output to `done` as it
/// completes; stops at the first error `done` returns (dropping the jobs in flight).
pub(crate) async fn bounded<'a, T>(
    jobs: Vec<Job<'a, T>>,
    limit: usize,
    mut done: impl FnMut(T) -> Result<()> + Send,
) -> Result<()> {
    let mut waiting = jobs.into_iter();
    let mut running = FuturesUnordered::new();
    running.extend(waiting.by_ref().take(limit.max(1)));
    while let Some(out) = running.next().await {
        done(out)?;
        if let Some(job) = waiting.next() {
            running.push(job);
        }
    }
    Ok(())
}
