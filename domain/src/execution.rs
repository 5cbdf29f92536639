//! Values describing one command execution inside a sandbox.

use serde::{Deserialize, Serialize};

/// How an execution ended (or that it has not yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    Running,
    /// The command exited on its own, whatever its exit code.
    Completed,
    /// It could not run, timed out, or was interrupted.
    Failed,
    Cancelled,
}

impl ExecutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "running",
            ExecutionStatus::Completed => "completed",
            ExecutionStatus::Failed => "failed",
            ExecutionStatus::Cancelled => "cancelled",
        }
    }

    pub fn is_finished(self) -> bool {
        self != ExecutionStatus::Running
    }
}

/// Exit code reported for a command killed by its timeout (as coreutils' `timeout`).
pub const TIMEOUT_EXIT_CODE: i64 = 124;
/// Exit code reported for a cancelled command (128 + SIGKILL).
pub const KILLED_EXIT_CODE: i64 = 137;

/// What an execution recorded about its output, without the output itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputDigest {
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    /// Lower-case hex sha256 of the whole stdout stream.
    pub stdout_sha256: String,
    pub stderr_sha256: String,
    /// True when the kept output was cut at the configured bound.
    pub truncated: bool,
}
