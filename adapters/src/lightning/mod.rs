//! Lightning adapters: LNbits as Sockt's wallet, BOLT11 checks, and LNURL-pay
//! resolution of Lightning Addresses for refunds.

pub mod bolt11;
mod lnbits;
mod lnurl;
mod outbound;
mod push;

pub use lnbits::LnbitsGateway;
pub use lnurl::LnurlResolver;
pub use outbound::{is_public, OutboundError, OutboundPolicy};
