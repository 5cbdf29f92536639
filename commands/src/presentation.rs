//! One presentation of a sandbox, at an instant: the balance counting usage
//! not yet charged, the seconds it lasts, the warning a client reacts to, and
//! when to poll again. REST, MCP and GraphQL render this one value.

use crate::app::App;
use domain::sandbox::{PauseReason, SandboxState};
use domain::Msats;
use projections::SandboxView;
use serde::Serialize;
use std::ops::Deref;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningLevel {
    /// Less than the low-balance time left: top up soon.
    LowBalance,
    /// Nothing left: the sandbox is (or is about to be) paused.
    OutOfBalance,
}

impl WarningLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            WarningLevel::LowBalance => "low_balance",
            WarningLevel::OutOfBalance => "out_of_balance",
        }
    }

    /// The warning for a sandbox at `now_ms`, if any.
    pub fn of(view: &SandboxView, now_ms: i64, low_balance_secs: u64) -> Option<WarningLevel> {
        if view.state.is_ended() || view.state == SandboxState::AwaitingPayment {
            return None;
        }
        if view.pause_reason == Some(PauseReason::OutOfBalance) || view.balance_at(now_ms).is_zero()
        {
            return Some(WarningLevel::OutOfBalance);
        }
        view.runs_low_at(now_ms, low_balance_secs)
            .then_some(WarningLevel::LowBalance)
    }
}

/// A sandbox as its caller sees it at `now_ms`.
#[derive(Debug, Clone)]
pub struct SandboxStatus {
    pub view: SandboxView,
    pub now_ms: i64,
    /// Balance left, counting usage not yet charged.
    pub balance: Msats,
    /// Everything consumed, counting usage not yet charged.
    pub consumed: Msats,
    pub seconds_remaining: u64,
    pub warning: Option<WarningLevel>,
    /// When a client polling for changes should look again.
    pub next_poll_secs: u64,
    /// Where an ended Lightning sandbox's sats can be claimed, if anywhere.
    pub withdraw: Option<crate::WithdrawLink>,
}

impl Deref for SandboxStatus {
    type Target = SandboxView;

    fn deref(&self) -> &SandboxView {
        &self.view
    }
}

impl App {
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
            withdraw: self.withdraw_link(&view.sandbox_id, &view.core),
            now_ms,
            view,
        }
    }
}
