//! Paid sandboxes wait for room: a Lightning payment can arrive when the
//! server is full (its sandbox was created unpaid, which holds no room). The
//! sandbox then waits as `queued`, unbilled; the leader starts queued
//! sandboxes in payment order as room frees, and ends those that waited too
//! long with their refund (behind a withdraw link shown in their status).

use crate::app::App;
use crate::auth::Principal;
use domain::ids::SandboxId;
use domain::sandbox::SandboxState;
use std::sync::Arc;

impl App {
    /// Start queued sandboxes while there is room, oldest first, and end
    /// those that waited longer than allowed (a leader duty). Returns how
    /// many it started.
    pub(crate) async fn start_queued(self: &Arc<Self>) -> usize {
        let mut queued = self.queries.sandboxes_in(&[SandboxState::Queued]);
        queued.sort_by_key(|view| (view.queued_at_ms, view.sandbox_id.clone()));
        let wait_ms = i64::try_from(self.config.max_queue_wait.as_millis()).unwrap_or(i64::MAX);
        let mut started = 0;
        for view in queued {
            let waited = self.now_ms() - view.queued_at_ms.unwrap_or(i64::MAX);
            if self.provisioning.live_with_admitted() < self.config.max_live_sandboxes {
                if self.provisioning.dequeue(&view.sandbox_id).await {
                    self.provisioning
                        .provision_in_background(&view.sandbox_id, view.tier);
                    started += 1;
                }
            } else if waited >= wait_ms {
                tracing::info!(sandbox_id = %view.sandbox_id, "no room came in time: ending a queued sandbox with its refund");
                if let Err(e) = self
                    .sandboxes
                    .terminate(
                        &Principal::Admin,
                        &SandboxId::recorded(view.sandbox_id.as_str()),
                        None,
                    )
                    .await
                {
                    tracing::error!(sandbox_id = %view.sandbox_id, error = %e, "could not end a queued sandbox");
                }
            }
        }
        started
    }
}
