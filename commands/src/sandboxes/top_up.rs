//! Topping up a sandbox: credits from the owning account, or a top-up
//! invoice for a Lightning one. A sandbox paused for lack of balance resumes.

use crate::auth::Principal;
use crate::error::AppError;
use crate::request_limits::MAX_CREDITS_CENTS;
use crate::sandboxes::Sandboxes;
use domain::ids::SandboxId;
use domain::sandbox::{
    BillingMethod, Funding, FundingSource, PauseReason, SandboxCommand, SandboxState,
};
use domain::Msats;
use projections::SandboxView;
use std::sync::Arc;

impl Sandboxes {
    /// Add money to a sandbox: credits from the caller's account (sats come
    /// with Lightning billing). A sandbox paused for lack of balance resumes.
    ///
    /// Credits always move under the owning account's key: `payer` is that
    /// key's principal when the sandbox itself was reached by its token.
    pub async fn extend_balance(
        self: &Arc<Self>,
        principal: &Principal,
        sandbox_id: &SandboxId,
        credits_cents: Option<u64>,
        sats: Option<u64>,
        payer: Option<&Principal>,
    ) -> Result<SandboxView, AppError> {
        let sandbox = self.store.authorized(principal, sandbox_id).await?;
        if sandbox.state.is_ended() {
            return Err(AppError::Gone(format!("sandbox is {}", sandbox.state)));
        }
        let billing = sandbox.billing.unwrap_or(BillingMethod::Credits);
        let cents = match (credits_cents, sats, billing) {
            (Some(cents), None, BillingMethod::Credits) => cents,
            (None, Some(sats), BillingMethod::Lightning) => {
                let amount = self.invoices.check_sats(Some(sats))?;
                self.invoices.issue_invoice(sandbox_id, amount).await?;
                return self.queries.authorized_sandbox(principal, sandbox_id);
            }
            (_, _, BillingMethod::Credits) => {
                return Err(AppError::invalid(
                    "send credits_cents to add credits to a credits sandbox",
                ))
            }
            (_, _, BillingMethod::Lightning) => {
                return Err(AppError::invalid(
                    "send sats to get a top-up invoice for a Lightning sandbox",
                ))
            }
        };
        if cents == 0 || cents > MAX_CREDITS_CENTS {
            return Err(AppError::invalid(format!(
                "credits_cents must be between 1 and {MAX_CREDITS_CENTS}"
            )));
        }
        let owner = match (payer.unwrap_or(principal), sandbox.owner.as_deref()) {
            (Principal::Account(caller), Some(owner)) if caller == owner => owner.to_string(),
            _ => {
                return Err(AppError::Forbidden(
                    "only the owning account's API key can add credits".into(),
                ))
            }
        };
        let amount = Msats::from_cents(cents)
            .ok_or_else(|| AppError::invalid("credits_cents is too large"))?;
        let now_ms = self.store.now_ms();
        let transfer_id = domain::transfers::top_up_transfer_id(
            sandbox_id,
            &uuid::Uuid::new_v4().simple().to_string(),
        );
        self.billing
            .allocate_credits(&owner, sandbox_id, &transfer_id, amount, now_ms)
            .await?;
        let extended = {
            let _guard = self.store.lock(sandbox_id).await;
            self.store
                .execute(
                    sandbox_id,
                    SandboxCommand::ExtendBalance {
                        funding: Funding {
                            amount,
                            source: FundingSource::Account {
                                account_id: owner.clone(),
                                transfer_id: Some(transfer_id.clone()),
                            },
                        },
                        now_ms,
                    },
                )
                .await
        };
        if let Err(e) = extended {
            self.billing
                .give_back_allocation(sandbox_id, &owner, &transfer_id, amount)
                .await;
            return Err(e.into());
        }
        let after = self.store.load(sandbox_id).await?;
        if after.state == SandboxState::Paused
            && after.pause_reason == Some(PauseReason::OutOfBalance)
        {
            self.provisioning.resume_paused(sandbox_id).await?;
        }
        self.queries.authorized_sandbox(principal, sandbox_id)
    }
}
