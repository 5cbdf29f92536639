//! Paid sandboxes wait for room: a Lightning payment can arrive when the
//! server is full (its sandbox was created unpaid, which holds no room). The
//! sandbox then waits as `queued`, unbilled; the leader starts queued
//! sandboxes in payment order as room frees, and ends those that waited too
//! long with their refund (behind a withdraw link shown in their status).

use crate::app::App;
use crate::auth::Principal;
use domain::sandbox::SandboxCommand;
use domain::sandbox::SandboxState;
use domain::TierName;
use std::sync::Arc;

impl App {
    /// A sandbox just paid for: provision it if the server has room (it
    /// counts itself already), else queue it.
    pub(crate) async fn start_or_queue(self: &Arc<Self>, sandbox_id: &str, tier: TierName) {
        if self.live_with_admitted() <= self.config.max_live_sandboxes {
            self.provision_in_background(sandbox_id, tier);
            return;
        }
        let _guard = self.locks.lock(sandbox_id).await;
        let queued = self
            .sandboxes
            .execute(
                sandbox_id,
                SandboxCommand::QueueSandbox {
                    now_ms: self.now_ms(),
                },
            )
            .await;
        match queued {
            Ok(()) => tracing::info!(sandbox_id, "paid while the server is full: queued"),
            Err(e) => tracing::warn!(sandbox_id, error = %e, "could not queue a paid sandbox"),
        }
    }

    /// Start queued sandboxes while there is room, oldest first, and end
    /// those that waited longer than allowed (a leader duty). Returns how
    /// many it started.
    pub(crate) async fn start_queued(self: &Arc<Self>) -> usize {
        let mut queued = self.read.sandboxes_in(&[SandboxState::Queued]);
        queued.sort_by_key(|view| (view.queued_at_ms, view.sandbox_id.clone()));
        let wait_ms = i64::try_from(self.config.max_queue_wait.as_millis()).unwrap_or(i64::MAX);
        let mut started = 0;
        for view in queued {
            let waited = self.now_ms() - view.queued_at_ms.unwrap_or(i64::MAX);
            if self.live_with_admitted() < self.config.max_live_sandboxes {
                if self.dequeue(&view.sandbox_id).await {
                    self.provision_in_background(&view.sandbox_id, view.tier);
                    started += 1;
                }
            } else if waited >= wait_ms {
                tracing::info!(sandbox_id = %view.sandbox_id, "no room came in time: ending a queued sandbox with its refund");
                if let Err(e) = self
                    .terminate(&Principal::Admin, &view.sandbox_id, None)
                    .await
                {
                    tracing::error!(sandbox_id = %view.sandbox_id, error = %e, "could not end a queued sandbox");
                }
            }
        }
        started
    }

    async fn dequeue(&self, sandbox_id: &str) -> bool {
        let _guard = self.locks.lock(sandbox_id).await;
        let dequeued = self
            .sandboxes
            .execute(
                sandbox_id,
                SandboxCommand::DequeueSandbox {
                    now_ms: self.now_ms(),
                },
            )
            .await;
        match dequeued {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(sandbox_id, error = %e, "could not start a queued sandbox");
                false
            }
        }
    }
}
