//! What Lightning billing is built from when it is configured: the gateway,
//! the Lightning Address resolver and the settings.

use domain::lightning::{AddressResolver, LightningGateway};
use std::sync::Arc;

/// Settings of Lightning billing.
#[derive(Debug, Clone)]
pub struct LightningConfig {
    pub min_sats: u64,
    pub max_sats: u64,
    pub invoice_expiry_secs: u64,
    /// Size of the top-up invoice offered when the balance runs low.
    pub topup_sats: u64,
    /// Where the gateway posts payment notifications (None: polling only).
    pub webhook_url: Option<String>,
}

/// The Lightning side of the application, when configured.
pub struct Lightning {
    pub gateway: Arc<dyn LightningGateway>,
    pub resolver: Arc<dyn AddressResolver>,
    pub config: LightningConfig,
}
