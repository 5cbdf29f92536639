//! What a caller is shown of a sandbox at an instant: its status, the
//! warning a client reacts to, and the link its unused sats can be claimed
//! through.

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
    pub withdraw: Option<WithdrawLink>,
}

impl Deref for SandboxStatus {
    type Target = SandboxView;

    fn deref(&self) -> &SandboxView {
        &self.view
    }
}

/// A claimable link, as the sandbox's owner is shown it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawLink {
    pub url: String,
    pub amount: Msats,
}
