//! Lifetimes a client chose at create (`domain::lifetime`), kept by the
//! leader: a sandbox past its `timeout_secs` is terminated with its refund,
//! a running one idle for its `idle_pause_secs` pauses itself.

use crate::app::App;
use crate::auth::Principal;
use domain::ids::SandboxId;
use domain::sandbox::{PauseReason, SandboxState};
use std::sync::Arc;

impl App {
    /// One pass: (sandboxes ended, sandboxes paused).
    pub(crate) async fn enforce_lifetimes(self: &Arc<Self>) -> (usize, usize) {
        let (mut ended, mut paused) = (0, 0);
        let now = self.now_ms();
        for view in self
            .queries
            .sandboxes_in(&[SandboxState::Running, SandboxState::Paused])
        {
            let Some(started) = view.started_at_ms else {
                continue;
            };
            let id = &view.sandbox_id;
            if view
                .lifetime
                .ends_at_ms(started)
                .is_some_and(|end| now >= end)
            {
                tracing::info!(sandbox_id = %id, "terminating a sandbox at the end of its timeout_secs");
                // A Lightning sandbox without an address leaves its sats
                // behind a withdraw link, shown in its status.
                let address = view.refund_address.clone();
                match self
                    .sandboxes
                    .terminate(
                        &Principal::Admin,
                        &SandboxId::recorded(id.as_str()),
                        address.as_deref(),
                    )
                    .await
                {
                    Ok(_) => ended += 1,
                    Err(e) => {
                        tracing::error!(sandbox_id = %id, error = %e, "could not end a sandbox at its timeout")
                    }
                }
                continue;
            }
            let idle = view.state == SandboxState::Running
                && view.running_executions.is_empty()
                && view.open_shells.is_empty()
                && view.lifetime.idle_at(view.last_active_ms, now);
            if idle {
                tracing::info!(sandbox_id = %id, "pausing a sandbox idle for its idle_pause_secs");
                match self.provisioning.pause_for(id, PauseReason::Idle).await {
                    Ok(()) => paused += 1,
                    Err(e) => {
                        tracing::error!(sandbox_id = %id, error = %e, "could not pause an idle sandbox")
                    }
                }
            }
        }
        (ended, paused)
    }
}
