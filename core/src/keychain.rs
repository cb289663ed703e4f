//! The OS keychain, the only place Airlock keeps private keys and credentials. The real one
//! is the freedesktop Secret Service over D-Bus (gnome-keyring, KWallet); the in-memory one
//! serves unit tests. Values cross this boundary only as [`Sensitive`] bytes, and calls run
//! on a blocking thread because the keychain may take a while to answer (or to unlock).

use crate::error::{Error, Result};
use crate::secret::Sensitive;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub trait Keychain: Send + Sync + std::fmt::Debug {
    fn get(&self, service: &str, account: &str) -> Result<Option<Sensitive<Vec<u8>>>>;
    fn set(&self, service: &str, account: &str, secret: &Sensitive<Vec<u8>>) -> Result<()>;
    /// Removes the entry; returns whether there was one.
    fn delete(&self, service: &str, account: &str) -> Result<bool>;
}

/// The desktop's Secret Service (via the `keyring` crate family).
#[derive(Debug)]
pub struct SecretServiceKeychain {
    store: Arc<keyring_core::CredentialStore>,
}

const HOW_TO_FIX: &str = "Airlock keeps keys only in the OS keychain (the Secret Service on \
     Linux). Make sure a keyring daemon such as gnome-keyring is running and unlocked in this \
     desktop session (DBUS_SESSION_BUS_ADDRESS must be set)";

impl SecretServiceKeychain {
    pub fn connect() -> Result<Self> {
        let store = zbus_secret_service_keyring_store::Store::new().map_err(|e| {
            Error::Keychain(format!("cannot reach the keychain: {e}. {HOW_TO_FIX}"))
        })?;
        Ok(Self { store })
    }

    fn entry(&self, service: &str, account: &str) -> Result<keyring_core::Entry> {
        self.store
            .build(service, account, None)
            .map_err(|e| describe(e, service, account))
    }
}

fn describe(err: keyring_core::Error, service: &str, account: &str) -> Error {
    use keyring_core::Error as K;
    let detail = match &err {
        K::NoStorageAccess(_) => format!("the keychain refused access ({err}). {HOW_TO_FIX}"),
        K::PlatformFailure(_) => format!("the keychain failed ({err}). {HOW_TO_FIX}"),
        _ => err.to_string(),
    };
    Error::Keychain(format!("{service}/{account}: {detail}"))
}

impl Keychain for SecretServiceKeychain {
    fn get(&self, service: &str, account: &str) -> Result<Option<Sensitive<Vec<u8>>>> {
        match self.entry(service, account)?.get_secret() {
            Ok(bytes) => Ok(Some(Sensitive::new(bytes))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(describe(e, service, account)),
        }
    }

    fn set(&self, service: &str, account: &str, secret: &Sensitive<Vec<u8>>) -> Result<()> {
        self.entry(service, account)?
            .set_secret(secret.expose())
            .map_err(|e| describe(e, service, account))
    }

    fn delete(&self, service: &str, account: &str) -> Result<bool> {
        match self.entry(service, account)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            Err(e) => Err(describe(e, service, account)),
        }
    }
}

/// A keychain that lives only as long as the process; for unit tests.
#[derive(Debug, Default)]
pub struct MemoryKeychain {
    entries: Mutex<HashMap<EntryName, Sensitive<Vec<u8>>>>,
}

/// (service, account)
type EntryName = (String, String);

impl Keychain for MemoryKeychain {
    fn get(&self, service: &str, account: &str) -> Result<Option<Sensitive<Vec<u8>>>> {
        let entries = self.entries.lock().expect("keychain lock poisoned");
        Ok(entries
            .get(&(service.to_string(), account.to_string()))
            .cloned())
    }

    fn set(&self, service: &str, account: &str, secret: &Sensitive<Vec<u8>>) -> Result<()> {
        let mut entries = self.entries.lock().expect("keychain lock poisoned");
        entries.insert((service.to_string(), account.to_string()), secret.clone());
        Ok(())
    }

    fn delete(&self, service: &str, account: &str) -> Result<bool> {
        let mut entries = self.entries.lock().expect("keychain lock poisoned");
        Ok(entries
            .remove(&(service.to_string(), account.to_string()))
            .is_some())
    }
}
