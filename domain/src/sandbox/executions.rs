//! Commands run in the sandbox: an execution starts only while it runs,
//! under an id not already running, and finishes at most once.

use super::command::SandboxCommand;
use super::error::SandboxError;
use super::event::SandboxEvent;
use super::state::Sandbox;

impl Sandbox {
    /// The events of an execution command (see `Sandbox::decide`).
    pub(super) fn decide_execution(
        &self,
        command: SandboxCommand,
    ) -> Result<Vec<SandboxEvent>, SandboxError> {
        match command {
            SandboxCommand::StartExecution {
                execution_id,
                command,
                working_dir,
                timeout_ms,
                runner,
                now_ms,
            } => {
                self.ensure_running("run a command")?;
                if self.running_executions.contains(&execution_id) {
                    return Err(SandboxError::DuplicateExecution);
                }
                Ok(vec![SandboxEvent::ExecStarted {
                    execution_id,
                    command,
                    working_dir,
                    timeout_ms,
                    runner,
                    at_ms: now_ms,
                }])
            }
            SandboxCommand::FinishExecution {
                execution_id,
                status,
                exit_code,
                error,
                duration_ms,
                output,
                now_ms,
            } => {
                // Finishing twice (or after the sandbox ended) records nothing.
                if !self.running_executions.contains(&execution_id) {
                    return Ok(vec![]);
                }
                Ok(vec![SandboxEvent::ExecFinished {
                    execution_id,
                    status,
                    exit_code,
                    error,
                    duration_ms,
                    output,
                    at_ms: now_ms,
                }])
            }
            // `state::decide` routes each command to its concern; another
            // concern's is refused, never a panic.
            _ => Err(self.invalid("a command routed to the wrong concern")),
        }
    }

    /// The state an execution event leaves (see `Aggregate::apply`).
    pub(super) fn apply_execution(&mut self, event: SandboxEvent) {
        match event {
            SandboxEvent::ExecStarted {
                execution_id,
                at_ms,
                ..
            } => {
                self.running_executions.insert(execution_id);
                self.last_active_ms = at_ms;
            }
            SandboxEvent::ExecFinished {
                execution_id,
                at_ms,
                ..
            } => {
                self.running_executions.remove(&execution_id);
                self.last_active_ms = at_ms;
            }
            // `state::apply` routes each event to its concern; another
            // concern's changes nothing here.
            _ => {}
        }
    }
}
