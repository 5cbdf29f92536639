//! Outgoing payments of a sandbox's balance (refunds to a Lightning Address,
//! LNURL-withdraw claims): reserved before they are made, so the balance
//! they use cannot be used twice; followed by payment hash while in flight;
//! released only on a definite failure. At most one is in flight per
//! sandbox — the aggregate refuses a second reservation — which is also
//! what makes a withdraw link claimable once, whichever process is asked.

use crate::app::App;
use crate::error::AppError;
use crate::settlement::{GATEWAY_CONCURRENCY, GATEWAY_TIMEOUT};
use domain::lightning::{Invoice, LightningError, PayOutcome, PaymentState};
use domain::sandbox::{RefundInFlight, RefundTarget, SandboxCommand};
use futures::StreamExt;
use std::sync::Arc;

/// How long after its reservation a payment the gateway has never heard of
/// is still waited for before the reservation is released. A gateway
/// records an outgoing payment (pending) before it sends it, so one it does
/// not know a minute after we asked was never made — the process that
/// reserved it died before paying, or the call never reached the gateway.
const UNKNOWN_PAYMENT_GRACE_MS: i64 = 60 * 1000;

/// Where an outgoing payment stands when `pay_out` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PayOut {
    Settled,
    /// In flight, or its outcome unknown: the settlement duty follows it.
    Pending,
    /// Definitely not paid; the reservation is released.
    Failed(LightningError),
}

impl App {
    /// Reserve `invoice.amount` of the sandbox's balance for `target`, pay
    /// the invoice, and record how it ended.
    pub(crate) async fn pay_out(
        &self,
        sandbox_id: &str,
        invoice: &Invoice,
        target: RefundTarget,
    ) -> Result<PayOut, AppError> {
        let lightning = self.lightning()?;
        let refund_id = uuid::Uuid::new_v4().to_string();
        let _guard = self.locks.lock(sandbox_id).await;
        self.sandboxes
            .execute(
                sandbox_id,
                SandboxCommand::ReserveRefund {
                    refund_id: refund_id.clone(),
                    amount: invoice.amount,
                    payment_hash: invoice.payment_hash.clone(),
                    expires_at_ms: invoice.expires_at_ms,
                    target,
                    now_ms: self.now_ms(),
                },
            )
            .await?;
        let outcome = match lightning.gateway.pay(invoice).await {
            Ok(PayOutcome::Settled) => PayOut::Settled,
            Ok(PayOutcome::Pending) => PayOut::Pending,
            Err(e @ (LightningError::PaymentFailed(_) | LightningError::Refused(_))) => {
                PayOut::Failed(e)
            }
            Err(e) => {
                tracing::warn!(sandbox_id, error = %e, "a refund's outcome is unknown; following it by its payment hash");
                PayOut::Pending
            }
        };
        self.record_payout(sandbox_id, &refund_id, &outcome).await?;
        Ok(outcome)
    }

    async fn record_payout(
        &self,
        sandbox_id: &str,
        refund_id: &str,
        outcome: &PayOut,
    ) -> Result<(), AppError> {
        let command = match outcome {
            PayOut::Settled => SandboxCommand::SettleRefund {
                refund_id: refund_id.to_string(),
                now_ms: self.now_ms(),
            },
            PayOut::Failed(reason) => SandboxCommand::ReleaseRefund {
                refund_id: refund_id.to_string(),
                reason: reason.to_string(),
                now_ms: self.now_ms(),
            },
            PayOut::Pending => return Ok(()),
        };
        self.sandboxes.execute(sandbox_id, command).await?;
        Ok(())
    }

    /// One pass over the payments in flight: settle those the gateway says
    /// are paid, release those it says definitely failed (or has never heard
    /// of, a minute after it was reserved), leave the rest — several at
    /// once, each call with a deadline: one that hangs holds up no other.
    pub(crate) async fn follow_payouts(self: &Arc<Self>) {
        let Ok(lightning) = self.lightning() else {
            return;
        };
        let follow = |(sandbox_id, payout): (String, RefundInFlight)| async move {
            let state = tokio::time::timeout(
                GATEWAY_TIMEOUT,
                lightning.gateway.payment_state(&payout.payment_hash),
            )
            .await;
            let outcome = match state {
                Ok(Ok(PaymentState::Paid)) => PayOut::Settled,
                Ok(Ok(PaymentState::Failed)) => PayOut::Failed(LightningError::PaymentFailed(
                    "the gateway reports the payment as failed".into(),
                )),
                Ok(Err(LightningError::Refused(_))) if self.long_unknown(&payout) => {
                    PayOut::Failed(LightningError::PaymentFailed(
                        "the gateway never made this payment".into(),
                    ))
                }
                // Pending, or no answer (in time): asked again next pass.
                _ => return,
            };
            {
                let _guard = self.locks.lock(&sandbox_id).await;
                if let Err(e) = self
                    .record_payout(&sandbox_id, &payout.refund_id, &outcome)
                    .await
                {
                    tracing::error!(sandbox_id, error = %e, "could not record a refund's outcome");
                    return;
                }
            }
            // A refund to an address that definitely failed is tried again
            // (a released withdraw claim leaves its link claimable again).
            if let (PayOut::Failed(_), RefundTarget::LightningAddress { address }) =
                (&outcome, &payout.target)
            {
                let app = self.clone();
                let address = address.clone();
                tokio::spawn(async move { app.retry_refund(&sandbox_id, Some(&address)).await });
            }
        };
        futures::stream::iter(self.read.payouts_in_flight())
            .for_each_concurrent(GATEWAY_CONCURRENCY, follow)
            .await;
    }

    fn long_unknown(&self, payout: &RefundInFlight) -> bool {
        self.now_ms()
            > payout
                .reserved_at_ms
                .saturating_add(UNKNOWN_PAYMENT_GRACE_MS)
    }
}
