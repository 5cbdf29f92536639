//! The Lightning use case: invoices and payments (`payments`), outgoing
//! payouts reserved before they are made, LNURL-withdraw links and the
//! secret they derive from, and the gateway's limits.

pub(crate) mod config;
pub(crate) mod gateway_limits;
pub(crate) mod link_secret;
pub(crate) mod payments;
pub(crate) mod payout;
pub(crate) mod payouts;
pub(crate) mod refund_outcome;
pub(crate) mod whole_sats;
pub(crate) mod withdraw_links;
