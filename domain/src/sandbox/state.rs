//! The `Sandbox` aggregate's state, and the two dispatch tables that hand
//! each command and each event to the concern that handles it (lifecycle,
//! executions, shells and previews, funding, refunds: see the sibling
//! modules).

use super::command::SandboxCommand;
use super::error::SandboxError;
use super::event::{BillingMethod, PauseReason, RefundTarget, SandboxEvent};
pub use super::lifecycle_state::SandboxState;
use crate::lifetime::Lifetime;
use crate::lightning::Invoice;
use crate::network::NetworkPolicy;
use crate::{Msats, TierName};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Snapshots of this state are stored; a field added later needs a default
/// (`serde(default)`), and a snapshot that no longer fits is replayed from
/// the events instead.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sandbox {
    pub state: SandboxState,
    pub tier: Option<TierName>,
    pub msats_per_second: u64,
    pub billing: Option<BillingMethod>,
    pub owner: Option<String>,
    /// Hash of the sandbox token that may act on this sandbox alone.
    pub token_hash: Option<String>,
    pub container_id: Option<String>,
    pub pause_reason: Option<PauseReason>,
    /// Since when it is paused.
    pub paused_at_ms: Option<i64>,
    /// Since when it waits for room (while queued).
    pub queued_at_ms: Option<i64>,
    pub balance: Msats,
    pub paid_in: Msats,
    pub charged: Msats,
    pub refunded: Msats,
    /// Held for an outgoing payment that has not settled or failed yet.
    pub reserved: Msats,
    /// The outgoing payment being made, if any (at most one at a time).
    pub refund_in_flight: Option<RefundInFlight>,
    /// While running: the instant up to which usage has been charged.
    pub charged_until_ms: Option<i64>,
    pub low_balance_warned: bool,
    pub running_executions: BTreeSet<String>,
    pub credited_payments: BTreeSet<String>,
    /// The invoice to pay now (initial payment or top-up), if any.
    pub pending_invoice: Option<Invoice>,
    /// Payment hashes of every invoice this sandbox issued.
    pub issued_invoices: BTreeSet<String>,
    pub expired_invoices: BTreeSet<String>,
    pub withdraw_k1_hash: Option<String>,
    /// What the offered link's secret is derived from (None: a link whose
    /// secret was random and shown once).
    pub withdraw_nonce: Option<String>,
    pub refund_attempts: u32,
    /// Where a failed refund is to be retried.
    pub refund_address: Option<String>,
    /// Credit transfers from the account that reached this sandbox.
    pub taken_transfers: BTreeSet<String>,
    /// Credit transfers this sandbox refused for good.
    pub voided_transfers: BTreeSet<String>,
    /// Where it may connect to (snapshots older than the field: open).
    #[serde(default)]
    pub network: NetworkPolicy,
    /// The OCI runtime it runs under (None: the engine's default).
    #[serde(default)]
    pub runtime: Option<String>,
    /// Its timeout and idle pause.
    #[serde(default)]
    pub lifetime: Lifetime,
    /// Variables for every command, sealed.
    #[serde(default)]
    pub env: Option<crate::env::SealedEnv>,
    /// When it first started running.
    #[serde(default)]
    pub started_at_ms: Option<i64>,
    /// When something last happened in it (start, resume, a command or a
    /// shell starting or ending).
    #[serde(default)]
    pub last_active_ms: i64,
    /// Hash of the preview token that opens its proxied ports, if any.
    #[serde(default)]
    pub preview_token_hash: Option<String>,
    /// Shells open now.
    #[serde(default)]
    pub open_shells: BTreeSet<String>,
    /// Nonces of the shell tickets already used (each opens one shell).
    #[serde(default)]
    pub used_shell_tickets: BTreeSet<String>,
}

/// An outgoing payment of a sandbox's balance, reserved before it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundInFlight {
    pub refund_id: String,
    pub amount: Msats,
    pub payment_hash: String,
    pub expires_at_ms: i64,
    pub target: RefundTarget,
    /// When it was reserved (snapshots older than the field: 0).
    #[serde(default)]
    pub reserved_at_ms: i64,
}

impl Aggregate for Sandbox {
    const TYPE: &'static str = "Sandbox";
    type Command = SandboxCommand;
    type Event = SandboxEvent;
    type Error = SandboxError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        use SandboxEvent as E;
        match event {
            E::SandboxCreated { .. }
            | E::SandboxQueued { .. }
            | E::SandboxDequeued { .. }
            | E::SandboxStarted { .. }
            | E::SandboxPaused { .. }
            | E::SandboxResumed { .. }
            | E::SandboxTerminated { .. }
            | E::SandboxFailed { .. }
            | E::SandboxExpired { .. } => self.apply_lifecycle(event),
            E::ExecStarted { .. } | E::ExecFinished { .. } => self.apply_execution(event),
            E::PreviewTokenIssued { .. }
            | E::PreviewTokenRevoked { .. }
            | E::ShellOpened { .. }
            | E::ShellClosed { .. } => self.apply_shell_or_preview(event),
            E::BalanceExtended { .. }
            | E::TransferVoided { .. }
            | E::UsageCharged { .. }
            | E::LowBalanceWarned { .. }
            | E::InvoiceIssued { .. }
            | E::InvoiceExpired { .. } => self.apply_funding(event),
            E::RefundIssued { .. }
            | E::RefundReserved { .. }
            | E::RefundSettled { .. }
            | E::RefundReleased { .. }
            | E::RefundFailed { .. }
            | E::WithdrawOffered { .. } => self.apply_refund(event),
        }
    }
}

impl Sandbox {
    /// The ledger invariant: every msat paid in is charged, refunded, held
    /// for a refund being paid, or still balance.
    pub fn money_is_conserved(&self) -> bool {
        let accounted = [self.charged, self.refunded, self.reserved, self.balance]
            .iter()
            .try_fold(0u64, |sum, m| sum.checked_add(m.0));
        accounted == Some(self.paid_in.0)
    }

    /// The events a command produces, without applying them.
    pub fn decide(&self, command: SandboxCommand) -> Result<Vec<SandboxEvent>, SandboxError> {
        use SandboxCommand as C;
        match command {
            // The two commands that may meet a stream with no sandbox (yet).
            C::CreateSandbox { .. } => self.decide_lifecycle(command),
            C::VoidTransfer { .. } => self.decide_funding(command),
            _ if self.state == SandboxState::Unknown => Err(SandboxError::NotFound),
            C::QueueSandbox { .. }
            | C::DequeueSandbox { .. }
            | C::RecordStarted { .. }
            | C::PauseSandbox { .. }
            | C::ResumeSandbox { .. }
            | C::TerminateSandbox { .. }
            | C::FailSandbox { .. } => self.decide_lifecycle(command),
            C::StartExecution { .. } | C::FinishExecution { .. } => self.decide_execution(command),
            C::IssuePreviewToken { .. }
            | C::RevokePreviewToken { .. }
            | C::OpenShell { .. }
            | C::CloseShell { .. } => self.decide_shell_or_preview(command),
            C::ExtendBalance { .. }
            | C::ChargeUsage { .. }
            | C::IssueInvoice { .. }
            | C::ExpireInvoice { .. } => self.decide_funding(command),
            C::RecordRefund { .. }
            | C::ReserveRefund { .. }
            | C::SettleRefund { .. }
            | C::ReleaseRefund { .. }
            | C::RecordRefundFailure { .. }
            | C::OfferWithdraw { .. } => self.decide_refund(command),
        }
    }

    pub(super) fn ensure_alive(&self) -> Result<(), SandboxError> {
        if self.state.is_ended() {
            return Err(SandboxError::Ended(self.state));
        }
        Ok(())
    }

    pub(super) fn ensure_running(&self, action: &'static str) -> Result<(), SandboxError> {
        self.ensure_alive()?;
        if self.state != SandboxState::Running {
            return Err(SandboxError::NotRunning {
                state: self.state,
                action,
            });
        }
        Ok(())
    }

    pub(super) fn invalid(&self, action: &'static str) -> SandboxError {
        SandboxError::InvalidTransition {
            state: self.state,
            action,
        }
    }
}
