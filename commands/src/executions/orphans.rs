//! Executions a dead process was running: recorded failed (their output is
//! lost with the process), at reconciliation.

use crate::error::AppError;
use crate::executions::Executions;
use domain::execution::{ExecutionStatus, OutputDigest};
use domain::sandbox::SandboxCommand;

impl Executions {
    /// End every execution recorded running whose process is gone; how many.
    pub(crate) async fn end_orphaned(&self) -> Result<usize, AppError> {
        let mut ended = 0;
        for execution in self.queries.running_executions() {
            // A live process still runs it (a leader change, not a restart).
            let alive = match execution.runner.as_deref() {
                Some(runner) => self.runners.is_alive(runner).await,
                None => self.running.contains(&execution.execution_id),
            };
            if alive {
                continue;
            }
            let _guard = self.store.lock(&execution.sandbox_id).await;
            self.store
                .execute(
                    &execution.sandbox_id,
                    SandboxCommand::FinishExecution {
                        execution_id: execution.execution_id.clone(),
                        status: ExecutionStatus::Failed,
                        exit_code: None,
                        error: Some(
                            "the server restarted while the command ran; its output is lost".into(),
                        ),
                        duration_ms: 0,
                        output: OutputDigest::default(),
                        now_ms: self.store.now_ms(),
                    },
                )
                .await?;
            ended += 1;
        }
        Ok(ended)
    }
}
