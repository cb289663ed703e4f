//! Which keys this workspace trusts: the signed key-set chain in the home store (see
//! `airlock_protocol::keyset`), read from the version this desktop pinned in airlock.toml
//! (`key-pin`) forward. Log entries, statements and pointers are checked against it, and
//! nothing is signed by a key outside it.
//!
//! Invariant: a key set is only ever used after its chain from the pin checked out; a store
//! whose key documents do not chain to the pin makes every command refuse (kind `integrity`).

use crate::error::{Error, Result};
use crate::store::Store;
use airlock_protocol::keyset::SignedKeySet;
use airlock_protocol::layout;
use airlock_protocol::limits::Cap;

/// A pinned key-set version: `<version>:<sha256 hex of its bytes>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    pub version: u64,
    pub hash: String,
}

impl Pin {
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            Error::Config(format!(
                "key-pin {text:?} is not `<version>:<64 hex digits>`; run `airlock keys join` \
                 to pin the store's key set again"
            ))
        };
        let (version, hash) = text.split_once(':').ok_or_else(bad)?;
        let version: u64 = version.parse().map_err(|_| bad())?;
        if version == 0
            || hash.len() != 64
            || !hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad());
        }
        Ok(Self {
            version,
            hash: hash.to_string(),
        })
    }

    pub fn of(doc: &SignedKeySet) -> Self {
        Self {
            version: doc.set.version,
            hash: doc.hash.clone(),
        }
    }
}

impl std::fmt::Display for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.version, self.hash)
    }
}

/// Every stored key-set version, oldest first, as (version from the key, bytes). Objects
/// under `keys/` that are not versions are passed over.
pub async fn read_versions(store: &dyn Store) -> Result<Vec<(u64, Vec<u8>)>> {
    let mut out = Vec::new();
    for key in store.list(layout::KEYS_PREFIX, None).await? {
        let Some(version) = layout::parse_log_key(&key).filter(|v| layout::keys_key(*v) == key)
        else {
            continue;
        };
        match store.get(&key, Cap::KEY_SET).await {
            Ok(Some(obj)) => out.push((version, obj.bytes)),
            Ok(None) => {}
            // Over the cap: nobody trusted wrote it; kept as an object that cannot verify.
            Err(crate::Error::Protocol(airlock_protocol::Error::OverCap { .. })) => {
                out.push((version, Vec::new()));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn broken(why: impl std::fmt::Display) -> Error {
    Error::Integrity(format!(
        "the trusted-key document in the store does not chain to this desktop's pin: {why}; \
         someone may have replaced it. Nothing will be signed until a person checks it \
         (docs/PROTOCOL.md, \"Trusted keys\")"
    ))
}

/// The newest key set that chains to `pin`.
pub fn newest_from_pin(versions: &[(u64, Vec<u8>)], pin: &Pin) -> Result<SignedKeySet> {
    let mut rest = versions.iter().skip_while(|(v, _)| *v < pin.version);
    let Some((_, bytes)) = rest.next().filter(|(v, _)| *v == pin.version) else {
        return Err(broken(format!("version {} is missing", pin.version)));
    };
    let mut trusted = SignedKeySet::parse(bytes)
        .and_then(|d| d.trusted_by_pin(&pin.hash))
        .map_err(broken)?;
    for (_, bytes) in rest {
        match trusted.follows(bytes) {
            Ok(next) => trusted = next,
            // Not a version the trusted set signed (a squatter on the next version's name):
            // the chain ends before it. Removing versions is caught by what this desktop
            // has seen (`ops/seen.rs`), not here.
            Err(_) => break,
        }
    }
    Ok(trusted)
}

/// The newest key set, checked from version 1 (which only vouches for itself): what a
/// desktop joining the set is shown and then pins.
pub fn newest_unpinned(versions: &[(u64, Vec<u8>)]) -> Result<Option<SignedKeySet>> {
    let Some((first, bytes)) = versions.first() else {
        return Ok(None);
    };
    if *first != 1 {
        return Err(broken("version 1 is missing"));
    }
    let mut doc = SignedKeySet::parse(bytes).map_err(broken)?;
    for (_, bytes) in &versions[1..] {
        match doc.follows(bytes) {
            Ok(next) => doc = next,
            Err(_) => break, // as in `newest_from_pin`
        }
    }
    Ok(Some(doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_and_print() {
        let pin = Pin::parse(&format!("3:{}", "ab".repeat(32))).unwrap();
        assert_eq!(pin.version, 3);
        assert_eq!(Pin::parse(&pin.to_string()).unwrap(), pin);
        for bad in ["", "3", "0:ab", "x:ab", &format!("1:{}", "AB".repeat(32))] {
            assert!(Pin::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
