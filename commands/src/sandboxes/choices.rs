//! What a checked create asks for, whatever the billing: the choices that
//! the credits and the Lightning create share.

use domain::env::EnvVars;
use domain::lifetime::Lifetime;
use domain::network::NetworkPolicy;
use domain::TierName;

/// What a checked create asks for, whatever the billing.
pub(crate) struct SandboxChoices {
    pub tier: TierName,
    pub label: Option<String>,
    pub network: NetworkPolicy,
    pub lifetime: Lifetime,
    pub env: EnvVars,
}
