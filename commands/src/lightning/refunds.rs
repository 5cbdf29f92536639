//! Refunds of an ended Lightning sandbox's unused balance: paid to a
//! Lightning Address (retried on the schedule of
//! `background::refund_retries`, across restarts), or offered behind an
//! LNURL-withdraw link.

use crate::background::refund_retries::{with_backoff, REFUND_ATTEMPTS};
use crate::error::{lightning_error, AppError};
use crate::lightning::payout::PayOut;
use crate::lightning::payouts::Payouts;
use crate::lightning::refund_outcome::RefundOutcome;
use crate::lightning::whole_sats::whole_sats;
use domain::sandbox::{RefundTarget, SandboxCommand};
use domain::Msats;
use std::sync::Arc;

impl Payouts {
    /// After a Lightning sandbox ends: pay its balance to `address`, or
    /// offer it behind an LNURL-withdraw link.
    pub(crate) async fn refund_lightning(
        self: &Arc<Self>,
        sandbox_id: &str,
        address: Option<&str>,
    ) -> Result<RefundOutcome, AppError> {
        let sandbox = self.store.load(sandbox_id).await?;
        let amount = whole_sats(sandbox.balance);
        if amount.is_zero() {
            return Ok(RefundOutcome::Nothing);
        }
        match address {
            Some(address) => match self.pay_address(sandbox_id, address, amount).await {
                Ok((payment_hash, true)) => Ok(RefundOutcome::Paid {
                    amount,
                    payment_hash,
                }),
                Ok((payment_hash, false)) => Ok(RefundOutcome::Pending {
                    amount,
                    payment_hash,
                }),
                Err(e) => {
                    let reason = e.to_string();
                    let payouts = self.clone();
                    let id = sandbox_id.to_string();
                    let address = address.to_string();
                    tokio::spawn(async move { payouts.retry_refund(&id, Some(&address)).await });
                    Ok(RefundOutcome::Retrying { amount, reason })
                }
            },
            // The link already offered (to a failed sandbox) stays the link.
            None => match self.links.k1_of(sandbox_id, &sandbox) {
                Some(k1) => Ok(RefundOutcome::Withdraw { amount, k1 }),
                None => {
                    let k1 = self.offer_withdraw(sandbox_id, amount).await?;
                    Ok(RefundOutcome::Withdraw { amount, k1 })
                }
            },
        }
    }

    /// Resolve the address and pay it out of the balance (reserved first).
    /// Returns the payment hash and whether it settled already (else it is
    /// in flight and followed); a failure is recorded for the retries.
    async fn pay_address(
        &self,
        sandbox_id: &str,
        address: &str,
        amount: Msats,
    ) -> Result<(String, bool), AppError> {
        let lightning = self.lightning()?;
        let invoice = async {
            let bolt11 = lightning.resolver.invoice_for(address, amount).await?;
            lightning.gateway.decode(&bolt11)
        }
        .await;
        let target = RefundTarget::LightningAddress {
            address: address.to_string(),
        };
        let failure = match invoice {
            Ok(invoice) => match self.pay_out(sandbox_id, &invoice, target).await? {
                PayOut::Settled => return Ok((invoice.payment_hash, true)),
                PayOut::Pending => return Ok((invoice.payment_hash, false)),
                PayOut::Failed(e) => e,
            },
            Err(e) => e,
        };
        let _guard = self.store.lock(sandbox_id).await;
        self.store
            .execute(
                sandbox_id,
                SandboxCommand::RecordRefundFailure {
                    address: address.to_string(),
                    reason: failure.to_string(),
                    now_ms: self.store.now_ms(),
                },
            )
            .await?;
        Err(lightning_error(failure))
    }

    /// Retry a refund on the background's schedule (`refund_retries`:
    /// backoff, a bounded number of attempts across restarts). Without an
    /// address, leave it claimable through a new LNURL-withdraw link.
    pub(crate) async fn retry_refund(&self, sandbox_id: &str, address: Option<&str>) {
        let done = self
            .store
            .load(sandbox_id)
            .await
            .map(|s| s.refund_attempts)
            .unwrap_or(0);
        let finished = with_backoff(done, || self.refund_attempt(sandbox_id, address)).await;
        if !finished {
            tracing::error!(
                sandbox_id,
                "refund gave up after {REFUND_ATTEMPTS} attempts; the balance stays on the sandbox"
            );
        }
    }

    /// One attempt at a refund; whether nothing is left to try (paid, offered
    /// behind a link, nothing to refund, or no such sandbox).
    async fn refund_attempt(&self, sandbox_id: &str, address: Option<&str>) -> bool {
        let Ok(sandbox) = self.store.load(sandbox_id).await else {
            return true;
        };
        let amount = whole_sats(sandbox.balance);
        if amount.is_zero() {
            return true;
        }
        let Some(address) = address else {
            if let Err(e) = self.offer_withdraw(sandbox_id, amount).await {
                tracing::warn!(sandbox_id, error = %e, "could not offer a withdraw link");
            }
            return true;
        };
        match self.pay_address(sandbox_id, address, amount).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(sandbox_id, error = %e, "refund attempt failed");
                false
            }
        }
    }
}
