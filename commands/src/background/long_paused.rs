//! Sandboxes paused too long are ended with their refund (a leader duty):
//! a paused sandbox holds a container and its balance otherwise.

use crate::app::App;
use crate::auth::Principal;
use domain::ids::SandboxId;
use domain::sandbox::{PauseReason, SandboxState};
use std::sync::Arc;
use std::time::Duration;

impl App {
    /// Terminate, with their refund, sandboxes paused longer than the
    /// configured time (a leader duty): paused sandboxes hold a container
    /// and their balance forever otherwise. One paused because its balance
    /// ran out goes after the shorter unfunded grace: a cent must not hold
    /// a slot, its memory and its disk for the whole paused time. A
    /// Lightning sandbox without a Lightning Address leaves its sats (a
    /// payment arriving late, say) behind a withdraw link in its status.
    pub(crate) async fn end_long_paused(self: &Arc<Self>) -> usize {
        let now = self.now_ms();
        let mut ended = 0;
        for view in self.queries.sandboxes_in(&[SandboxState::Paused]) {
            let Some(limit) = self.paused_limit(view.pause_reason) else {
                continue;
            };
            let limit_ms = i64::try_from(limit.as_millis()).unwrap_or(i64::MAX);
            let expired = view
                .paused_at_ms
                .is_some_and(|at| now.saturating_sub(at) >= limit_ms);
            if !expired {
                continue;
            }
            let address = view.refund_address.clone();
            tracing::info!(sandbox_id = %view.sandbox_id, reason = ?view.pause_reason, "terminating a sandbox paused longer than it may be");
            match self
                .sandboxes
                .terminate(
                    &Principal::Admin,
                    &SandboxId::recorded(view.sandbox_id.as_str()),
                    address.as_deref(),
                )
                .await
            {
                Ok(_) => ended += 1,
                Err(e) => {
                    tracing::error!(sandbox_id = %view.sandbox_id, error = %e, "could not end a long-paused sandbox")
                }
            }
        }
        ended
    }

    /// How long a sandbox paused for `reason` may stay paused.
    fn paused_limit(&self, reason: Option<PauseReason>) -> Option<Duration> {
        let ttl = self.config.paused_ttl;
        if reason != Some(PauseReason::OutOfBalance) {
            return ttl;
        }
        match (ttl, self.config.unfunded_grace) {
            (Some(ttl), Some(grace)) => Some(ttl.min(grace)),
            (ttl, grace) => ttl.or(grace),
        }
    }
}
