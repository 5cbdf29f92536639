//! Billing between an account and its sandboxes: adding credits to a
//! sandbox, and handing back what a sandbox refunded.

use crate::app::{App, MAX_CREDITS_CENTS};
use crate::auth::Principal;
use crate::error::AppError;
use domain::account::AccountCommand;
use domain::sandbox::{
    BillingMethod, Funding, FundingSource, PauseReason, SandboxCommand, SandboxState,
};
use domain::Msats;
use projections::SandboxView;
use std::sync::Arc;

/// How long after an allocation credits that reached no sandbox count as
/// stranded (a live process moves them on within milliseconds).
const STRANDED_AFTER_MS: i64 = 60_000;

impl App {
    /// Finish what crashes left of credit transfers (a leader duty, run at
    /// takeover and every few seconds, since a dead process's last commits
    /// may reach this one's views only after its takeover): take back the
    /// refunds of ended sandboxes, and give back stranded allocations.
    /// Returns how many transfers it finished.
    pub(crate) async fn settle_credit_transfers(&self) -> usize {
        let mut finished = 0;
        for (sandbox_id, account_id, amount) in self.read.unreturned_credits() {
            let _guard = self.locks.lock(&account_id).await;
            let returned = self
                .accounts
                .execute(
                    &account_id,
                    AccountCommand::ReturnCredits {
                        sandbox_id: sandbox_id.clone(),
                        amount,
                        now_ms: self.now_ms(),
                    },
                )
                .await;
            match returned {
                Ok(()) => finished += 1,
                Err(e) => {
                    tracing::error!(sandbox_id, error = %e, "could not return a refund to its account")
                }
            }
        }
        finished + self.give_back_stranded_credits().await
    }

    /// Give back to their accounts the credits a crash stranded between the
    /// account's allocation and the sandbox's funding (a leader duty); each
    /// return is named `{sandbox}:undo:{ms}`, so the auditor pairs it.
    /// Returns how many were given back.
    async fn give_back_stranded_credits(&self) -> usize {
        let now = self.now_ms();
        let mut given = 0;
        for (sandbox_id, account_id, amount) in self.read.stranded_credits(now - STRANDED_AFTER_MS)
        {
            let _guard = self.locks.lock(&account_id).await;
            let returned = self
                .accounts
                .execute(
                    &account_id,
                    AccountCommand::ReturnCredits {
                        sandbox_id: format!("{sandbox_id}:undo:{now}"),
                        amount,
                        now_ms: now,
                    },
                )
                .await;
            match returned {
                Ok(()) => {
                    tracing::warn!(
                        sandbox_id,
                        account_id,
                        amount_msats = amount.0,
                        "gave back credits a crash stranded"
                    );
                    given += 1;
                }
                Err(e) => {
                    tracing::error!(sandbox_id, error = %e, "could not give back stranded credits")
                }
            }
        }
        given
    }

    /// Hand credits a sandbox refunded back to its account (idempotent).
    pub(crate) async fn return_credits(&self, sandbox_id: &str) {
        let Ok(sandbox) = self.load_sandbox(sandbox_id).await else {
            return;
        };
        let (Some(owner), Some(BillingMethod::Credits)) =
            (sandbox.owner.as_deref(), sandbox.billing)
        else {
            return;
        };
        if sandbox.refunded.is_zero() {
            return;
        }
        let _guard = self.locks.lock(owner).await;
        let returned = self
            .accounts
            .execute(
                owner,
                AccountCommand::ReturnCredits {
                    sandbox_id: sandbox_id.to_string(),
                    amount: sandbox.refunded,
                    now_ms: self.now_ms(),
                },
            )
            .await;
        if let Err(e) = returned {
            tracing::error!(sandbox_id, error = %e, "could not return credits; the next start retries");
        }
    }

    /// Add money to a sandbox: credits from the caller's account (sats come
    /// with Lightning billing). A sandbox paused for lack of balance resumes.
    ///
    /// Credits always move under the owning account's key: `payer` is that
    /// key's principal when the sandbox itself was reached by its token.
    pub async fn extend_balance(
        self: &Arc<Self>,
        principal: &Principal,
        sandbox_id: &str,
        credits_cents: Option<u64>,
        sats: Option<u64>,
        payer: Option<&Principal>,
    ) -> Result<SandboxView, AppError> {
        let sandbox = self.authorized_aggregate(principal, sandbox_id).await?;
        if sandbox.state.is_ended() {
            return Err(AppError::Gone(format!("sandbox is {}", sandbox.state)));
        }
        let billing = sandbox.billing.unwrap_or(BillingMethod::Credits);
        let cents = match (credits_cents, sats, billing) {
            (Some(cents), None, BillingMethod::Credits) => cents,
            (None, Some(sats), BillingMethod::Lightning) => {
                let amount = self.check_sats(Some(sats))?;
                self.issue_invoice(sandbox_id, amount).await?;
                return self.authorized_sandbox(principal, sandbox_id);
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
        let now_ms = self.now_ms();
        {
            let _guard = self.locks.lock(&owner).await;
            self.accounts
                .execute(
                    &owner,
                    AccountCommand::AllocateCredits {
                        sandbox_id: sandbox_id.to_string(),
                        amount,
                        now_ms,
                    },
                )
                .await?;
        }
        let extended = {
            let _guard = self.locks.lock(sandbox_id).await;
            self.sandboxes
                .execute(
                    sandbox_id,
                    SandboxCommand::ExtendBalance {
                        funding: Funding {
                            amount,
                            source: FundingSource::Account {
                                account_id: owner.clone(),
                            },
                        },
                        now_ms,
                    },
                )
                .await
        };
        if let Err(e) = extended {
            let _guard = self.locks.lock(&owner).await;
            let refund_id = format!("{sandbox_id}:topup:{now_ms}");
            let _ = self
                .accounts
                .execute(
                    &owner,
                    AccountCommand::ReturnCredits {
                        sandbox_id: refund_id,
                        amount,
                        now_ms,
                    },
                )
                .await;
            return Err(e.into());
        }
        let after = self.load_sandbox(sandbox_id).await?;
        if after.state == SandboxState::Paused
            && after.pause_reason == Some(PauseReason::OutOfBalance)
        {
            self.resume_paused(sandbox_id).await?;
        }
        self.authorized_sandbox(principal, sandbox_id)
    }
}
