//! The `Sandbox` aggregate's state and its command handling.

use super::command::{Funding, SandboxCommand};
use super::error::SandboxError;
use super::event::{
    BillingMethod, FundingSource, PauseReason, RefundDestination, RefundTarget, SandboxEvent,
};
use crate::lifetime::Lifetime;
use crate::lightning::Invoice;
use crate::metering;
use crate::network::NetworkPolicy;
use crate::{Msats, TierName};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
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
        match event {
            SandboxEvent::SandboxCreated {
                owner,
                tier,
                msats_per_second,
                billing,
                token_hash,
                network,
                runtime,
                lifetime,
                env,
                ..
            } => {
                self.network = network;
                self.runtime = runtime;
                self.lifetime = lifetime;
                self.env = env;
                self.owner = owner;
                self.token_hash = token_hash;
                self.tier = Some(tier);
                self.msats_per_second = msats_per_second;
                self.billing = Some(billing);
                self.state = match billing {
                    BillingMethod::Credits => SandboxState::Creating,
                    BillingMethod::Lightning => SandboxState::AwaitingPayment,
                };
            }
            SandboxEvent::BalanceExtended {
                amount,
                source,
                balance_after,
                ..
            } => {
                if let FundingSource::Account {
                    transfer_id: Some(transfer_id),
                    ..
                } = &source
                {
                    self.taken_transfers.insert(transfer_id.clone());
                }
                self.balance = balance_after;
                self.paid_in = Msats(self.paid_in.0.saturating_add(amount.0));
                self.low_balance_warned = false;
                if let FundingSource::Payment { payment_hash } = source {
                    if self
                        .pending_invoice
                        .as_ref()
                        .is_some_and(|i| i.payment_hash == payment_hash)
                    {
                        self.pending_invoice = None;
                    }
                    self.credited_payments.insert(payment_hash);
                }
                if self.state == SandboxState::AwaitingPayment {
                    self.state = SandboxState::Creating;
                }
            }
            SandboxEvent::SandboxStarted {
                container_id,
                at_ms,
            } => {
                self.container_id = Some(container_id);
                self.state = SandboxState::Running;
                self.charged_until_ms = Some(at_ms);
                self.started_at_ms.get_or_insert(at_ms);
                self.last_active_ms = at_ms;
            }
            SandboxEvent::ExecStarted {
                execution_id,
                at_ms,
                ..
            } => {
                self.running_executions.insert(execution_id);
                self.last_active_ms = at_ms;
            }
            SandboxEvent::ExecFinished {
                execution_id,
                at_ms,
                ..
            } => {
                self.running_executions.remove(&execution_id);
                self.last_active_ms = at_ms;
            }
            SandboxEvent::UsageCharged {
                to_ms,
                amount,
                balance_after,
                ..
            } => {
                self.charged = Msats(self.charged.0.saturating_add(amount.0));
                self.balance = balance_after;
                self.charged_until_ms = Some(to_ms);
            }
            SandboxEvent::LowBalanceWarned { .. } => self.low_balance_warned = true,
            SandboxEvent::PreviewTokenIssued { token_hash, .. } => {
                self.preview_token_hash = Some(token_hash)
            }
            SandboxEvent::PreviewTokenRevoked { .. } => self.preview_token_hash = None,
            SandboxEvent::ShellOpened {
                shell_id,
                ticket_nonce,
                at_ms,
            } => {
                self.last_active_ms = at_ms;
                self.open_shells.insert(shell_id);
                if let Some(nonce) = ticket_nonce {
                    self.used_shell_tickets.insert(nonce);
                }
            }
            SandboxEvent::ShellClosed {
                shell_id, at_ms, ..
            } => {
                self.last_active_ms = at_ms;
                self.open_shells.remove(&shell_id);
            }
            SandboxEvent::SandboxPaused { reason, at_ms } => {
                self.state = SandboxState::Paused;
                self.pause_reason = Some(reason);
                self.paused_at_ms = Some(at_ms);
                self.charged_until_ms = None;
            }
            SandboxEvent::SandboxResumed { at_ms } => {
                self.state = SandboxState::Running;
                self.pause_reason = None;
                self.paused_at_ms = None;
                self.charged_until_ms = Some(at_ms);
                self.last_active_ms = at_ms;
            }
            SandboxEvent::SandboxTerminated { .. } => {
                self.state = SandboxState::Terminated;
                self.charged_until_ms = None;
                self.running_executions.clear();
                self.pending_invoice = None;
            }
            SandboxEvent::RefundIssued {
                amount,
                balance_after,
                ..
            } => {
                self.refunded = Msats(self.refunded.0.saturating_add(amount.0));
                self.balance = balance_after;
            }
            SandboxEvent::SandboxExpired { .. } => {
                self.state = SandboxState::Expired;
                self.pending_invoice = None;
            }
            SandboxEvent::SandboxFailed { .. } => {
                self.state = SandboxState::Failed;
                self.charged_until_ms = None;
                self.running_executions.clear();
                self.pending_invoice = None;
            }
            SandboxEvent::InvoiceIssued { invoice, .. } => {
                self.issued_invoices.insert(invoice.payment_hash.clone());
                self.pending_invoice = Some(invoice);
            }
            SandboxEvent::InvoiceExpired { payment_hash, .. } => {
                if self
                    .pending_invoice
                    .as_ref()
                    .is_some_and(|i| i.payment_hash == payment_hash)
                {
                    self.pending_invoice = None;
                }
                self.expired_invoices.insert(payment_hash);
            }
            SandboxEvent::RefundFailed {
                attempt, address, ..
            } => {
                self.refund_attempts = attempt;
                self.refund_address = Some(address);
            }
            SandboxEvent::WithdrawOffered { k1_hash, nonce, .. } => {
                self.withdraw_k1_hash = Some(k1_hash);
                self.withdraw_nonce = nonce;
            }
            SandboxEvent::RefundReserved {
                refund_id,
                amount,
                payment_hash,
                expires_at_ms,
                target,
                balance_after,
                at_ms,
            } => {
                self.balance = balance_after;
                self.reserved = Msats(self.reserved.0.saturating_add(amount.0));
                // Where later money (a payment after the end) goes too.
                if let RefundTarget::LightningAddress { address } = &target {
                    self.refund_address = Some(address.clone());
                }
                self.refund_in_flight = Some(RefundInFlight {
                    refund_id,
                    amount,
                    payment_hash,
                    expires_at_ms,
                    target,
                    reserved_at_ms: at_ms,
                });
            }
            SandboxEvent::RefundSettled { amount, .. } => {
                self.reserved = self.reserved.saturating_sub(amount);
                self.refunded = Msats(self.refunded.0.saturating_add(amount.0));
                // A withdraw link pays out once.
                if let Some(RefundTarget::Withdraw { .. }) =
                    self.refund_in_flight.take().map(|r| r.target)
                {
                    self.withdraw_k1_hash = None;
                    self.withdraw_nonce = None;
                }
            }
            SandboxEvent::RefundReleased {
                amount,
                balance_after,
                ..
            } => {
                self.reserved = self.reserved.saturating_sub(amount);
                self.balance = balance_after;
                self.refund_in_flight = None;
            }
            SandboxEvent::TransferVoided { transfer_id, .. } => {
                self.voided_transfers.insert(transfer_id);
            }
            SandboxEvent::SandboxQueued { at_ms } => {
                self.state = SandboxState::Queued;
                self.queued_at_ms = Some(at_ms);
            }
            SandboxEvent::SandboxDequeued { .. } => {
                self.state = SandboxState::Creating;
                self.queued_at_ms = None;
            }
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
        if let SandboxCommand::VoidTransfer {
            transfer_id,
            now_ms,
        } = command
        {
            return self.void_transfer(transfer_id, now_ms);
        }
        if self.state == SandboxState::Unknown {
            return match command {
                SandboxCommand::CreateSandbox {
                    owner,
                    tier,
                    billing,
                    label,
                    image,
                    token_hash,
                    initial_funding,
                    network,
                    runtime,
                    lifetime,
                    env,
                    now_ms,
                } => {
                    let mut events = vec![SandboxEvent::SandboxCreated {
                        owner,
                        tier,
                        msats_per_second: crate::Tier::of(tier).msats_per_second,
                        billing,
                        label,
                        image,
                        token_hash,
                        network,
                        runtime,
                        lifetime,
                        env,
                        at_ms: now_ms,
                    }];
                    if let Some(funding) = initial_funding {
                        check_funding(billing, &funding)?;
                        self.check_transfer(&funding.source)?;
                        events.push(SandboxEvent::BalanceExtended {
                            balance_after: funding.amount,
                            amount: funding.amount,
                            source: funding.source,
                            at_ms: now_ms,
                        });
                    }
                    Ok(events)
                }
                _ => Err(SandboxError::NotFound),
            };
        }
        match command {
            SandboxCommand::CreateSandbox { .. } => Err(SandboxError::AlreadyExists),
            SandboxCommand::VoidTransfer { .. } => Ok(vec![]),
            SandboxCommand::QueueSandbox { now_ms } => {
                if self.state != SandboxState::Creating || self.container_id.is_some() {
                    return Err(self.invalid("queue"));
                }
                Ok(vec![SandboxEvent::SandboxQueued { at_ms: now_ms }])
            }
            SandboxCommand::DequeueSandbox { now_ms } => {
                if self.state != SandboxState::Queued {
                    return Err(self.invalid("start"));
                }
                Ok(vec![SandboxEvent::SandboxDequeued { at_ms: now_ms }])
            }
            SandboxCommand::ExtendBalance { funding, now_ms } => self.extend(funding, now_ms),
            SandboxCommand::RecordStarted {
                container_id,
                now_ms,
            } => {
                self.ensure_alive()?;
                if !matches!(self.state, SandboxState::Creating | SandboxState::Starting) {
                    return Err(self.invalid("start"));
                }
                Ok(vec![SandboxEvent::SandboxStarted {
                    container_id,
                    at_ms: now_ms,
                }])
            }
            SandboxCommand::StartExecution {
                execution_id,
                command,
                working_dir,
                timeout_ms,
                runner,
                now_ms,
            } => {
                self.ensure_running("run a command")?;
                if self.running_executions.contains(&execution_id) {
                    return Err(SandboxError::DuplicateExecution);
                }
                Ok(vec![SandboxEvent::ExecStarted {
                    execution_id,
                    command,
                    working_dir,
                    timeout_ms,
                    runner,
                    at_ms: now_ms,
                }])
            }
            SandboxCommand::FinishExecution {
                execution_id,
                status,
                exit_code,
                error,
                duration_ms,
                output,
                now_ms,
            } => {
                // Finishing twice (or after the sandbox ended) records nothing.
                if !self.running_executions.contains(&execution_id) {
                    return Ok(vec![]);
                }
                Ok(vec![SandboxEvent::ExecFinished {
                    execution_id,
                    status,
                    exit_code,
                    error,
                    duration_ms,
                    output,
                    at_ms: now_ms,
                }])
            }
            SandboxCommand::ChargeUsage {
                now_ms,
                low_balance_secs,
            } => {
                let mut events = self.charge_until(now_ms);
                let balance_after = match events.first() {
                    Some(SandboxEvent::UsageCharged { balance_after, .. }) => *balance_after,
                    _ => self.balance,
                };
                if self.state == SandboxState::Running
                    && !self.low_balance_warned
                    && metering::runs_low(balance_after, self.msats_per_second, low_balance_secs)
                {
                    events.push(SandboxEvent::LowBalanceWarned {
                        balance: balance_after,
                        seconds_remaining: metering::seconds_remaining(
                            balance_after,
                            self.msats_per_second,
                        )
                        .unwrap_or(u64::MAX),
                        at_ms: now_ms,
                    });
                }
                Ok(events)
            }
            SandboxCommand::IssuePreviewToken { token_hash, now_ms } => {
                self.ensure_alive()?;
                Ok(vec![SandboxEvent::PreviewTokenIssued {
                    token_hash,
                    at_ms: now_ms,
                }])
            }
            SandboxCommand::RevokePreviewToken { now_ms } => {
                if self.preview_token_hash.is_none() {
                    return Ok(vec![]);
                }
                Ok(vec![SandboxEvent::PreviewTokenRevoked { at_ms: now_ms }])
            }
            SandboxCommand::OpenShell {
                shell_id,
                ticket_nonce,
                now_ms,
            } => {
                self.ensure_running("open a shell")?;
                if ticket_nonce
                    .as_ref()
                    .is_some_and(|n| self.used_shell_tickets.contains(n))
                {
                    return Err(SandboxError::TicketUsed);
                }
                Ok(vec![SandboxEvent::ShellOpened {
                    shell_id,
                    ticket_nonce,
                    at_ms: now_ms,
                }])
            }
            SandboxCommand::CloseShell {
                shell_id,
                bytes_in,
                bytes_out,
                reason,
                now_ms,
            } => {
                if !self.open_shells.contains(&shell_id) {
                    return Ok(vec![]);
                }
                Ok(vec![SandboxEvent::ShellClosed {
                    shell_id,
                    bytes_in,
                    bytes_out,
                    reason,
                    at_ms: now_ms,
                }])
            }
            SandboxCommand::PauseSandbox { reason, now_ms } => {
                self.ensure_alive()?;
                match self.state {
                    SandboxState::Paused => Ok(vec![]),
                    SandboxState::Running => {
                        let mut events = self.charge_until(now_ms);
                        events.push(SandboxEvent::SandboxPaused {
                            reason,
                            at_ms: now_ms,
                        });
                        Ok(events)
                    }
                    _ => Err(self.invalid("pause")),
                }
            }
            SandboxCommand::ResumeSandbox { now_ms } => {
                self.ensure_alive()?;
                match self.state {
                    SandboxState::Running => Ok(vec![]),
                    SandboxState::Paused if self.balance.is_zero() => {
                        Err(SandboxError::OutOfBalance)
                    }
                    SandboxState::Paused => {
                        Ok(vec![SandboxEvent::SandboxResumed { at_ms: now_ms }])
                    }
                    _ => Err(self.invalid("resume")),
                }
            }
            SandboxCommand::TerminateSandbox { now_ms } => {
                self.ensure_alive()?;
                let mut events = self.charge_until(now_ms);
                events.push(SandboxEvent::SandboxTerminated { at_ms: now_ms });
                events.extend(self.refund_to_account(&events, now_ms));
                Ok(events)
            }
            SandboxCommand::IssueInvoice { invoice, now_ms } => {
                self.ensure_alive()?;
                if self.billing != Some(BillingMethod::Lightning) {
                    return Err(SandboxError::NotLightning);
                }
                if invoice.amount.is_zero() {
                    return Err(SandboxError::InvalidAmount);
                }
                Ok(vec![SandboxEvent::InvoiceIssued {
                    invoice,
                    at_ms: now_ms,
                }])
            }
            SandboxCommand::ExpireInvoice {
                payment_hash,
                now_ms,
            } => {
                let open = self.issued_invoices.contains(&payment_hash)
                    && !self.credited_payments.contains(&payment_hash)
                    && !self.expired_invoices.contains(&payment_hash);
                if !open {
                    return Ok(vec![]);
                }
                let unpaid_sandbox = self.state == SandboxState::AwaitingPayment
                    && self
                        .pending_invoice
                        .as_ref()
                        .is_some_and(|i| i.payment_hash == payment_hash);
                let mut events = vec![SandboxEvent::InvoiceExpired {
                    payment_hash,
                    at_ms: now_ms,
                }];
                if unpaid_sandbox {
                    events.push(SandboxEvent::SandboxExpired { at_ms: now_ms });
                }
                Ok(events)
            }
            SandboxCommand::RecordRefund {
                amount,
                destination,
                now_ms,
            } => {
                let balance_after = self.balance_after_paying_out(amount)?;
                Ok(vec![SandboxEvent::RefundIssued {
                    amount,
                    destination,
                    balance_after,
                    at_ms: now_ms,
                }])
            }
            SandboxCommand::ReserveRefund {
                refund_id,
                amount,
                payment_hash,
                expires_at_ms,
                target,
                now_ms,
            } => {
                if self.refund_in_flight.is_some() {
                    return Err(SandboxError::RefundInFlight);
                }
                if let RefundTarget::Withdraw { k1_hash } = &target {
                    if self.withdraw_k1_hash.as_ref() != Some(k1_hash) {
                        return Err(SandboxError::WithdrawNotOffered);
                    }
                }
                let balance_after = self.balance_after_paying_out(amount)?;
                Ok(vec![SandboxEvent::RefundReserved {
                    refund_id,
                    amount,
                    payment_hash,
                    expires_at_ms,
                    target,
                    balance_after,
                    at_ms: now_ms,
                }])
            }
            SandboxCommand::SettleRefund { refund_id, now_ms } => {
                match &self.refund_in_flight {
                    Some(r) if r.refund_id == refund_id => Ok(vec![SandboxEvent::RefundSettled {
                        refund_id,
                        amount: r.amount,
                        payment_hash: r.payment_hash.clone(),
                        at_ms: now_ms,
                    }]),
                    // Settled or released already: nothing to do.
                    _ => Ok(vec![]),
                }
            }
            SandboxCommand::ReleaseRefund {
                refund_id,
                reason,
                now_ms,
            } => match &self.refund_in_flight {
                Some(r) if r.refund_id == refund_id => Ok(vec![SandboxEvent::RefundReleased {
                    refund_id,
                    amount: r.amount,
                    reason,
                    balance_after: self
                        .balance
                        .checked_add(r.amount)
                        .ok_or(SandboxError::Overflow)?,
                    at_ms: now_ms,
                }]),
                _ => Ok(vec![]),
            },
            SandboxCommand::RecordRefundFailure {
                address,
                reason,
                now_ms,
            } => {
                if !self.state.is_ended() {
                    return Err(SandboxError::NotEnded);
                }
                Ok(vec![SandboxEvent::RefundFailed {
                    amount: self.balance,
                    address,
                    reason,
                    attempt: self.refund_attempts + 1,
                    at_ms: now_ms,
                }])
            }
            SandboxCommand::OfferWithdraw {
                k1_hash,
                nonce,
                amount,
                now_ms,
            } => {
                if !self.state.is_ended() {
                    return Err(SandboxError::NotEnded);
                }
                if amount.is_zero() || amount > self.balance {
                    return Err(SandboxError::RefundTooLarge);
                }
                Ok(vec![SandboxEvent::WithdrawOffered {
                    k1_hash,
                    nonce,
                    amount,
                    at_ms: now_ms,
                }])
            }
            SandboxCommand::FailSandbox { reason, now_ms } => {
                self.ensure_alive()?;
                let mut events = vec![SandboxEvent::SandboxFailed {
                    reason,
                    at_ms: now_ms,
                }];
                events.extend(self.refund_to_account(&events, now_ms));
                Ok(events)
            }
        }
    }

    fn extend(&self, funding: Funding, now_ms: i64) -> Result<Vec<SandboxEvent>, SandboxError> {
        let billing = self.billing.ok_or(SandboxError::NotFound)?;
        check_funding(billing, &funding)?;
        match &funding.source {
            // Money that arrived is recorded even after the end, to be paid back.
            FundingSource::Payment { payment_hash } => {
                if self.credited_payments.contains(payment_hash) {
                    return Ok(vec![]);
                }
                if !self.issued_invoices.contains(payment_hash) {
                    return Err(SandboxError::UnknownPayment);
                }
                if self.expired_invoices.contains(payment_hash) {
                    return Err(SandboxError::InvoiceExpired);
                }
            }
            FundingSource::Account {
                transfer_id: Some(transfer_id),
                ..
            } if self.taken_transfers.contains(transfer_id) => return Ok(vec![]),
            FundingSource::Account { .. } => {
                self.check_transfer(&funding.source)?;
                self.ensure_alive()?;
            }
        }
        let balance_after = self
            .balance
            .checked_add(funding.amount)
            .ok_or(SandboxError::Overflow)?;
        Ok(vec![SandboxEvent::BalanceExtended {
            amount: funding.amount,
            source: funding.source,
            balance_after,
            at_ms: now_ms,
        }])
    }

    /// Refuse a transfer for good, unless it already arrived (idempotent).
    fn void_transfer(
        &self,
        transfer_id: String,
        now_ms: i64,
    ) -> Result<Vec<SandboxEvent>, SandboxError> {
        if self.taken_transfers.contains(&transfer_id) {
            return Err(SandboxError::TransferTaken);
        }
        if self.voided_transfers.contains(&transfer_id) {
            return Ok(vec![]);
        }
        Ok(vec![SandboxEvent::TransferVoided {
            transfer_id,
            at_ms: now_ms,
        }])
    }

    /// Credits from a voided transfer went back to the account: refuse them.
    fn check_transfer(&self, source: &FundingSource) -> Result<(), SandboxError> {
        match source {
            FundingSource::Account {
                transfer_id: Some(transfer_id),
                ..
            } if self.voided_transfers.contains(transfer_id) => Err(SandboxError::TransferVoided),
            _ => Ok(()),
        }
    }

    /// A charge for running time up to `now_ms`, ending where the balance runs out.
    fn charge_until(&self, now_ms: i64) -> Vec<SandboxEvent> {
        let (SandboxState::Running, Some(from_ms)) = (self.state, self.charged_until_ms) else {
            return vec![];
        };
        let exhausted = metering::exhausted_at(self.balance, self.msats_per_second, from_ms)
            .unwrap_or(i64::MAX);
        let to_ms = now_ms.min(exhausted);
        if to_ms <= from_ms {
            return vec![];
        }
        let amount = metering::charge(self.msats_per_second, from_ms, to_ms, self.balance);
        vec![SandboxEvent::UsageCharged {
            from_ms,
            to_ms,
            msats_per_second: self.msats_per_second,
            amount,
            balance_after: self.balance.saturating_sub(amount),
        }]
    }

    /// The id of the transfer that returns this sandbox's credits, named
    /// after the sandbox its funding transfers name (the aggregate is not
    /// told its own id); `None` for a sandbox funded before transfers had ids.
    fn refund_transfer_id(&self) -> Option<String> {
        self.taken_transfers.iter().next().map(|funding| {
            crate::transfers::refund_transfer_id(crate::transfers::sandbox_of(funding))
        })
    }

    /// Credits left in an ending sandbox go back to the owning account.
    fn refund_to_account(&self, earlier: &[SandboxEvent], now_ms: i64) -> Option<SandboxEvent> {
        if self.billing != Some(BillingMethod::Credits) {
            return None;
        }
        let charged_now: u64 = earlier
            .iter()
            .map(|e| match e {
                SandboxEvent::UsageCharged { amount, .. } => amount.0,
                _ => 0,
            })
            .sum();
        let left = self.balance.saturating_sub(Msats(charged_now));
        let account_id = self.owner.clone()?;
        (!left.is_zero()).then(|| SandboxEvent::RefundIssued {
            amount: left,
            destination: RefundDestination::Account {
                account_id,
                transfer_id: self.refund_transfer_id(),
            },
            balance_after: Msats::ZERO,
            at_ms: now_ms,
        })
    }

    /// The balance left after paying `amount` of it out: only an ended
    /// sandbox pays out, a positive amount, at most its balance.
    fn balance_after_paying_out(&self, amount: Msats) -> Result<Msats, SandboxError> {
        if !self.state.is_ended() {
            return Err(SandboxError::NotEnded);
        }
        if amount.is_zero() {
            return Err(SandboxError::InvalidAmount);
        }
        self.balance
            .checked_sub(amount)
            .ok_or(SandboxError::RefundTooLarge)
    }

    fn ensure_alive(&self) -> Result<(), SandboxError> {
        if self.state.is_ended() {
            return Err(SandboxError::Ended(self.state));
        }
        Ok(())
    }

    fn ensure_running(&self, action: &'static str) -> Result<(), SandboxError> {
        self.ensure_alive()?;
        if self.state != SandboxState::Running {
            return Err(SandboxError::NotRunning {
                state: self.state,
                action,
            });
        }
        Ok(())
    }

    fn invalid(&self, action: &'static str) -> SandboxError {
        SandboxError::InvalidTransition {
            state: self.state,
            action,
        }
    }
}

fn check_funding(billing: BillingMethod, funding: &Funding) -> Result<(), SandboxError> {
    if funding.amount.is_zero() {
        return Err(SandboxError::InvalidAmount);
    }
    match (billing, &funding.source) {
        (BillingMethod::Credits, FundingSource::Account { .. })
        | (BillingMethod::Lightning, FundingSource::Payment { .. }) => Ok(()),
        _ => Err(SandboxError::WrongFundingSource),
    }
}
