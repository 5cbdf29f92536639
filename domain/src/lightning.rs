//! Lightning values and ports: invoices, what a gateway (a Lightning node or
//! an accounts server such as LNbits) does for Sockt, and how a Lightning
//! Address is turned into an invoice for a refund.

use crate::Msats;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A BOLT11 invoice Sockt issued (or was given), already checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    pub bolt11: String,
    /// Lower-case hex.
    pub payment_hash: String,
    pub amount: Msats,
    pub expires_at_ms: i64,
}

/// How an outgoing payment stood when `pay` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayOutcome {
    Settled,
    /// In flight: its end is learnt from `payment_state`.
    Pending,
}

/// Where a payment (incoming, or outgoing by its hash) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentState {
    Pending,
    Paid,
    /// Expired or failed: it will never be paid.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LightningError {
    #[error("the Lightning gateway is unreachable: {0}")]
    Unavailable(String),
    #[error("the Lightning gateway refused: {0}")]
    Refused(String),
    #[error("invalid invoice: {0}")]
    InvalidInvoice(String),
    #[error("payment failed: {0}")]
    PaymentFailed(String),
    #[error("cannot pay this Lightning Address: {0}")]
    Address(String),
}

/// Sockt's own Lightning wallet.
#[async_trait]
pub trait LightningGateway: Send + Sync {
    /// An invoice for `amount` (whole sats), valid `expiry_secs`; the gateway
    /// calls `webhook` (if any) when it is paid.
    async fn create_invoice(
        &self,
        amount: Msats,
        memo: &str,
        expiry_secs: u64,
        webhook: Option<&str>,
    ) -> Result<Invoice, LightningError>;
    /// Where the payment with this hash stands, whichever its direction.
    async fn payment_state(&self, payment_hash: &str) -> Result<PaymentState, LightningError>;
    /// Pay a checked invoice. `Settled` or `Pending` (still in flight: follow
    /// it with `payment_state`); an error is a definite failure only when it
    /// is `PaymentFailed` or `Refused` — any other may hide a payment made.
    async fn pay(&self, invoice: &Invoice) -> Result<PayOutcome, LightningError>;
    /// Decode and check a BOLT11 string (signature, amount, hash).
    fn decode(&self, bolt11: &str) -> Result<Invoice, LightningError>;
    /// What the gateway pushes as payments happen, if it can push: a stream
    /// that reconnects by itself and ends only when dropped. It says when
    /// it is connected and when not (so settlement polls while pushes
    /// cannot arrive); a hash is a hint to look, never proof of payment.
    fn payment_pushes(&self) -> Option<futures::stream::BoxStream<'static, PaymentPush>> {
        None
    }
}

/// One item of a gateway's payment pushes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentPush {
    /// Pushes flow from now on.
    Connected,
    /// Pushes stopped (the stream is reconnecting): poll meanwhile.
    Disconnected,
    /// A payment with this hash happened (or so the push says).
    Payment(String),
}

/// Turns a Lightning Address into an invoice to pay (LNURL-pay, LUD-16).
#[async_trait]
pub trait AddressResolver: Send + Sync {
    /// A bolt11 for exactly `amount`, checked against the address's metadata.
    async fn invoice_for(&self, address: &str, amount: Msats) -> Result<String, LightningError>;
}
