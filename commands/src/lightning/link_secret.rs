//! The store's secret, never printed, that withdraw links, sealed
//! environments and shell tickets derive their keys from (HMAC-SHA256).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The store's secret that link secrets derive from; never printed.
#[derive(Clone)]
pub struct LinkSecret(String);

impl LinkSecret {
    pub fn new(secret: String) -> LinkSecret {
        LinkSecret(secret)
    }

    /// A fresh secret (for a store-less app, as in tests).
    pub fn random() -> LinkSecret {
        LinkSecret(hex::encode(rand::random::<[u8; 32]>()))
    }

    /// HMAC-SHA256 (hex) of `message` for `purpose`, keyed by the store's
    /// secret (None only if the HMAC refused the key, which it never does
    /// for SHA-256).
    pub(crate) fn mac(&self, purpose: &str, message: &str) -> Option<String> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.as_bytes()).ok()?;
        mac.update(format!("{purpose}:{message}").as_bytes());
        Some(hex::encode(mac.finalize().into_bytes()))
    }
}

impl std::fmt::Debug for LinkSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSecret(redacted)")
    }
}
