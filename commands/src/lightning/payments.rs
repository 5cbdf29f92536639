//! Lightning billing: invoices that fund anonymous sandboxes, settlement
//! (gateway push and polling, crediting each payment hash once), top-up
//! invoices as the balance runs low, and refunds of the unused balance to a
//! Lightning Address or through an LNURL-withdraw link.

use crate::app::App;
use crate::auth::{hash_secret, new_sandbox_token, Principal};
use crate::error::{lightning_error, AppError, ErrorCode};
use crate::lightning::config::Lightning;
use crate::lightning::payout::PayOut;
use crate::lightning::refund_outcome::RefundOutcome;
use crate::lightning::whole_sats::whole_sats;
use crate::sandboxes::choices::SandboxChoices;
use crate::sandboxes::sealed_env;
use domain::lightning::{Invoice, PaymentState};
use domain::sandbox::{
    BillingMethod, Funding, FundingSource, PauseReason, RefundTarget, SandboxCommand, SandboxState,
};
use domain::Msats;
use projections::SandboxView;
use std::sync::Arc;
use std::time::Duration;

/// Refund attempts to a Lightning Address before giving up (across restarts).
pub(crate) const REFUND_ATTEMPTS: u32 = 6;

impl App {
    pub(crate) fn lightning(&self) -> Result<&Lightning, AppError> {
        self.lightning.as_ref().ok_or_else(|| AppError::Unavailable {
            code: ErrorCode::LightningUnavailable,
            message: "Lightning billing is not configured on this server (SOCKT_LNBITS_URL); use billing_method 'credits' with an API key".into(),
        })
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

    /// Create an anonymous (or account-owned) sandbox that starts once its
    /// invoice for `prepaid_sats` is paid. Returns the view with the pending
    /// invoice, and the sandbox token.
    pub(crate) async fn create_lightning_sandbox(
        self: &Arc<Self>,
        principal: &Principal,
        choices: SandboxChoices,
        prepaid_sats: Option<u64>,
        client: Option<&str>,
    ) -> Result<(SandboxView, String), AppError> {
        let SandboxChoices {
            tier,
            label,
            network,
            lifetime,
            env,
        } = choices;
        let amount = self.check_sats(prepaid_sats)?;
        self.ensure_room_for_unpaid(client)?;
        let owner = match principal {
            Principal::Account(id) => Some(id.clone()),
            Principal::Admin => {
                return Err(AppError::Forbidden(
                    "the admin token manages accounts; it does not own sandboxes".into(),
                ))
            }
            Principal::Anonymous | Principal::SandboxToken(_) => None,
        };
        // An unpaid sandbox holds no room: the check only turns creates
        // away while the server is full (a paid one may still queue).
        drop(self.admit(None)?);
        let sandbox_id = uuid::Uuid::new_v4().to_string();
        let token = new_sandbox_token();
        let env = sealed_env::seal(&self.config.link_secret, &sandbox_id, &env);
        let create = SandboxCommand::CreateSandbox {
            owner,
            tier,
            billing: BillingMethod::Lightning,
            label,
            image: self.config.sandbox_image.clone(),
            token_hash: Some(hash_secret(&token)),
            initial_funding: None,
            network,
            runtime: self.runtime.runtime_for(&domain::Tier::of(tier)),
            lifetime,
            env,
            now_ms: self.now_ms(),
        };
        self.sandboxes.execute(&sandbox_id, create).await?;
        if let Some(client) = client {
            self.unpaid_by_client.record(client, &sandbox_id);
        }
        if let Err(e) = self.issue_invoice(&sandbox_id, amount).await {
            self.fail(&sandbox_id, &format!("no invoice could be issued: {e}"))
                .await;
            return Err(e);
        }
        let view = self
            .read
            .sandbox(&sandbox_id)
            .ok_or_else(|| AppError::Internal("sandbox view missing after create".into()))?;
        Ok((view, token))
    }

    /// Unpaid sandboxes cost their creator nothing: their number is capped,
    /// in all and per client address.
    fn ensure_room_for_unpaid(&self, client: Option<&str>) -> Result<(), AppError> {
        if self
            .read
            .sandboxes_in(&[SandboxState::AwaitingPayment])
            .len()
            >= self.config.max_awaiting_payment
        {
            return Err(AppError::NoCapacity(
                "too many sandboxes await their first payment; retry later".into(),
            ));
        }
        if let Some(client) = client {
            let unpaid = self.unpaid_by_client.count(client, |id| {
                self.read
                    .sandbox(id)
                    .is_some_and(|v| v.state == SandboxState::AwaitingPayment)
            });
            if unpaid >= self.config.max_awaiting_payment_per_client {
                return Err(AppError::RateLimited(format!(
                    "{unpaid} sandboxes created from your address still await payment; pay or let them expire first"
                )));
            }
        }
        Ok(())
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
        let _guard = self.locks.lock(sandbox_id).await;
        self.sandboxes
            .execute(
                sandbox_id,
                SandboxCommand::IssueInvoice {
                    invoice: invoice.clone(),
                    now_ms: self.now_ms(),
                },
            )
            .await?;
        Ok(invoice)
    }

    /// Check a payment with the gateway (never trusting a notification's
    /// word) and credit it once. Unknown or closed hashes are ignored.
    pub async fn settle_payment(self: &Arc<Self>, payment_hash: &str) -> Result<(), AppError> {
        let Some((sandbox_id, invoice)) = self.read.open_invoice(payment_hash) else {
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
            PaymentState::Pending if self.now_ms() > invoice.expires_at_ms + 5_000 => {
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
            let _guard = self.locks.lock(sandbox_id).await;
            let before = self.load_sandbox(sandbox_id).await?;
            let funding = Funding {
                amount: invoice.amount,
                source: FundingSource::Payment {
                    payment_hash: invoice.payment_hash.clone(),
                },
            };
            self.sandboxes
                .execute(
                    sandbox_id,
                    SandboxCommand::ExtendBalance {
                        funding,
                        now_ms: self.now_ms(),
                    },
                )
                .await?;
            let after = self.load_sandbox(sandbox_id).await?;
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
                self.start_or_queue(sandbox_id, tier).await;
            }
            SandboxState::Paused if after.pause_reason == Some(PauseReason::OutOfBalance) => {
                self.resume_paused(sandbox_id).await?
            }
            // Paid after the end: send it back the way the terminate chose —
            // to its Lightning Address, or through the withdraw link the user
            // already holds (it offers the whole balance, so it stays valid).
            state
                if state.is_ended()
                    && (after.withdraw_k1_hash.is_none() || after.refund_address.is_some()) =>
            {
                let app = self.clone();
                let id = sandbox_id.to_string();
                let address = after.refund_address.clone();
                tokio::spawn(async move { app.retry_refund(&id, address.as_deref()).await });
            }
            _ => {}
        }
        Ok(())
    }

    /// Record that an invoice expired unpaid. A sandbox still waiting for its
    /// first payment ends `expired` with it (no fresh invoice: unpaid
    /// sandboxes cost nothing to make, so they must not live forever).
    async fn expire_invoice(&self, sandbox_id: &str, invoice: &Invoice) -> Result<(), AppError> {
        let _guard = self.locks.lock(sandbox_id).await;
        let expire = SandboxCommand::ExpireInvoice {
            payment_hash: invoice.payment_hash.clone(),
            now_ms: self.now_ms(),
        };
        self.sandboxes.execute(sandbox_id, expire).await?;
        Ok(())
    }

    /// After a Lightning sandbox ends: pay its balance to `address`, or
    /// offer it behind an LNURL-withdraw link.
    pub(crate) async fn refund_lightning(
        self: &Arc<Self>,
        sandbox_id: &str,
        address: Option<&str>,
    ) -> Result<RefundOutcome, AppError> {
        let sandbox = self.load_sandbox(sandbox_id).await?;
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
                    let app = self.clone();
                    let id = sandbox_id.to_string();
                    let address = address.to_string();
                    tokio::spawn(async move { app.retry_refund(&id, Some(&address)).await });
                    Ok(RefundOutcome::Retrying { amount, reason })
                }
            },
            // The link already offered (to a failed sandbox) stays the link.
            None => match self.withdraw_k1(sandbox_id, &sandbox) {
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
        let _guard = self.locks.lock(sandbox_id).await;
        self.sandboxes
            .execute(
                sandbox_id,
                SandboxCommand::RecordRefundFailure {
                    address: address.to_string(),
                    reason: failure.to_string(),
                    now_ms: self.now_ms(),
                },
            )
            .await?;
        Err(lightning_error(failure))
    }

    /// Start again the refunds a previous process was retrying (after a restart).
    pub(crate) fn resume_refunds(self: &Arc<Self>) -> usize {
        let mut resumed = 0;
        for view in self
            .read
            .sandboxes_in(&[SandboxState::Terminated, SandboxState::Failed])
        {
            let due = view.billing == BillingMethod::Lightning
                && !whole_sats(view.balance).is_zero()
                && view.refund_attempts > 0
                && view.refund_attempts < REFUND_ATTEMPTS;
            if let (true, Some(address)) = (due, view.refund_address.clone()) {
                let app = self.clone();
                let id = view.sandbox_id.clone();
                tokio::spawn(async move { app.retry_refund(&id, Some(&address)).await });
                resumed += 1;
            }
        }
        resumed
    }

    /// Retry a refund with exponential backoff (1 s, 2 s, 4 s, ...). Without
    /// an address, leave it claimable through a new LNURL-withdraw link.
    pub(crate) async fn retry_refund(&self, sandbox_id: &str, address: Option<&str>) {
        let mut delay = Duration::from_secs(1);
        let done = self
            .load_sandbox(sandbox_id)
            .await
            .map(|s| s.refund_attempts)
            .unwrap_or(0);
        for _ in done.min(REFUND_ATTEMPTS)..REFUND_ATTEMPTS {
            tokio::time::sleep(delay).await;
            let Ok(sandbox) = self.load_sandbox(sandbox_id).await else {
                return;
            };
            let amount = whole_sats(sandbox.balance);
            if amount.is_zero() {
                return;
            }
            let Some(address) = address else {
                if let Err(e) = self.offer_withdraw(sandbox_id, amount).await {
                    tracing::warn!(sandbox_id, error = %e, "could not offer a withdraw link");
                }
                return;
            };
            match self.pay_address(sandbox_id, address, amount).await {
                Ok(_) => return,
                Err(e) => tracing::warn!(sandbox_id, error = %e, "refund attempt failed"),
            }
            delay *= 2;
        }
        tracing::error!(
            sandbox_id,
            "refund gave up after {REFUND_ATTEMPTS} attempts; the balance stays on the sandbox"
        );
    }
}
