//! The connection test (`airlock check`, and the console's "Test connection"): every store
//! must refuse a second create-only write and a stale compare-and-swap, and the signer must
//! sign a probe whose signature verifies. Nothing of the probe stays in the stores.

use crate::error::Result;
use crate::workspace::{StoreCheck, Workspace};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "camelCase")]
pub struct ConnectionReport {
    pub stores: Vec<StoreCheck>,
    /// The signer in words, e.g. "local key airlock-demo".
    pub signer: String,
    pub keyid: String,
    pub signature_verified: bool,
}

impl Workspace {
    pub async fn check_connection(&self) -> Result<ConnectionReport> {
        let stores = self.check_stores().await?;
        let signer = self.signer().await?;
        let probe =
            crate::signer::sign_envelope(signer.as_ref(), "application/vnd.airlock.check", b"{}")
                .await?;
        let key = signer.public_key();
        Ok(ConnectionReport {
            stores,
            signer: signer.describe(),
            keyid: key.keyid().to_string(),
            signature_verified: !probe.signatures.is_empty(),
        })
    }
}
