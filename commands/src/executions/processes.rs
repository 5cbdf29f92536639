//! Stopping every process of a running sandbox but its agent, short of
//! terminating it: what its commands left running in the background (a
//! server, a fork bomb). The commands still running end `cancelled`, as a
//! cancel ends them, then every other process is killed; the sandbox, its
//! files and its balance stay.

use crate::aggregates::running_container_of;
use crate::auth::Principal;
use crate::error::AppError;
use crate::executions::Executions;
use domain::ids::SandboxId;

/// What stopping a sandbox's processes did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessesKilled {
    /// The executions that were running (they ended `cancelled`).
    pub cancelled: Vec<String>,
    /// How many processes were killed besides the cancelled commands'.
    pub killed: u32,
}

impl Executions {
    /// Cancel the sandbox's running commands and kill every other process
    /// in it but its agent. The sandbox must be running (409 when paused).
    pub async fn kill_processes(
        &self,
        principal: &Principal,
        sandbox_id: &SandboxId,
    ) -> Result<ProcessesKilled, AppError> {
        let sandbox = self.store.authorized(principal, sandbox_id).await?;
        running_container_of(&sandbox, "stop its processes")?;
        // Each ends as a cancel ends it (its tree killed, its end recorded)
        // before the sweep, which would otherwise end it first.
        let cancelled = self.running.cancel_sandbox(sandbox_id);
        self.wait_until_recorded_ended(&cancelled).await;
        // Under the sandbox's lock, so no pause freezes it meanwhile.
        let _guard = self.store.lock(sandbox_id).await;
        let container =
            running_container_of(&self.store.load(sandbox_id).await?, "stop its processes")?;
        let killed = self.runtime.kill_processes(&container).await?;
        Ok(ProcessesKilled { cancelled, killed })
    }
}
