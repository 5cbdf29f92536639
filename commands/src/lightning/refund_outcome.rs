//! How a terminated Lightning sandbox's balance went back: nothing to pay,
//! paid, in flight, retrying, or claimable through a withdraw link.

use domain::Msats;

/// How a terminated Lightning sandbox's balance goes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    /// Nothing (or only sub-sat dust) was left.
    Nothing,
    Paid {
        amount: Msats,
        payment_hash: String,
    },
    /// Paid out of the reserved balance, still in flight: followed by its
    /// payment hash until it settles (or fails and is retried).
    Pending {
        amount: Msats,
        payment_hash: String,
    },
    /// Paying the address failed; it is retried with backoff.
    Retrying {
        amount: Msats,
        reason: String,
    },
    /// Claimable once through this LNURL-withdraw secret.
    Withdraw {
        amount: Msats,
        k1: String,
    },
}
