//! Reading a log from a store and checking its chain: seqs run 1, 2, 3… without gaps, each
//! entry names its app, and each `prev` is the hash of the entry before. A broken chain is
//! an integrity error naming the first bad entry; nothing after it is trusted.

use super::entry::{LogEntry, entry_hash};
use crate::error::{Error, Result};
use crate::store::Store;
use airlock_protocol::layout;

/// An entry with the exact bytes it was stored as and their hash.
#[derive(Clone, Debug)]
pub struct StoredEntry {
    pub entry: LogEntry,
    pub bytes: Vec<u8>,
    pub hash: String,
}

/// The last entry known so far: where reading continues from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

/// Reads the entries after `after` (all of them when `None`) and checks that they extend it.
pub async fn read_after(
    store: &dyn Store,
    app: &str,
    after: Option<&Head>,
) -> Result<Vec<StoredEntry>> {
    let prefix = layout::log_prefix(app);
    let start = after.map(|h| layout::log_key(app, h.seq));
    let keys = store.list(&prefix, start.as_deref()).await?;
    let mut out = Vec::with_capacity(keys.len());
    let mut prev = after.cloned();
    for key in keys {
        let seq = layout::parse_log_key(&key).ok_or_else(|| {
            Error::Integrity(format!(
                "{key}: unexpected object in the log folder of {app}"
            ))
        })?;
        let bytes = store
            .get(&key)
            .await?
            .ok_or_else(|| Error::Integrity(format!("{key} was listed but cannot be read")))?
            .bytes;
        let entry = LogEntry::from_bytes(&key, &bytes)?;
        check_link(app, &key, seq, &entry, prev.as_ref())?;
        let hash = entry_hash(&bytes);
        prev = Some(Head {
            seq,
            hash: hash.clone(),
        });
        out.push(StoredEntry { entry, bytes, hash });
    }
    Ok(out)
}

fn check_link(app: &str, key: &str, seq: u64, e: &LogEntry, prev: Option<&Head>) -> Result<()> {
    let expected_seq = prev.map_or(1, |p| p.seq + 1);
    let bad = |why: String| {
        Err(Error::Integrity(format!(
            "log of {app} broken at {key}: {why}"
        )))
    };
    if seq != expected_seq || e.seq != seq {
        return bad(format!(
            "expected seq {expected_seq}, found {} (file) / {} (entry)",
            seq, e.seq
        ));
    }
    if e.app != app {
        return bad(format!("entry names app {:?}", e.app));
    }
    let expected_prev = prev.map(|p| p.hash.as_str());
    if e.prev.as_deref() != expected_prev {
        return bad(format!(
            "prev is {:?} but the previous entry's hash is {:?}",
            e.prev, expected_prev
        ));
    }
    Ok(())
}
