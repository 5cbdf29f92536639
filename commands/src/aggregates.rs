//! Loading aggregates to decide from. Every command and side effect decides
//! from the aggregate's current state (its snapshot plus the events after
//! it), never from a view, which may lag behind another process's commits.
//! The one exception is named and bounded in `admission`: counts across a
//! tenant's or the server's sandboxes, which no aggregate holds.

use crate::app::App;
use crate::auth::Principal;
use crate::error::AppError;
use domain::sandbox::{Sandbox, SandboxState};

impl App {
    /// The sandbox's current state; 404 when its stream does not exist.
    pub(crate) async fn load_sandbox(&self, sandbox_id: &str) -> Result<Sandbox, AppError> {
        let sandbox = self.sandboxes.load(sandbox_id).await?;
        if sandbox.state == SandboxState::Unknown {
            return Err(AppError::sandbox_not_found());
        }
        Ok(sandbox)
    }

    /// The sandbox's current state, if the caller may act on it; 404 otherwise
    /// (another tenant's sandbox looks exactly like a missing one).
    pub(crate) async fn authorized_aggregate(
        &self,
        principal: &Principal,
        sandbox_id: &str,
    ) -> Result<Sandbox, AppError> {
        let sandbox = self.load_sandbox(sandbox_id).await?;
        if principal.may_see(sandbox.owner.as_deref(), sandbox.token_hash.as_deref()) {
            Ok(sandbox)
        } else {
            Err(AppError::sandbox_not_found())
        }
    }

    /// The container of a sandbox that must be running to `action`, or why
    /// there is none.
    pub(crate) fn running_container_of(
        sandbox: &Sandbox,
        action: &str,
    ) -> Result<String, AppError> {
        if sandbox.state != SandboxState::Running {
            return Err(crate::error::not_running(
                sandbox.state,
                format!(
                    "sandbox is {}, it must be running to {action}",
                    sandbox.state
                ),
            ));
        }
        sandbox
            .container_id
            .clone()
            .ok_or_else(|| AppError::Internal("running sandbox without container".into()))
    }
}
