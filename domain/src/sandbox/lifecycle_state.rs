//! Where a sandbox is in its life (`SandboxState`): its names on the wire
//! and in stored events, and which states never come back.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxState {
    /// No event yet: the stream does not exist.
    #[default]
    Unknown,
    AwaitingPayment,
    /// Paid while the server had no room: waits for room, unbilled.
    Queued,
    Creating,
    Starting,
    Running,
    Paused,
    Terminated,
    Failed,
    /// Never paid: its first invoice expired.
    Expired,
}

impl SandboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxState::Unknown => "unknown",
            SandboxState::AwaitingPayment => "awaiting_payment",
            SandboxState::Queued => "queued",
            SandboxState::Creating => "creating",
            SandboxState::Starting => "starting",
            SandboxState::Running => "running",
            SandboxState::Paused => "paused",
            SandboxState::Terminated => "terminated",
            SandboxState::Failed => "failed",
            SandboxState::Expired => "expired",
        }
    }

    /// Terminated and failed sandboxes never come back.
    pub fn is_ended(self) -> bool {
        matches!(
            self,
            SandboxState::Terminated | SandboxState::Failed | SandboxState::Expired
        )
    }
}

impl fmt::Display for SandboxState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
