//! Reading a log from a store and checking its chain. Each object under the log folder is
//! read (at most [`Cap::LOG_ENTRY`] bytes), its signature checked against the keys trusted for
//! that app and position, and only then its payload interpreted: an unsigned, foreign,
//! oversized or misplaced object (a copy of an entry at another position) is reported and
//! passed over — it never stops a later signed entry and never says what the app's state is.
//! Signed entries form the chain: each names its app, sits at the position its `seq` says,
//! has a larger seq than the one before (positions held by passed-over objects are skipped)
//! and names the previous signed entry's hash in `prev`. A signed entry whose `prev` is not
//! the entry before it means a signed entry was removed: an integrity error naming the app
//! and seq, and nothing after it is trusted.

use super::entry::{LogEntry, Parsed, entry_hash};
use crate::error::{Error, Result};
use crate::store::Store;
use airlock_protocol::dsse::{Envelope, LOG_PAYLOAD_TYPE};
use airlock_protocol::keyset::KeySet;
use airlock_protocol::layout;
use airlock_protocol::limits::Cap;
use airlock_protocol::time::Timestamp;

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

/// What [`read_after`] found: the entries, and the objects in the log folder that are not
/// entries (to warn about).
#[derive(Clone, Debug, Default)]
pub struct LogRead {
    pub entries: Vec<StoredEntry>,
    /// Objects passed over, each as `key (why)`.
    pub foreign: Vec<String>,
    /// The positions (seqs) held by passed-over objects after the newest entry: a writer
    /// skips them.
    pub occupied: Vec<u64>,
    /// Passed-over objects that parse as envelopes but no trusted key signed: worth reading
    /// again after a fresh read of the key set (another desktop may have rotated).
    pub unsigned: usize,
    /// The seq of an entry written by a newer Airlock, and why: reading stops before it, so
    /// the history up to it can be shown, but nothing may be written for the app.
    pub newer: Option<(u64, String)>,
}

/// The seq of `key` if it is exactly an entry key of `app`'s log.
fn entry_seq(app: &str, key: &str) -> Option<u64> {
    let seq = layout::parse_log_key(key)?;
    (layout::log_key(app, seq) == key).then_some(seq)
}

/// Why an object in the log folder is not an entry of this log.
pub(crate) enum NotEntry {
    /// Passed over: it says nothing about the app.
    Foreign(String),
    /// Passed over, and perhaps signed by a key this desktop has not read yet.
    Unsigned(String),
}

/// Reads the objects after `after` (all of them when `None`), keeps the entries signed by a
/// key of `keys` trusted for their app and position, and checks that they extend `after`.
pub async fn read_after(
    store: &dyn Store,
    app: &str,
    after: Option<&Head>,
    keys: &KeySet,
) -> Result<LogRead> {
    let prefix = layout::log_prefix(app);
    let start = after.map(|h| layout::log_key(app, h.seq));
    let listed = store.list(&prefix, start.as_deref()).await?;
    let mut read = LogRead::default();
    let mut prev = after.cloned();
    let total = listed.len() as u64;
    for (n, key) in listed.into_iter().enumerate() {
        crate::progress::count(crate::progress::Task::Reading, app, n as u64, total);
        let Some(seq) = entry_seq(app, &key) else {
            read.foreign.push(format!("{key} (not an entry's name)"));
            continue;
        };
        let bytes = match store.get(&key, Cap::LOG_ENTRY).await {
            Ok(Some(o)) => o.bytes,
            // Removed between the listing and now: nothing was there to trust.
            Ok(None) => continue,
            Err(Error::Protocol(e @ airlock_protocol::Error::OverCap { .. })) => {
                read.foreign.push(format!("{key} ({e})"));
                read.occupied.push(seq);
                continue;
            }
            Err(e) => return Err(e),
        };
        let entry = match signed_entry(app, &key, seq, &bytes, keys) {
            Ok(Parsed::Entry(entry)) => entry,
            Ok(Parsed::Newer(why)) => {
                read.newer = Some((seq, why));
                break;
            }
            Err(NotEntry::Foreign(why)) => {
                read.foreign.push(format!("{key} ({why})"));
                read.occupied.push(seq);
                continue;
            }
            Err(NotEntry::Unsigned(why)) => {
                read.foreign.push(format!("{key} ({why})"));
                read.occupied.push(seq);
                read.unsigned += 1;
                continue;
            }
        };
        check_link(app, &key, seq, &entry, prev.as_ref())?;
        let hash = entry_hash(&bytes);
        prev = Some(Head {
            seq,
            hash: hash.clone(),
        });
        // Positions before this entry are behind the head now.
        read.occupied.clear();
        read.entries.push(StoredEntry { entry, bytes, hash });
    }
    if total > 0 {
        crate::progress::count(crate::progress::Task::Reading, app, total, total);
    }
    Ok(read)
}

/// The entry in `bytes` if a key trusted for (`app`, `seq`) signed it and it is the entry of
/// that position: the signature first, then the payload's kind.
pub(crate) fn signed_entry(
    app: &str,
    key: &str,
    seq: u64,
    bytes: &[u8],
    keys: &KeySet,
) -> std::result::Result<Parsed, NotEntry> {
    let env = Envelope::from_bytes(bytes).map_err(|e| NotEntry::Foreign(e.to_string()))?;
    if env.payload_type != LOG_PAYLOAD_TYPE {
        return Err(NotEntry::Foreign(format!(
            "payload type {:?}",
            env.payload_type
        )));
    }
    let trusted = keys.trusted_for(app, seq, claimed_time(&env));
    let payload = env
        .verify(LOG_PAYLOAD_TYPE, &trusted)
        .map_err(|e| NotEntry::Unsigned(format!("not signed by a key trusted here: {e}")))?;
    let parsed = LogEntry::parse_payload(key, &payload)
        .map_err(|e| NotEntry::Foreign(format!("signed, but unreadable: {e}")))?;
    if let Parsed::Entry(e) = &parsed
        && (e.seq != seq || e.app != app)
    {
        // A signed entry of another position or app, copied here: it is not this one.
        return Err(NotEntry::Foreign(format!(
            "a signed entry of {} seq {} copied to this position",
            e.app, e.seq
        )));
    }
    Ok(parsed)
}

/// The time an entry claims, read (unverified) only to decide whether a key retired before
/// positions were recorded still counts for it (see `KeySet::trusted_for`).
fn claimed_time(env: &Envelope) -> Option<Timestamp> {
    let payload = env.payload_bytes().ok()?;
    #[derive(serde::Deserialize)]
    struct At {
        at: Timestamp,
    }
    serde_json::from_slice::<At>(&payload).ok().map(|a| a.at)
}

fn check_link(app: &str, key: &str, seq: u64, e: &LogEntry, prev: Option<&Head>) -> Result<()> {
    let expected_prev = prev.map(|p| p.hash.as_str());
    if e.prev.as_deref() != expected_prev {
        let before = prev.map_or("none".to_string(), |p| format!("seq {}", p.seq));
        return Err(Error::Integrity(format!(
            "log of {app} is broken at seq {seq} ({key}): it follows an entry (prev {:?}) \
             that is not the signed entry before it in the store ({before}); a signed entry \
             was removed or replaced. Nothing will be signed for {app}: a key holder who \
             knows what happened runs `airlock recover {app} --reason ...` \
             (docs/PROTOCOL.md, \"A tampered log\")",
            e.prev
        )));
    }
    Ok(())
}
