//! The account view: name, key hash and credit balance.

use domain::account::AccountEvent;
use domain::Msats;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountView {
    pub account_id: String,
    pub name: String,
    pub key_hash: String,
    pub balance: Msats,
    pub created_at_ms: i64,
}

impl AccountView {
    pub(crate) fn opened(account_id: &str, event: &AccountEvent) -> Option<AccountView> {
        let AccountEvent::AccountOpened {
            name,
            key_hash,
            at_ms,
        } = event
        else {
            return None;
        };
        Some(AccountView {
            account_id: account_id.to_string(),
            name: name.clone(),
            key_hash: key_hash.clone(),
            balance: Msats::ZERO,
            created_at_ms: *at_ms,
        })
    }

    pub(crate) fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::AccountOpened { .. } => {}
            AccountEvent::CreditsDeposited { balance_after, .. }
            | AccountEvent::CreditsAllocated { balance_after, .. }
            | AccountEvent::CreditsReturned { balance_after, .. }
            | AccountEvent::AllocationUndone { balance_after, .. } => self.balance = *balance_after,
        }
    }
}

/// What moved an account's credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementKind {
    Deposit,
    Allocation,
    Return,
}

impl StatementKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StatementKind::Deposit => "deposit",
            StatementKind::Allocation => "allocation",
            StatementKind::Return => "return",
        }
    }
}

/// One movement of an account's credits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountEntry {
    pub sequence: usize,
    pub kind: StatementKind,
    pub sandbox_id: Option<String>,
    pub amount_msats: Msats,
    pub balance_after_msats: Msats,
    pub at_ms: i64,
}

/// The statement line an account event makes, if it moves credits.
pub(crate) fn statement_entry(sequence: usize, event: &AccountEvent) -> Option<AccountEntry> {
    let (kind, sandbox_id, amount, balance_after, at_ms) = match event {
        AccountEvent::AccountOpened { .. } => return None,
        AccountEvent::CreditsDeposited {
            amount,
            balance_after,
            at_ms,
            ..
        } => (StatementKind::Deposit, None, amount, balance_after, at_ms),
        AccountEvent::CreditsAllocated {
            sandbox_id,
            amount,
            balance_after,
            at_ms,
            ..
        } => (
            StatementKind::Allocation,
            Some(sandbox_id),
            amount,
            balance_after,
            at_ms,
        ),
        // An undone allocation comes back like a refund.
        AccountEvent::CreditsReturned {
            sandbox_id,
            amount,
            balance_after,
            at_ms,
            ..
        }
        | AccountEvent::AllocationUndone {
            sandbox_id,
            amount,
            balance_after,
            at_ms,
            ..
        } => (
            StatementKind::Return,
            Some(sandbox_id),
            amount,
            balance_after,
            at_ms,
        ),
    };
    // Legacy compensations were named `{sandbox}:undo:{ms}`.
    let sandbox_id = sandbox_id.map(|id| domain::transfers::sandbox_of(id).to_string());
    Some(AccountEntry {
        sequence,
        kind,
        sandbox_id,
        amount_msats: *amount,
        balance_after_msats: *balance_after,
        at_ms: *at_ms,
    })
}
