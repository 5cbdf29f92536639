//! Outgoing payments of a sandbox's balance (refunds to a Lightning Address,
//! LNURL-withdraw claims): reserved before they are made, so the balance
//! they use cannot be used twice; followed by payment hash while in flight;
//! released only on a definite failure, or once the invoice can no longer be
//! paid by anyone. At most one is in flight per sandbox — the aggregate
//! refuses a second reservation — which is also what makes a withdraw link
//! claimable once, whichever process is asked.

use crate::aggregates::SandboxStore;
use crate::error::AppError;
use crate::lightning::config::{configured, Lightning};
use crate::lightning::gateway_limits::{GATEWAY_CONCURRENCY, GATEWAY_TIMEOUT};
use crate::lightning::links::WithdrawLinks;
use crate::lightning::payout::PayOut;
use crate::queries::Queries;
use domain::lightning::{Invoice, LightningError, PayOutcome, PaymentState};
use domain::sandbox::{RefundInFlight, RefundTarget, SandboxCommand};
use futures::StreamExt;
use std::sync::Arc;

/// How long after its invoice expired a payment the gateway has never heard
/// of is released. Not knowing a payment is no proof it will never be made:
/// a call that timed out on our side may still be queued in the gateway, or
/// be replayed by a proxy, and lands later. An expired invoice is refused by
/// the payer's node and the payee's, so past expiry (and this margin for
/// clocks and calls still under way) the payment can never happen, and the
/// balance may be paid out to another invoice.
const UNKNOWN_PAYMENT_MARGIN_MS: i64 = 60 * 1000;
/// The least time an invoice must still be valid for to be paid: one that
/// expires while its payment travels would be reserved for nothing.
const MIN_VALIDITY_MS: i64 = 10 * 1000;

/// Money out: refunds, withdraw links and the payments they make.
pub struct Payouts {
    pub(crate) store: SandboxStore,
    pub(crate) lightning: Option<Arc<Lightning>>,
    pub(crate) links: WithdrawLinks,
    pub(crate) queries: Arc<Queries>,
}

impl Payouts {
    pub(crate) fn lightning(&self) -> Result<&Lightning, AppError> {
        configured(&self.lightning)
    }

    /// Reserve `invoice.amount` of the sandbox's balance for `target`, pay
    /// the invoice, and record how it ended.
    pub(crate) async fn pay_out(
        &self,
        sandbox_id: &str,
        invoice: &Invoice,
        target: RefundTarget,
    ) -> Result<PayOut, AppError> {
        let lightning = self.lightning()?;
        if invoice.expires_at_ms < self.store.now_ms().saturating_add(MIN_VALIDITY_MS) {
            return Ok(PayOut::Failed(LightningError::InvalidInvoice(
                "the invoice has expired or expires within seconds".into(),
            )));
        }
        let refund_id = uuid::Uuid::new_v4().to_string();
        let _guard = self.store.lock(sandbox_id).await;
        self.store
            .execute(
                sandbox_id,
                SandboxCommand::ReserveRefund {
                    refund_id: refund_id.clone(),
                    amount: invoice.amount,
                    payment_hash: invoice.payment_hash.clone(),
                    expires_at_ms: invoice.expires_at_ms,
                    target,
                    now_ms: self.store.now_ms(),
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
                now_ms: self.store.now_ms(),
            },
            PayOut::Failed(reason) => SandboxCommand::ReleaseRefund {
                refund_id: refund_id.to_string(),
                reason: reason.to_string(),
                now_ms: self.store.now_ms(),
            },
            PayOut::Pending => return Ok(()),
        };
        self.store.execute(sandbox_id, command).await?;
        Ok(())
    }

    /// One pass over the payments in flight: settle those the gateway says
    /// are paid, release those it says definitely failed (or has never heard
    /// of, once their invoice can no longer be paid), leave the rest — several at
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
                Ok(Err(LightningError::Refused(_))) if self.unpayable(&payout) => {
                    PayOut::Failed(LightningError::PaymentFailed(
                        "the gateway never made this payment, and its invoice has expired".into(),
                    ))
                }
                // Pending, or no answer (in time): asked again next pass.
                _ => return,
            };
            {
                let _guard = self.store.lock(&sandbox_id).await;
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
                let payouts = self.clone();
                let address = address.clone();
                tokio::spawn(
                    async move { payouts.retry_refund(&sandbox_id, Some(&address)).await },
                );
            }
        };
        futures::stream::iter(self.queries.payouts_in_flight())
            .for_each_concurrent(GATEWAY_CONCURRENCY, follow)
            .await;
    }

    /// Whether the payment can no longer be made by anyone: its invoice
    /// expired (a margin ago), and it was reserved at least that long ago.
    fn unpayable(&self, payout: &RefundInFlight) -> bool {
        let last_chance = payout.expires_at_ms.max(payout.reserved_at_ms);
        self.store.now_ms() > last_chance.saturating_add(UNKNOWN_PAYMENT_MARGIN_MS)
    }
}
