//! Money in: invoices that fund a sandbox (its first payment and top-ups),
//! and their settlement — each payment checked with the gateway and
//! credited once per payment hash; a paid sandbox starts (or queues), an
//! unfunded one resumes, one paid after its end refunds again.

use crate::aggregates::SandboxStore;
use crate::error::{lightning_error, AppError, ErrorCode};
use crate::lightning::config::{configured, Lightning};
use crate::lightning::payouts::Payouts;
use crate::queries::Queries;
use crate::sandboxes::provision::Provisioning;
use domain::lightning::{Invoice, PaymentState};
use domain::sandbox::{Funding, FundingSource, PauseReason, SandboxCommand, SandboxState};
use domain::Msats;
use std::sync::Arc;

/// Money in: invoices and their settlement.
pub struct Invoices {
    pub(crate) store: SandboxStore,
    pub(crate) lightning: Option<Arc<Lightning>>,
    pub(crate) queries: Arc<Queries>,
    pub(crate) provisioning: Arc<Provisioning>,
    pub(crate) payouts: Arc<Payouts>,
}

impl Invoices {
    pub(crate) fn lightning(&self) -> Result<&Lightning, AppError> {
        configured(&self.lightning)
    }

    pub(crate) fn check_sats(&self, sats: Option<u64>) -> Result<Msats, AppError> {
        let config = &self.lightning()?.config;
        let sats = sats.ok_or_else(|| AppError::Invalid {
            code: ErrorCode::InvalidAmount,
            message: "prepaid_sats is required for Lightning billing".into(),
        })?;
        if sats < config.min_sats || sats > config.max_sats {
            return Err(AppError::Invalid {
                code: ErrorCode::InvalidAmount,
                message: format!(
                    "the amount must be between {} and {} sats",
                    config.min_sats, config.max_sats
                ),
            });
        }
        Msats::from_sats(sats).ok_or_else(|| AppError::invalid("amount too large"))
    }

    /// Issue an invoice for `amount` to fund the sandbox; it becomes the pending invoice.
    pub(crate) async fn issue_invoice(
        &self,
        sandbox_id: &str,
        amount: Msats,
    ) -> Result<Invoice, AppError> {
        let lightning = self.lightning()?;
        let memo = format!("Sockt sandbox {sandbox_id}: {} sats", amount.0 / 1000);
        let webhook = lightning.config.webhook_url.as_deref();
        let invoice = lightning
            .gateway
            .create_invoice(amount, &memo, lightning.config.invoice_expiry_secs, webhook)
            .await
            .map_err(lightning_error)?;
        let _guard = self.store.lock(sandbox_id).await;
        self.store
            .execute(
                sandbox_id,
                SandboxCommand::IssueInvoice {
                    invoice: invoice.clone(),
                    now_ms: self.store.now_ms(),
                },
            )
            .await?;
        Ok(invoice)
    }

    /// Check a payment with the gateway (never trusting a notification's
    /// word) and credit it once. Unknown or closed hashes are ignored.
    pub async fn settle_payment(self: &Arc<Self>, payment_hash: &str) -> Result<(), AppError> {
        let Some((sandbox_id, invoice)) = self.queries.open_invoice(payment_hash) else {
            return Ok(());
        };
        let state = self
            .lightning()?
            .gateway
            .payment_state(payment_hash)
            .await
            .map_err(lightning_error)?;
        match state {
            PaymentState::Paid => self.credit_payment(&sandbox_id, &invoice).await,
            PaymentState::Failed => self.expire_invoice(&sandbox_id, &invoice).await,
            PaymentState::Pending if self.store.now_ms() > invoice.expires_at_ms + 5_000 => {
                self.expire_invoice(&sandbox_id, &invoice).await
            }
            PaymentState::Pending => Ok(()),
        }
    }

    async fn credit_payment(
        self: &Arc<Self>,
        sandbox_id: &str,
        invoice: &Invoice,
    ) -> Result<(), AppError> {
        let (before, after) = {
            let _guard = self.store.lock(sandbox_id).await;
            let before = self.store.load(sandbox_id).await?;
            let funding = Funding {
                amount: invoice.amount,
                source: FundingSource::Payment {
                    payment_hash: invoice.payment_hash.clone(),
                },
            };
            self.store
                .execute(
                    sandbox_id,
                    SandboxCommand::ExtendBalance {
                        funding,
                        now_ms: self.store.now_ms(),
                    },
                )
                .await?;
            let after = self.store.load(sandbox_id).await?;
            (before, after)
        };
        // A duplicate notification credits nothing and must trigger nothing.
        if after.paid_in == before.paid_in {
            return Ok(());
        }
        tracing::info!(sandbox_id, payment_hash = %invoice.payment_hash, amount_msats = invoice.amount.0, "payment credited");
        match before.state {
            SandboxState::AwaitingPayment => {
                let Some(tier) = after.tier else {
                    return Err(AppError::Internal(
                        "a created sandbox without a tier".into(),
                    ));
                };
                self.provisioning.start_or_queue(sandbox_id, tier).await;
            }
            SandboxState::Paused if after.pause_reason == Some(PauseReason::OutOfBalance) => {
                self.provisioning.resume_paused(sandbox_id).await?
            }
            // Paid after the end: send it back the way the terminate chose —
            // to its Lightning Address, or through the withdraw link the user
            // already holds (it offers the whole balance, so it stays valid).
            state
                if state.is_ended()
                    && (after.withdraw_k1_hash.is_none() || after.refund_address.is_some()) =>
            {
                let payouts = self.payouts.clone();
                let id = sandbox_id.to_string();
                let address = after.refund_address.clone();
                tokio::spawn(async move { payouts.retry_refund(&id, address.as_deref()).await });
            }
            _ => {}
        }
        Ok(())
    }

    /// Record that an invoice expired unpaid. A sandbox still waiting for its
    /// first payment ends `expired` with it (no fresh invoice: unpaid
    /// sandboxes cost nothing to make, so they must not live forever).
    async fn expire_invoice(&self, sandbox_id: &str, invoice: &Invoice) -> Result<(), AppError> {
        let _guard = self.store.lock(sandbox_id).await;
        let expire = SandboxCommand::ExpireInvoice {
            payment_hash: invoice.payment_hash.clone(),
            now_ms: self.store.now_ms(),
        };
        self.store.execute(sandbox_id, expire).await?;
        Ok(())
    }
}
