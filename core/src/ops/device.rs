//! Acting as one device: read what a device would read from the store and run the
//! protocol's reference check (`verify_update`), with the keys the device embeds. The
//! store is asynchronous and the check is not, so the check runs on a blocking thread and
//! reads through [`StoreSource`], which remembers what it fetched (one source can serve
//! many simulated devices).

use crate::error::{Error, Result};
use crate::store::Store;
use crate::workspace::Workspace;
use airlock_protocol::device::{
    AcceptedPointer, Decision, DeviceRequest, Fetched, ObjectSource, verify_update,
};
use airlock_protocol::keys::PublicKey;
use airlock_protocol::limits::Cap;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Reads store objects for the device check, caching each key it fetched.
#[derive(Debug)]
pub struct StoreSource {
    store: Arc<dyn Store>,
    runtime: tokio::runtime::Handle,
    cache: Mutex<HashMap<String, Fetched>>,
}

impl StoreSource {
    /// Must be created inside a tokio runtime and used from a blocking thread.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            runtime: tokio::runtime::Handle::current(),
            cache: Mutex::default(),
        }
    }
}

impl ObjectSource for StoreSource {
    fn fetch(&self, key: &str, cap: Cap) -> std::result::Result<Fetched, String> {
        if let Some(hit) = self.cache.lock().expect("cache lock poisoned").get(key) {
            return Ok(hit.clone());
        }
        let got = match self.runtime.block_on(self.store.get(key, cap)) {
            Ok(Some(o)) => Fetched::Bytes(o.bytes),
            Ok(None) => Fetched::Missing,
            Err(crate::Error::Protocol(airlock_protocol::Error::OverCap { size, .. })) => {
                Fetched::TooLarge { size }
            }
            Err(e) => return Err(e.to_string()),
        };
        self.cache
            .lock()
            .expect("cache lock poisoned")
            .insert(key.to_string(), got.clone());
        Ok(got)
    }
}

/// One simulated device.
#[derive(Clone, Debug, Default)]
pub struct DeviceProfile {
    pub install_id: String,
    pub native_version: Option<semver::Version>,
    pub last_accepted: Option<AcceptedPointer>,
}

impl Workspace {
    /// What `device` would run from `channel`, trusting `keys` (default: the workspace's
    /// trusted key set, as devices embed it).
    pub async fn verify_as_device(
        &self,
        app: &str,
        channel: &str,
        device: DeviceProfile,
        keys: Option<Vec<PublicKey>>,
    ) -> Result<Decision> {
        let keys = match keys {
            Some(k) => k,
            None => self.key_set().await?.set.active_keys(),
        };
        let (app, channel) = (app.to_string(), channel.to_string());
        let source = StoreSource::new(self.channel_store(&channel)?.clone());
        let now = self.clock.now();
        tokio::task::spawn_blocking(move || {
            let req = DeviceRequest {
                app: &app,
                channel: &channel,
                install_id: &device.install_id,
                native_version: device.native_version.as_ref(),
                trusted_keys: &keys,
                last_accepted: device.last_accepted.as_ref(),
                now,
            };
            verify_update(&req, &source)
        })
        .await
        .map_err(|e| Error::InvalidInput(format!("the device check failed to run: {e}")))
    }
}
