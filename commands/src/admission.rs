//! Admission checks that read a view. How many sandboxes are live on the
//! server, and per account, is a count across many streams: no aggregate
//! holds it, so the check reads the read model — the one place a decision
//! does (see `aggregates`). Its race is bounded: a create counts from its
//! check until its `SandboxCreated` is in the view (`Admitted`), so
//! concurrent creates in one process never pass the limits together; other
//! replicas' creates count once this process's feed delivers them, so a
//! burst across `n` replicas may pass a limit by the creates the other
//! `n - 1` have in flight at that moment, never more.

use crate::app::App;
use crate::error::AppError;
use std::collections::HashMap;
use std::sync::Mutex;

/// Creates between their admission check and their event in the view.
#[derive(Default)]
pub(crate) struct Admissions {
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    server: usize,
    by_account: HashMap<String, usize>,
}

/// A create admitted and counted until dropped (once its sandbox is in
/// the view, or it failed).
pub(crate) struct Admitted<'a> {
    admissions: &'a Admissions,
    account: Option<String>,
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        let mut pending = self.admissions.lock();
        pending.server = pending.server.saturating_sub(1);
        if let Some(account) = &self.account {
            if let Some(count) = pending.by_account.get_mut(account) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    pending.by_account.remove(account);
                }
            }
        }
    }
}

impl Admissions {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl App {
    /// Admit one more live sandbox on the server, and for `account` (its
    /// owner, for the per-account cap): refused with 503 `no_capacity` at
    /// the server's limit, 429 at the account's.
    pub(crate) fn admit(&self, account: Option<&str>) -> Result<Admitted<'_>, AppError> {
        let mut pending = self.admissions.lock();
        if self.read.live_sandbox_count() + pending.server >= self.config.max_live_sandboxes {
            return Err(AppError::NoCapacity(
                "the server is at its sandbox limit; retry later".into(),
            ));
        }
        if let Some(account) = account {
            let live = self.read.live_sandbox_count_of(account)
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
        self.read.live_sandbox_count() + self.admissions.lock().server
    }
}
