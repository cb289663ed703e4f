//! Reading a log from a store and checking its chain: seqs run 1, 2, 3… without gaps, each
//! entry names its app, and each `prev` is the hash of the entry before. A broken chain is
//! an integrity error naming the first bad entry; nothing after it is trusted. Objects in the
//! log folder that are not entries (an S3 console's folder placeholder, a `.DS_Store`) are
//! passed over and reported, never read as history. [`check_signature`] checks an entry
//! against the trusted keys.

use super::entry::{LogEntry, Parsed, entry_hash};
use crate::error::{Error, Result};
use crate::store::Store;
use airlock_protocol::dsse::{Envelope, LOG_PAYLOAD_TYPE};
use airlock_protocol::keyset::KeySet;
use airlock_protocol::layout;

/// An entry with the exact bytes it was stored as and their hash.
#[derive(Clone, Debug)]
pub struct StoredEntry {
    pub entry: LogEntry,
    pub bytes: Vec<u8>,
    pub hash: String,
}

/// The last entry known so far: where reading continues from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

/// What [`read_after`] found: the entries, and the keys in the log folder that are not
/// entries (to warn about).
#[derive(Clone, Debug, Default)]
pub struct LogRead {
    pub entries: Vec<StoredEntry>,
    pub foreign: Vec<String>,
    /// The seq of an entry written by a newer Airlock, and why: reading stops before it, so
    /// the history up to it can be shown, but nothing may be written for the app.
    pub newer: Option<(u64, String)>,
}

/// The seq of `key` if it is exactly an entry key of `app`'s log.
fn entry_seq(app: &str, key: &str) -> Option<u64> {
    let seq = layout::parse_log_key(key)?;
    (layout::log_key(app, seq) == key).then_some(seq)
}

/// Reads the entries after `after` (all of them when `None`) and checks that they extend it.
pub async fn read_after(store: &dyn Store, app: &str, after: Option<&Head>) -> Result<LogRead> {
    let prefix = layout::log_prefix(app);
    let start = after.map(|h| layout::log_key(app, h.seq));
    let keys = store.list(&prefix, start.as_deref()).await?;
    let mut out = Vec::with_capacity(keys.len());
    let mut foreign = Vec::new();
    let mut prev = after.cloned();
    let total = keys.len() as u64;
    for (n, key) in keys.into_iter().enumerate() {
        crate::progress::count(crate::progress::Task::Reading, app, n as u64, total);
        let Some(seq) = entry_seq(app, &key) else {
            foreign.push(key);
            continue;
        };
        let bytes = store
            .get(&key)
            .await?
            .ok_or_else(|| Error::Integrity(format!("{key} was listed but cannot be read")))?
            .bytes;
        let entry = match LogEntry::parse(&key, &bytes)? {
            Parsed::Entry(entry) => entry,
            Parsed::Newer(why) => {
                return Ok(LogRead {
                    entries: out,
                    foreign,
                    newer: Some((seq, why)),
                });
            }
        };
        check_link(app, &key, seq, &entry, prev.as_ref())?;
        let hash = entry_hash(&bytes);
        prev = Some(Head {
            seq,
            hash: hash.clone(),
        });
        out.push(StoredEntry { entry, bytes, hash });
    }
    if total > 0 {
        crate::progress::count(crate::progress::Task::Reading, app, total, total);
    }
    Ok(LogRead {
        entries: out,
        foreign,
        newer: None,
    })
}

/// Checks that `stored` is signed by a key of `keys`: an active one, or one retired no
/// earlier than the entry's time (history it signed while trusted stays valid). The error
/// names the app and seq: the log is treated as tampered from there.
pub fn check_signature(stored: &StoredEntry, keys: &KeySet) -> Result<()> {
    let e = &stored.entry;
    let tampered = |why: String| {
        Error::Integrity(format!(
            "log of {} is tampered at seq {}: {why}; nothing will be signed for {} until a \
             person resolves it (docs/PROTOCOL.md, \"A tampered log\")",
            e.app, e.seq, e.app
        ))
    };
    let env = Envelope::from_bytes(&stored.bytes).map_err(|err| tampered(err.to_string()))?;
    let trusted: Vec<_> = keys
        .keys
        .iter()
        .filter(|k| k.retired_at.is_none_or(|r| e.at <= r))
        .map(|k| k.public())
        .collect::<std::result::Result<_, _>>()?;
    env.verify(LOG_PAYLOAD_TYPE, &trusted)
        .map_err(|err| tampered(err.to_string()))?;
    Ok(())
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
