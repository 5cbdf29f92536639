//! The sandbox view: everything the status endpoint shows. Its lifecycle and
//! money are the `Sandbox` aggregate's own fold of the events, so the read
//! side can never disagree with the rules about a transition.

use cqrs_es::Aggregate;
use domain::metering;
use domain::sandbox::{BillingMethod, Sandbox, SandboxEvent, SandboxState};
use domain::{Msats, TierName};
use serde::{Deserialize, Serialize};
use std::ops::Deref;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxView {
    pub sandbox_id: String,
    pub tier: TierName,
    pub billing: BillingMethod,
    pub label: Option<String>,
    pub image: String,
    pub token_hash: Option<String>,
    /// Why the sandbox failed, if it did.
    pub failure: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// State, balance and totals, as the aggregate folds them.
    pub core: Sandbox,
}

impl Deref for SandboxView {
    type Target = Sandbox;

    fn deref(&self) -> &Sandbox {
        &self.core
    }
}

impl SandboxView {
    pub(crate) fn created(sandbox_id: &str, event: &SandboxEvent) -> Option<SandboxView> {
        let SandboxEvent::SandboxCreated {
            tier,
            billing,
            label,
            image,
            token_hash,
            at_ms,
            ..
        } = event
        else {
            return None;
        };
        Some(SandboxView {
            sandbox_id: sandbox_id.to_string(),
            tier: *tier,
            billing: *billing,
            label: label.clone(),
            image: image.clone(),
            token_hash: token_hash.clone(),
            failure: None,
            created_at_ms: *at_ms,
            updated_at_ms: *at_ms,
            core: Sandbox::default(),
        })
    }

    pub(crate) fn apply(&mut self, event: &SandboxEvent) {
        if let SandboxEvent::SandboxFailed { reason, .. } = event {
            self.failure = Some(reason.clone());
        }
        self.updated_at_ms = self.updated_at_ms.max(event.at_ms());
        self.core.apply(event.clone());
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

    /// Whether less than `low_balance_secs` of running is left at `now_ms`.
    pub fn runs_low_at(&self, now_ms: i64, low_balance_secs: u64) -> bool {
        metering::runs_low(
            self.balance_at(now_ms),
            self.msats_per_second,
            low_balance_secs,
        )
    }

    pub fn seconds_remaining_at(&self, now_ms: i64) -> u64 {
        metering::seconds_remaining(self.balance_at(now_ms), self.msats_per_second)
            .unwrap_or(u64::MAX)
    }
}
