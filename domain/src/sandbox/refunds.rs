//! Paying out what an ended sandbox did not use: credits back to the
//! account, and Lightning refunds step by step (reserve, settle or release,
//! record a failure to retry, offer a withdraw link), one at a time and
//! never more than the balance.

use super::command::SandboxCommand;
use super::error::SandboxError;
use super::event::{BillingMethod, RefundDestination, RefundTarget, SandboxEvent};
use super::state::{RefundInFlight, Sandbox};
use crate::Msats;

impl Sandbox {
    /// The events of a refund command (see `Sandbox::decide`).
    pub(super) fn decide_refund(
        &self,
        command: SandboxCommand,
    ) -> Result<Vec<SandboxEvent>, SandboxError> {
        match command {
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
            // `state::decide` routes each command to its concern; another
            // concern's is refused, never a panic.
            _ => Err(self.invalid("a command routed to the wrong concern")),
        }
    }

    /// The state a refund event leaves (see `Aggregate::apply`).
    pub(super) fn apply_refund(&mut self, event: SandboxEvent) {
        match event {
            SandboxEvent::RefundIssued {
                amount,
                balance_after,
                ..
            } => {
                self.refunded = Msats(self.refunded.0.saturating_add(amount.0));
                self.balance = balance_after;
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
            // `state::apply` routes each event to its concern; another
            // concern's changes nothing here.
            _ => {}
        }
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
    pub(super) fn refund_to_account(
        &self,
        earlier: &[SandboxEvent],
        now_ms: i64,
    ) -> Option<SandboxEvent> {
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
}
