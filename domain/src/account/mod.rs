//! The `Account` aggregate: an API key's owner and its credits, deposited,
//! allocated to sandboxes and returned from them.

use crate::money::MSATS_PER_CENT;
use crate::Msats;
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[cfg(test)]
mod tests;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountCommand {
    OpenAccount {
        name: String,
        key_hash: String,
        now_ms: i64,
    },
    DepositCredits {
        cents: u64,
        now_ms: i64,
    },
    /// Start transfer `transfer_id` of `amount` to a sandbox.
    AllocateCredits {
        sandbox_id: String,
        transfer_id: String,
        amount: Msats,
        now_ms: i64,
    },
    /// Complete transfer `transfer_id`: a sandbox's refund of its unused
    /// credits. Once per transfer: a repeat is ignored.
    ReturnCredits {
        sandbox_id: String,
        transfer_id: String,
        amount: Msats,
        now_ms: i64,
    },
    /// Undo allocation `transfer_id`, which the sandbox has voided (it never
    /// took it and never will). Once per transfer: a repeat is ignored.
    UndoAllocation {
        sandbox_id: String,
        transfer_id: String,
        amount: Msats,
        now_ms: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountEvent {
    AccountOpened {
        name: String,
        key_hash: String,
        at_ms: i64,
    },
    CreditsDeposited {
        cents: u64,
        amount: Msats,
        balance_after: Msats,
        at_ms: i64,
    },
    /// Version 1.1 names its transfer (1.0 did not: `transfer_id: null`,
    /// and `crate::transfers` keys it by its sandbox).
    CreditsAllocated {
        sandbox_id: String,
        transfer_id: Option<String>,
        amount: Msats,
        balance_after: Msats,
        at_ms: i64,
    },
    /// Version 1.1 names its transfer, like `CreditsAllocated`.
    CreditsReturned {
        sandbox_id: String,
        transfer_id: Option<String>,
        amount: Msats,
        balance_after: Msats,
        at_ms: i64,
    },
    /// An allocation no sandbox took, given back (its sandbox voided it).
    AllocationUndone {
        sandbox_id: String,
        transfer_id: Option<String>,
        amount: Msats,
        balance_after: Msats,
        at_ms: i64,
    },
}

impl DomainEvent for AccountEvent {
    fn event_type(&self) -> String {
        match self {
            AccountEvent::AccountOpened { .. } => "AccountOpened",
            AccountEvent::CreditsDeposited { .. } => "CreditsDeposited",
            AccountEvent::CreditsAllocated { .. } => "CreditsAllocated",
            AccountEvent::CreditsReturned { .. } => "CreditsReturned",
            AccountEvent::AllocationUndone { .. } => "AllocationUndone",
        }
        .to_string()
    }

    /// Each variant's payload version (see `crate::upcasting`).
    fn event_version(&self) -> String {
        match self {
            AccountEvent::CreditsAllocated { .. } | AccountEvent::CreditsReturned { .. } => "1.1",
            AccountEvent::AccountOpened { .. }
            | AccountEvent::CreditsDeposited { .. }
            | AccountEvent::AllocationUndone { .. } => "1.0",
        }
        .to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("account not found")]
    NotFound,
    #[error("account already exists")]
    AlreadyOpened,
    #[error("amount must be positive")]
    InvalidAmount,
    #[error(
        "insufficient credits: {available_cents} cents available, {requested_cents} requested"
    )]
    InsufficientCredits {
        available_cents: u64,
        requested_cents: u64,
    },
    #[error("amount overflows")]
    Overflow,
}

/// Snapshots of this state are stored: fields added later need defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Account {
    pub opened: bool,
    pub balance: Msats,
    /// Transfers to this account already completed or undone (legacy
    /// returns: their sandbox id), so a repeat is ignored.
    #[serde(alias = "returned_sandboxes")]
    pub settled_transfers: BTreeSet<String>,
}

impl Aggregate for Account {
    const TYPE: &'static str = "Account";
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = AccountError;
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
            AccountEvent::AccountOpened { .. } => self.opened = true,
            AccountEvent::CreditsDeposited { balance_after, .. }
            | AccountEvent::CreditsAllocated { balance_after, .. } => self.balance = balance_after,
            AccountEvent::CreditsReturned {
                sandbox_id,
                transfer_id,
                balance_after,
                ..
            }
            | AccountEvent::AllocationUndone {
                sandbox_id,
                transfer_id,
                balance_after,
                ..
            } => {
                self.balance = balance_after;
                self.settled_transfers
                    .insert(transfer_id.unwrap_or(sandbox_id));
            }
        }
    }
}

impl Account {
    /// The balance after taking back `amount` by transfer `transfer_id`;
    /// nothing when there is nothing to take or it was taken already.
    fn take_back(&self, transfer_id: &str, amount: Msats) -> Result<Option<Msats>, AccountError> {
        if amount.is_zero() || self.settled_transfers.contains(transfer_id) {
            return Ok(None);
        }
        self.balance
            .checked_add(amount)
            .map(Some)
            .ok_or(AccountError::Overflow)
    }

    pub fn decide(&self, command: AccountCommand) -> Result<Vec<AccountEvent>, AccountError> {
        if let AccountCommand::OpenAccount {
            name,
            key_hash,
            now_ms,
        } = command
        {
            if self.opened {
                return Err(AccountError::AlreadyOpened);
            }
            return Ok(vec![AccountEvent::AccountOpened {
                name,
                key_hash,
                at_ms: now_ms,
            }]);
        }
        if !self.opened {
            return Err(AccountError::NotFound);
        }
        match command {
            AccountCommand::OpenAccount { .. } => Err(AccountError::AlreadyOpened),
            AccountCommand::DepositCredits { cents, now_ms } => {
                let amount = Msats::from_cents(cents).ok_or(AccountError::Overflow)?;
                if amount.is_zero() {
                    return Err(AccountError::InvalidAmount);
                }
                let balance_after = self
                    .balance
                    .checked_add(amount)
                    .ok_or(AccountError::Overflow)?;
                Ok(vec![AccountEvent::CreditsDeposited {
                    cents,
                    amount,
                    balance_after,
                    at_ms: now_ms,
                }])
            }
            AccountCommand::AllocateCredits {
                sandbox_id,
                transfer_id,
                amount,
                now_ms,
            } => {
                if amount.is_zero() {
                    return Err(AccountError::InvalidAmount);
                }
                let balance_after =
                    self.balance
                        .checked_sub(amount)
                        .ok_or(AccountError::InsufficientCredits {
                            available_cents: self.balance.whole_cents(),
                            requested_cents: amount.0.div_ceil(MSATS_PER_CENT),
                        })?;
                Ok(vec![AccountEvent::CreditsAllocated {
                    sandbox_id,
                    transfer_id: Some(transfer_id),
                    amount,
                    balance_after,
                    at_ms: now_ms,
                }])
            }
            AccountCommand::ReturnCredits {
                sandbox_id,
                transfer_id,
                amount,
                now_ms,
            } => Ok(self
                .take_back(&transfer_id, amount)?
                .map(|balance_after| AccountEvent::CreditsReturned {
                    sandbox_id,
                    transfer_id: Some(transfer_id),
                    amount,
                    balance_after,
                    at_ms: now_ms,
                })
                .into_iter()
                .collect()),
            AccountCommand::UndoAllocation {
                sandbox_id,
                transfer_id,
                amount,
                now_ms,
            } => Ok(self
                .take_back(&transfer_id, amount)?
                .map(|balance_after| AccountEvent::AllocationUndone {
                    sandbox_id,
                    transfer_id: Some(transfer_id),
                    amount,
                    balance_after,
                    at_ms: now_ms,
                })
                .into_iter()
                .collect()),
        }
    }
}
