//! Credits between an account and its sandboxes: allocating them to a
//! sandbox, handing back what a sandbox refunded, and finishing what a
//! crash left of either transfer.

use crate::billing::Billing;
use crate::error::AppError;
use cqrs_es::AggregateError;
use domain::account::AccountCommand;
use domain::sandbox::{BillingMethod, SandboxCommand, SandboxError};
use domain::Msats;

/// How long after it started an allocation that no sandbox took counts as
/// stranded (a live process completes it within milliseconds). Undoing one
/// early is safe — the sandbox voids it first, so it can never arrive too —
/// it only fails the request that was still completing it.
const STRANDED_AFTER_MS: i64 = 10_000;

impl Billing {
    /// Finish what crashes left of credit transfers (a leader duty, run at
    /// takeover and every few seconds, since a dead process's last commits
    /// may reach this one's views only after its takeover): complete the
    /// refunds of ended sandboxes, and undo the allocations no sandbox took.
    /// Returns how many transfers it finished.
    pub(crate) async fn settle_credit_transfers(&self) -> usize {
        let mut finished = 0;
        for (transfer_id, transfer) in self
            .queries
            .open_transfers(self.store.now_ms() - STRANDED_AFTER_MS)
        {
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
                    now_ms: self.store.now_ms(),
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
            let _guard = self.store.lock(sandbox_id).await;
            self.store
                .execute(
                    sandbox_id,
                    SandboxCommand::VoidTransfer {
                        transfer_id: transfer_id.to_string(),
                        now_ms: self.store.now_ms(),
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
                    now_ms: self.store.now_ms(),
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

    /// Move `amount` of the account's credits toward the sandbox (the
    /// transfer's first half; the sandbox's funding is the second).
    pub(crate) async fn allocate_credits(
        &self,
        account_id: &str,
        sandbox_id: &str,
        transfer_id: &str,
        amount: Msats,
        now_ms: i64,
    ) -> Result<(), AppError> {
        self.accounts
            .execute(
                account_id,
                AccountCommand::AllocateCredits {
                    sandbox_id: sandbox_id.to_string(),
                    transfer_id: transfer_id.to_string(),
                    amount,
                    now_ms,
                },
            )
            .await?;
        Ok(())
    }

    /// Hand credits a sandbox refunded back to its account (idempotent).
    pub(crate) async fn return_credits(&self, sandbox_id: &str) {
        let Ok(sandbox) = self.store.load(sandbox_id).await else {
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
}
