//! Billing between an account and its sandboxes: adding credits to a
//! sandbox, and handing back what a sandbox refunded.

use crate::app::App;
use crate::auth::Principal;
use crate::error::AppError;
use crate::sandboxes::request_limits::MAX_CREDITS_CENTS;
use cqrs_es::AggregateError;
use domain::account::AccountCommand;
use domain::sandbox::{
    BillingMethod, Funding, FundingSource, PauseReason, SandboxCommand, SandboxError, SandboxState,
};
use domain::Msats;
use projections::SandboxView;
use std::sync::Arc;

/// How long after it started an allocation that no sandbox took counts as
/// stranded (a live process completes it within milliseconds). Undoing one
/// early is safe — the sandbox voids it first, so it can never arrive too —
/// it only fails the request that was still completing it.
const STRANDED_AFTER_MS: i64 = 10_000;

impl App {
    /// Finish what crashes left of credit transfers (a leader duty, run at
    /// takeover and every few seconds, since a dead process's last commits
    /// may reach this one's views only after its takeover): complete the
    /// refunds of ended sandboxes, and undo the allocations no sandbox took.
    /// Returns how many transfers it finished.
    pub(crate) async fn settle_credit_transfers(&self) -> usize {
        let mut finished = 0;
        for (transfer_id, transfer) in self.read.open_transfers(self.now_ms() - STRANDED_AFTER_MS) {
            let Some(account_id) = transfer.account_id.clone() else {
                continue;
            };
            let Ok(amount) = u64::try_from(transfer.gap()).map(Msats) else {
                continue;
            };
            let done = if transfer.is_refund() {
                self.take_back_refund(&transfer.sandbox_id, &account_id, &transfer_id, amount)
                    .await
            } else {
                self.undo_allocation(&transfer.sandbox_id, &account_id, &transfer_id, amount)
                    .await
                    .map(|undone| {
                        if undone {
                            tracing::warn!(
                                transfer_id,
                                account_id,
                                amount_msats = amount.0,
                                "undid credits a crash stranded"
                            );
                        }
                    })
            };
            match done {
                Ok(()) => finished += 1,
                Err(e) => {
                    tracing::error!(transfer_id, error = %e, "could not finish a credit transfer")
                }
            }
        }
        finished
    }

    /// Complete the transfer of a sandbox's refund to its account (once per
    /// transfer: a repeat records nothing).
    async fn take_back_refund(
        &self,
        sandbox_id: &str,
        account_id: &str,
        transfer_id: &str,
        amount: Msats,
    ) -> Result<(), AppError> {
        self.accounts
            .execute(
                account_id,
                AccountCommand::ReturnCredits {
                    sandbox_id: sandbox_id.to_string(),
                    transfer_id: transfer_id.to_string(),
                    amount,
                    now_ms: self.now_ms(),
                },
            )
            .await?;
        Ok(())
    }

    /// Undo an allocation its sandbox did not take: the sandbox voids the
    /// transfer first (so it can never take it later, even if the process
    /// that started it is only slow), then the account takes the credits
    /// back. Returns false when the sandbox had taken it after all.
    pub(crate) async fn undo_allocation(
        &self,
        sandbox_id: &str,
        account_id: &str,
        transfer_id: &str,
        amount: Msats,
    ) -> Result<bool, AppError> {
        let voided = {
            let _guard = self.locks.lock(sandbox_id).await;
            self.sandboxes
                .execute(
                    sandbox_id,
                    SandboxCommand::VoidTransfer {
                        transfer_id: transfer_id.to_string(),
                        now_ms: self.now_ms(),
                    },
                )
                .await
        };
        match voided {
            Ok(()) => {}
            Err(AggregateError::UserError(SandboxError::TransferTaken)) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        self.accounts
            .execute(
                account_id,
                AccountCommand::UndoAllocation {
                    sandbox_id: sandbox_id.to_string(),
                    transfer_id: transfer_id.to_string(),
                    amount,
                    now_ms: self.now_ms(),
                },
            )
            .await?;
        Ok(true)
    }

    /// Undo an allocation whose sandbox refused it (a failed create or
    /// top-up); what cannot be undone now the leader undoes later.
    pub(crate) async fn give_back_allocation(
        &self,
        sandbox_id: &str,
        account_id: &str,
        transfer_id: &str,
        amount: Msats,
    ) {
        if let Err(e) = self
            .undo_allocation(sandbox_id, account_id, transfer_id, amount)
            .await
        {
            tracing::error!(transfer_id, error = %e, "could not undo an allocation; the leader retries");
        }
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
        let transfer_id = domain::transfers::refund_transfer_id(sandbox_id);
        if let Err(e) = self
            .take_back_refund(sandbox_id, owner, &transfer_id, sandbox.refunded)
            .await
        {
            tracing::error!(sandbox_id, error = %e, "could not return credits; the leader retries");
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
        let transfer_id = domain::transfers::top_up_transfer_id(
            sandbox_id,
            &uuid::Uuid::new_v4().simple().to_string(),
        );
        self.accounts
            .execute(
                &owner,
                AccountCommand::AllocateCredits {
                    sandbox_id: sandbox_id.to_string(),
                    transfer_id: transfer_id.clone(),
                    amount,
                    now_ms,
                },
            )
            .await?;
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
                                transfer_id: Some(transfer_id.clone()),
                            },
                        },
                        now_ms,
                    },
                )
                .await
        };
        if let Err(e) = extended {
            self.give_back_allocation(sandbox_id, &owner, &transfer_id, amount)
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
