//! The Lightning use case, in two services: `Invoices` (money in: invoices
//! that fund sandboxes and top them up, settled once per payment hash) and
//! `Payouts` (money out: refunds to a Lightning Address, LNURL-withdraw
//! links, every outgoing payment reserved before it is made and followed
//! until it ends). Beside them: the gateway's settings and limits, the link
//! secret and the withdraw links it derives.

pub(crate) mod config;
pub(crate) mod gateway_limits;
pub(crate) mod invoices;
pub(crate) mod link_secret;
pub(crate) mod links;
pub(crate) mod payout;
pub(crate) mod payouts;
pub(crate) mod refund_outcome;
pub(crate) mod refunds;
pub(crate) mod whole_sats;
pub(crate) mod withdraw_claims;
