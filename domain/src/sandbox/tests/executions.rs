//! Given/when/then tests of commands run in the sandbox.

use super::*;
use crate::execution::{ExecutionStatus, OutputDigest};

#[test]
fn exec_needs_a_running_sandbox() {
    Test::with(())
        .given(vec![created(), funded(1_000)])
        .when(SandboxCommand::StartExecution {
            execution_id: "e1".into(),
            command: "true".into(),
            working_dir: "/home/sandbox".into(),
            timeout_ms: 1_000,
            runner: None,
            now_ms: T0,
        })
        .then_expect_error(SandboxError::NotRunning {
            state: SandboxState::Creating,
            action: "run a command",
        });
}

#[test]
fn finishing_an_unknown_execution_records_nothing() {
    Test::with(())
        .given(running(10_000))
        .when(SandboxCommand::FinishExecution {
            execution_id: "nope".into(),
            status: ExecutionStatus::Completed,
            exit_code: Some(0),
            error: None,
            duration_ms: 3,
            output: OutputDigest::default(),
            now_ms: T0,
        })
        .then_expect_events(vec![]);
}
