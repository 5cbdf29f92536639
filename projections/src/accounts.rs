//! The account view: name, key hash and credit balance.

use domain::account::AccountEvent;
use domain::Msats;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
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
            | AccountEvent::CreditsReturned { balance_after, .. } => self.balance = *balance_after,
        }
    }
}
