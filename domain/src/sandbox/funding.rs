//! Money coming in and being used: funding by credit transfers or paid
//! invoices (each credited once, a voided transfer never), the invoices
//! themselves, and the metering that charges running time against the
//! balance.

use super::command::{Funding, SandboxCommand};
use super::error::SandboxError;
use super::event::{BillingMethod, FundingSource, SandboxEvent};
use super::state::{Sandbox, SandboxState};
use crate::metering;
use crate::Msats;

impl Sandbox {
    /// The events of a funding, invoice or charging command (see
    /// `Sandbox::decide`).
    pub(super) fn decide_funding(
        &self,
        command: SandboxCommand,
    ) -> Result<Vec<SandboxEvent>, SandboxError> {
        match command {
            SandboxCommand::VoidTransfer {
                transfer_id,
                now_ms,
            } => self.void_transfer(transfer_id, now_ms),
            SandboxCommand::ExtendBalance { funding, now_ms } => self.extend(funding, now_ms),
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
            // `state::decide` routes each command to its concern; another
            // concern's is refused, never a panic.
            _ => Err(self.invalid("a command routed to the wrong concern")),
        }
    }

    /// The state a funding, invoice or charging event leaves (see
    /// `Aggregate::apply`).
    pub(super) fn apply_funding(&mut self, event: SandboxEvent) {
        match event {
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
            SandboxEvent::TransferVoided { transfer_id, .. } => {
                self.voided_transfers.insert(transfer_id);
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
            // `state::apply` routes each event to its concern; another
            // concern's changes nothing here.
            _ => {}
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
    pub(super) fn check_transfer(&self, source: &FundingSource) -> Result<(), SandboxError> {
        match source {
            FundingSource::Account {
                transfer_id: Some(transfer_id),
                ..
            } if self.voided_transfers.contains(transfer_id) => Err(SandboxError::TransferVoided),
            _ => Ok(()),
        }
    }

    /// A charge for running time up to `now_ms`, ending where the balance runs out.
    pub(super) fn charge_until(&self, now_ms: i64) -> Vec<SandboxEvent> {
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
}

/// A positive amount, from the source the billing method takes.
pub(super) fn check_funding(billing: BillingMethod, funding: &Funding) -> Result<(), SandboxError> {
    if funding.amount.is_zero() {
        return Err(SandboxError::InvalidAmount);
    }
    match (billing, &funding.source) {
        (BillingMethod::Credits, FundingSource::Account { .. })
        | (BillingMethod::Lightning, FundingSource::Payment { .. }) => Ok(()),
        _ => Err(SandboxError::WrongFundingSource),
    }
}
