//! The execution view: one command run in a sandbox, without its output.

use domain::execution::{ExecutionStatus, OutputDigest};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionView {
    pub execution_id: String,
    pub sandbox_id: String,
    pub command: String,
    pub working_dir: String,
    pub timeout_ms: u64,
    pub status: ExecutionStatus,
    pub exit_code: Option<i64>,
    pub error: Option<String>,
    pub started_at_ms: i64,
    pub duration_ms: Option<u64>,
    pub output: Option<OutputDigest>,
    /// The process that runs (or ran) it, when recorded.
    #[serde(default)]
    pub runner: Option<String>,
}
