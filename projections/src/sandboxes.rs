//! The sandbox view: everything the status endpoint shows.

use domain::metering;
use domain::sandbox::{BillingMethod, PauseReason, SandboxEvent, SandboxState};
use domain::{Msats, TierName};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SandboxView {
    pub sandbox_id: String,
    pub state: SandboxState,
    pub tier: TierName,
    pub msats_per_second: u64,
    pub billing: BillingMethod,
    pub owner: Option<String>,
    pub label: Option<String>,
    pub image: String,
    pub token_hash: Option<String>,
    pub container_id: Option<String>,
    pub pause_reason: Option<PauseReason>,
    pub failure: Option<String>,
    pub balance: Msats,
    pub paid_in: Msats,
    pub charged: Msats,
    pub refunded: Msats,
    pub charged_until_ms: Option<i64>,
    pub low_balance_warned: bool,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl SandboxView {
    pub(crate) fn created(sandbox_id: &str, event: &SandboxEvent) -> Option<SandboxView> {
        let SandboxEvent::SandboxCreated {
            owner,
            tier,
            msats_per_second,
            billing,
            label,
            image,
            token_hash,
            at_ms,
        } = event
        else {
            return None;
        };
        Some(SandboxView {
            sandbox_id: sandbox_id.to_string(),
            state: match billing {
                BillingMethod::Credits => SandboxState::Creating,
                BillingMethod::Lightning => SandboxState::AwaitingPayment,
            },
            tier: *tier,
            msats_per_second: *msats_per_second,
            billing: *billing,
            owner: owner.clone(),
            label: label.clone(),
            image: image.clone(),
            token_hash: token_hash.clone(),
            container_id: None,
            pause_reason: None,
            failure: None,
            balance: Msats::ZERO,
            paid_in: Msats::ZERO,
            charged: Msats::ZERO,
            refunded: Msats::ZERO,
            charged_until_ms: None,
            low_balance_warned: false,
            created_at_ms: *at_ms,
            updated_at_ms: *at_ms,
        })
    }

    pub(crate) fn apply(&mut self, event: &SandboxEvent) {
        match event {
            SandboxEvent::SandboxCreated { .. } => {}
            SandboxEvent::BalanceExtended {
                amount,
                balance_after,
                at_ms,
                ..
            } => {
                self.balance = *balance_after;
                self.paid_in = Msats(self.paid_in.0.saturating_add(amount.0));
                self.low_balance_warned = false;
                if self.state == SandboxState::AwaitingPayment {
                    self.state = SandboxState::Creating;
                }
                self.updated_at_ms = *at_ms;
            }
            SandboxEvent::SandboxStarted {
                container_id,
                at_ms,
            } => {
                self.container_id = Some(container_id.clone());
                self.state = SandboxState::Running;
                self.charged_until_ms = Some(*at_ms);
                self.updated_at_ms = *at_ms;
            }
            SandboxEvent::ExecStarted { .. } | SandboxEvent::ExecFinished { .. } => {}
            SandboxEvent::UsageCharged {
                to_ms,
                amount,
                balance_after,
                ..
            } => {
                self.charged = Msats(self.charged.0.saturating_add(amount.0));
                self.balance = *balance_after;
                self.charged_until_ms = Some(*to_ms);
                self.updated_at_ms = *to_ms;
            }
            SandboxEvent::LowBalanceWarned { .. } => self.low_balance_warned = true,
            SandboxEvent::SandboxPaused { reason, at_ms } => {
                self.state = SandboxState::Paused;
                self.pause_reason = Some(*reason);
                self.charged_until_ms = None;
                self.updated_at_ms = *at_ms;
            }
            SandboxEvent::SandboxResumed { at_ms } => {
                self.state = SandboxState::Running;
                self.pause_reason = None;
                self.charged_until_ms = Some(*at_ms);
                self.updated_at_ms = *at_ms;
            }
            SandboxEvent::SandboxTerminated { at_ms } => {
                self.state = SandboxState::Terminated;
                self.charged_until_ms = None;
                self.updated_at_ms = *at_ms;
            }
            SandboxEvent::RefundIssued {
                amount,
                balance_after,
                at_ms,
                ..
            } => {
                self.refunded = Msats(self.refunded.0.saturating_add(amount.0));
                self.balance = *balance_after;
                self.updated_at_ms = *at_ms;
            }
            SandboxEvent::SandboxFailed { reason, at_ms } => {
                self.state = SandboxState::Failed;
                self.failure = Some(reason.clone());
                self.charged_until_ms = None;
                self.updated_at_ms = *at_ms;
            }
        }
    }

    /// Usage accrued since the last charge event, priced by the same rule the
    /// meter will charge it with.
    pub fn accrued_at(&self, now_ms: i64) -> Msats {
        match (self.state, self.charged_until_ms) {
            (SandboxState::Running, Some(from)) if now_ms > from => {
                metering::charge(self.msats_per_second, from, now_ms, self.balance)
            }
            _ => Msats::ZERO,
        }
    }

    /// Balance left at `now_ms`, counting usage not yet charged.
    pub fn balance_at(&self, now_ms: i64) -> Msats {
        self.balance.saturating_sub(self.accrued_at(now_ms))
    }

    /// Everything consumed so far at `now_ms`.
    pub fn consumed_at(&self, now_ms: i64) -> Msats {
        Msats(self.charged.0.saturating_add(self.accrued_at(now_ms).0))
    }

    pub fn seconds_remaining_at(&self, now_ms: i64) -> u64 {
        metering::seconds_remaining(self.balance_at(now_ms), self.msats_per_second)
            .unwrap_or(u64::MAX)
    }
}
