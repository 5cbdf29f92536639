//! What a caller asks of a sandbox after its create: pause, resume,
//! terminate (with its refund); and the wait for removals on a graceful stop.

use crate::auth::Principal;
use crate::error::{AppError, ErrorCode};
use crate::lightning::refund_outcome::RefundOutcome;
use crate::sandboxes::Sandboxes;
use domain::ids::SandboxId;
use domain::sandbox::{BillingMethod, PauseReason, SandboxCommand, SandboxState};
use projections::SandboxView;
use std::sync::Arc;

impl Sandboxes {
    pub async fn pause(
        &self,
        principal: &Principal,
        sandbox_id: &SandboxId,
    ) -> Result<SandboxView, AppError> {
        self.store.authorized(principal, sandbox_id).await?;
        self.provisioning
            .pause_for(sandbox_id, PauseReason::Requested)
            .await?;
        self.queries.authorized_sandbox(principal, sandbox_id)
    }

    pub async fn resume(
        &self,
        principal: &Principal,
        sandbox_id: &SandboxId,
    ) -> Result<SandboxView, AppError> {
        self.store.authorized(principal, sandbox_id).await?;
        self.provisioning.resume_paused(sandbox_id).await?;
        self.queries.authorized_sandbox(principal, sandbox_id)
    }

    /// Remove the container and everything in it, charge up to now and give
    /// the unused balance back.
    /// Lightning sandboxes pay their unused balance to `lightning_address`,
    /// or offer it behind an LNURL-withdraw link.
    pub async fn terminate(
        self: &Arc<Self>,
        principal: &Principal,
        sandbox_id: &SandboxId,
        lightning_address: Option<&str>,
    ) -> Result<(SandboxView, Option<RefundOutcome>), AppError> {
        let sandbox = self.store.authorized(principal, sandbox_id).await?;
        // A failed Lightning sandbox still holding sats: terminating it pays
        // them out (to the address given, or behind a withdraw link).
        let failed_with_sats = sandbox.state == SandboxState::Failed
            && sandbox.billing == Some(BillingMethod::Lightning)
            && sandbox.balance.0 >= 1000
            && sandbox.refund_in_flight.is_none();
        if sandbox.state.is_ended() && !failed_with_sats {
            return Err(AppError::Gone(format!(
                "sandbox is already {}",
                sandbox.state
            )));
        }
        let address = lightning_address.map(str::trim).filter(|a| !a.is_empty());
        if let Some(address) = address {
            let valid = address
                .split_once('@')
                .is_some_and(|(name, host)| !name.is_empty() && !host.is_empty());
            if !valid {
                return Err(AppError::Invalid {
                    code: ErrorCode::InvalidLightningAddress,
                    message: "a Lightning Address looks like name@host".into(),
                });
            }
        }
        if failed_with_sats {
            let refund = self.payouts.refund_lightning(sandbox_id, address).await?;
            return Ok((
                self.queries.authorized_sandbox(principal, sandbox_id)?,
                Some(refund),
            ));
        }
        self.executions.cancel_all_in(sandbox_id);
        let container = {
            let _guard = self.store.lock(sandbox_id).await;
            let sandbox = self.store.load(sandbox_id).await?;
            // Everything in it stops now; billing stops with the record.
            if let Some(container) = sandbox.container_id.as_deref() {
                self.runtime.halt(container).await?;
            }
            self.store
                .execute(
                    sandbox_id,
                    SandboxCommand::TerminateSandbox {
                        now_ms: self.store.now_ms(),
                    },
                )
                .await?;
            sandbox.container_id
        };
        // The removal (container, its disk, rules, agent directory) need not
        // hold up the caller; a graceful stop lets it finish, and a crash
        // before it ends is finished by the reconciliation at start
        // (containers of ended sandboxes go).
        if let Some(container) = container {
            let runtime = self.runtime.clone();
            let sandbox = sandbox_id.to_string();
            self.removals.spawn(async move {
                if let Err(e) = runtime.destroy(&container).await {
                    tracing::warn!(sandbox_id = %sandbox, error = %e, "could not remove a terminated sandbox's container; the next start removes it");
                }
            });
        }
        self.billing.return_credits(sandbox_id).await;
        let refund = match sandbox.billing {
            Some(BillingMethod::Lightning) => {
                Some(self.payouts.refund_lightning(sandbox_id, address).await?)
            }
            _ => None,
        };
        Ok((
            self.queries.authorized_sandbox(principal, sandbox_id)?,
            refund,
        ))
    }
}

impl Sandboxes {
    /// Terminated sandboxes whose containers are still being removed.
    pub fn removals_in_flight(&self) -> usize {
        self.removals.len()
    }

    /// On a graceful stop: wait (at most `within`) for the removals of
    /// terminated sandboxes' containers still under way.
    pub async fn finish_removals(&self, within: std::time::Duration) {
        self.removals.close();
        if tokio::time::timeout(within, self.removals.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "stopping with container removals under way; the next start finishes them"
            );
        }
    }
}
