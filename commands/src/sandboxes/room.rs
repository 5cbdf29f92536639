//! Room for a paid sandbox: it is provisioned if the server has room, else
//! queued (unbilled) until the leader's queue duty starts it.

use crate::sandboxes::provision::Provisioning;
use domain::sandbox::SandboxCommand;
use domain::TierName;
use std::sync::Arc;

impl Provisioning {
    /// A sandbox just paid for: provision it if the server has room (it
    /// counts itself already), else queue it.
    pub(crate) async fn start_or_queue(self: &Arc<Self>, sandbox_id: &str, tier: TierName) {
        if self.live_with_admitted() <= self.config.max_live_sandboxes {
            self.provision_in_background(sandbox_id, tier);
            return;
        }
        let _guard = self.store.lock(sandbox_id).await;
        let queued = self
            .store
            .execute(
                sandbox_id,
                SandboxCommand::QueueSandbox {
                    now_ms: self.store.now_ms(),
                },
            )
            .await;
        match queued {
            Ok(()) => tracing::info!(sandbox_id, "paid while the server is full: queued"),
            Err(e) => tracing::warn!(sandbox_id, error = %e, "could not queue a paid sandbox"),
        }
    }

    pub(crate) async fn dequeue(&self, sandbox_id: &str) -> bool {
        let _guard = self.store.lock(sandbox_id).await;
        let dequeued = self
            .store
            .execute(
                sandbox_id,
                SandboxCommand::DequeueSandbox {
                    now_ms: self.store.now_ms(),
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
