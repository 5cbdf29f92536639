//! Refund retries: a refund to a Lightning Address that failed is tried
//! again with exponential backoff (1 s, 2 s, 4 s, ...), at most
//! `REFUND_ATTEMPTS` times across restarts (each failure is recorded on the
//! sandbox), and a restarted leader resumes the retries a dead process was
//! making. The attempt itself is `Payouts`' (`lightning::refunds`).

use crate::app::App;
use crate::lightning::whole_sats::whole_sats;
use domain::sandbox::{BillingMethod, SandboxState};
use std::time::Duration;

/// Refund attempts to a Lightning Address before giving up (across restarts).
pub(crate) const REFUND_ATTEMPTS: u32 = 6;

/// Run `attempt` after 1 s, 2 s, 4 s, ... until it says it is finished, for
/// the attempts left after `done`; whether one finished.
pub(crate) async fn with_backoff<F, Fut>(done: u32, mut attempt: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut delay = Duration::from_secs(1);
    for _ in done.min(REFUND_ATTEMPTS)..REFUND_ATTEMPTS {
        tokio::time::sleep(delay).await;
        if attempt().await {
            return true;
        }
        delay *= 2;
    }
    false
}

impl App {
    /// Start again the refunds a previous process was retrying (after a
    /// restart); how many.
    pub(crate) fn resume_refunds(&self) -> usize {
        let mut resumed = 0;
        for view in self
            .queries
            .sandboxes_in(&[SandboxState::Terminated, SandboxState::Failed])
        {
            let due = view.billing == BillingMethod::Lightning
                && !whole_sats(view.balance).is_zero()
                && view.refund_attempts > 0
                && view.refund_attempts < REFUND_ATTEMPTS;
            if let (true, Some(address)) = (due, view.refund_address.clone()) {
                let payouts = self.payouts.clone();
                let id = view.sandbox_id.clone();
                tokio::spawn(async move { payouts.retry_refund(&id, Some(&address)).await });
                resumed += 1;
            }
        }
        resumed
    }
}
