//! Where an outgoing payment of a sandbox's balance stands once it has been
//! made: settled, pending, or definitely failed.

use domain::lightning::LightningError;

/// Where an outgoing payment stands when `pay_out` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PayOut {
    Settled,
    /// In flight, or its outcome unknown: the settlement duty follows it.
    Pending,
    /// Definitely not paid; the reservation is released.
    Failed(LightningError),
}
