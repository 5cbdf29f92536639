//! Pausing a sandbox's container (freezing it, then recording the pause,
//! which charges up to now) and resuming it, for a caller, the meter,
//! an idle timer or a payment.

use crate::error::AppError;
use crate::sandboxes::provision::Provisioning;
use domain::sandbox::{PauseReason, SandboxCommand, SandboxState};

impl Provisioning {
    /// Freeze the container, then record the pause (which charges up to now).
    pub(crate) async fn pause_for(
        &self,
        sandbox_id: &str,
        reason: PauseReason,
    ) -> Result<(), AppError> {
        let _guard = self.store.lock(sandbox_id).await;
        let sandbox = self.store.load(sandbox_id).await?;
        if let (SandboxState::Running, Some(container)) =
            (sandbox.state, sandbox.container_id.as_deref())
        {
            self.runtime.pause(container).await?;
        }
        self.store
            .execute(
                sandbox_id,
                SandboxCommand::PauseSandbox {
                    reason,
                    now_ms: self.store.now_ms(),
                },
            )
            .await?;
        Ok(())
    }

    pub(crate) async fn resume_paused(&self, sandbox_id: &str) -> Result<(), AppError> {
        let _guard = self.store.lock(sandbox_id).await;
        let sandbox = self.store.load(sandbox_id).await?;
        let container = match (sandbox.state, sandbox.container_id.as_deref()) {
            (SandboxState::Paused, Some(container)) if !sandbox.balance.is_zero() => {
                container.to_string()
            }
            // Anything else is decided (and refused or ignored) by the aggregate.
            _ => {
                self.store
                    .execute(
                        sandbox_id,
                        SandboxCommand::ResumeSandbox {
                            now_ms: self.store.now_ms(),
                        },
                    )
                    .await?;
                return Ok(());
            }
        };
        self.runtime.resume(&container).await?;
        if let Err(e) = self
            .store
            .execute(
                sandbox_id,
                SandboxCommand::ResumeSandbox {
                    now_ms: self.store.now_ms(),
                },
            )
            .await
        {
            let _ = self.runtime.pause(&container).await;
            return Err(e.into());
        }
        Ok(())
    }
}
