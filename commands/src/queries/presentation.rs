//! One presentation of a sandbox, at an instant: the balance counting usage
//! not yet charged, the seconds it lasts, the warning a client reacts to, and
//! when to poll again. REST, MCP and GraphQL render this one value.

use crate::queries::sandbox_status::{SandboxStatus, WarningLevel};
use crate::queries::Queries;
use domain::sandbox::SandboxState;
use projections::SandboxView;

impl Queries {
    /// The one presentation of `view`, now.
    pub fn present(&self, view: SandboxView) -> SandboxStatus {
        let now_ms = self.now_ms();
        SandboxStatus {
            balance: view.balance_at(now_ms),
            consumed: view.consumed_at(now_ms),
            seconds_remaining: view.seconds_remaining_at(now_ms),
            warning: WarningLevel::of(&view, now_ms, self.config.low_balance_secs),
            next_poll_secs: match view.state {
                SandboxState::Creating | SandboxState::Starting | SandboxState::AwaitingPayment => {
                    1
                }
                SandboxState::Queued => 5,
                SandboxState::Running => 10,
                _ => 30,
            },
            withdraw: self.links.withdraw_link(&view.sandbox_id, &view.core),
            now_ms,
            view,
        }
    }
}
