//! What Lightning billing is built from when it is configured: the gateway,
//! the Lightning Address resolver and the settings.

use crate::error::{AppError, ErrorCode};
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

/// The Lightning side when it is configured; 503 `lightning_unavailable`
/// otherwise.
pub(crate) fn configured(lightning: &Option<Arc<Lightning>>) -> Result<&Lightning, AppError> {
    lightning.as_deref().ok_or_else(|| AppError::Unavailable {
        code: ErrorCode::LightningUnavailable,
        message: "Lightning billing is not configured on this server (SOCKT_LNBITS_URL); use billing_method 'credits' with an API key".into(),
    })
}
