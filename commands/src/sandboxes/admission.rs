//! Admission checks that read a view. How many sandboxes are live on the
//! server, and per account, is a count across many streams: no aggregate
//! holds it, so the check reads the read model — the one place a decision
//! does (see `aggregates`). Its race is bounded: a create counts from its
//! check until its `SandboxCreated` is in the view (`Admitted`), so
//! concurrent creates in one process never pass the limits together; other
//! replicas' creates count once this process's feed delivers them, so a
//! burst across `n` replicas may pass a limit by the creates the other
//! `n - 1` have in flight at that moment, never more.

use crate::error::AppError;
use crate::sandboxes::admission_counts::Admitted;
use crate::sandboxes::provision::Provisioning;
use crate::sandboxes::Sandboxes;
use domain::sandbox::SandboxState;

impl Provisioning {
    /// Admit one more live sandbox on the server, and for `account` (its
    /// owner, for the per-account cap): refused with 503 `no_capacity` at
    /// the server's limit, 429 at the account's.
    pub(crate) fn admit(&self, account: Option<&str>) -> Result<Admitted<'_>, AppError> {
        let mut pending = self.admissions.lock();
        if self.queries.live_sandbox_count() + pending.server >= self.config.max_live_sandboxes {
            return Err(AppError::NoCapacity(
                "the server is at its sandbox limit; retry later".into(),
            ));
        }
        if let Some(account) = account {
            let live = self.queries.live_sandbox_count_of(account)
                + pending.by_account.get(account).copied().unwrap_or(0);
            if live >= self.config.max_sandboxes_per_account {
                return Err(AppError::RateLimited(format!(
                    "this account already has {live} live sandboxes, its limit; terminate one first"
                )));
            }
            *pending.by_account.entry(account.to_string()).or_default() += 1;
        }
        pending.server += 1;
        Ok(Admitted {
            admissions: &self.admissions,
            account: account.map(str::to_string),
        })
    }

    /// Live sandboxes on the server, with the creates admitted and not yet
    /// in the view: what a paid or queued sandbox's start is measured
    /// against (`queue`).
    pub(crate) fn live_with_admitted(&self) -> usize {
        self.queries.live_sandbox_count() + self.admissions.lock().server
    }
}

impl Sandboxes {
    /// Unpaid sandboxes cost their creator nothing: their number is capped,
    /// in all and per client address.
    pub(crate) fn ensure_room_for_unpaid(&self, client: Option<&str>) -> Result<(), AppError> {
        if self
            .queries
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
                self.queries
                    .view_of(id)
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
}
