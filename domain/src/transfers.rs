//! Credit transfers between an account and a sandbox. Each transfer has an
//! id and crosses two streams: it is *started* by the side the credits
//! leave and *completed* by the side they reach, with the same id:
//! - account → sandbox (funding at create, a top-up): started by the
//!   account's `CreditsAllocated`, completed by the sandbox's
//!   `BalanceExtended` — or, when no sandbox took it, *undone*: the sandbox
//!   records `TransferVoided` (so it can never take it later) and then the
//!   account `AllocationUndone`;
//! - sandbox → account (the unused balance of an ended sandbox): started by
//!   the sandbox's `RefundIssued`, completed by the account's
//!   `CreditsReturned`.
//!
//! Per transfer, what left the account net must equal what the sandbox kept
//! net: `allocated − returned = funded − refunded`. The auditor checks it
//! for every id; the leader finishes (or undoes) what a crash left open.
//! Events written before transfers had ids are keyed by their sandbox.

use crate::account::AccountEvent;
use crate::sandbox::{FundingSource, RefundDestination, SandboxEvent};
use crate::Msats;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The sandbox a credit movement names. Legacy compensations carry a suffix
/// (`{sandbox}:topup:{ms}`, `{sandbox}:undo:{ms}`), as do transfer ids;
/// sandbox ids never hold ':'.
pub fn sandbox_of(credit_id: &str) -> &str {
    credit_id.split(':').next().unwrap_or(credit_id)
}

/// The id of the transfer that funds a sandbox at create.
pub fn funding_transfer_id(sandbox_id: &str) -> String {
    format!("{sandbox_id}:fund")
}

/// The id of a top-up transfer (`nonce` makes it unique).
pub fn top_up_transfer_id(sandbox_id: &str, nonce: &str) -> String {
    format!("{sandbox_id}:topup:{nonce}")
}

/// The id of the transfer that returns an ended sandbox's unused credits
/// (a sandbox ends, and refunds to its account, once).
pub fn refund_transfer_id(sandbox_id: &str) -> String {
    format!("{sandbox_id}:refund")
}

/// Whether `key` is a transfer id (as opposed to the sandbox id that keys a
/// legacy movement, which had none).
pub fn is_transfer_id(key: &str) -> bool {
    key.contains(':')
}

/// Both sides of one transfer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditTransfer {
    pub sandbox_id: String,
    /// The account on the other side.
    pub account_id: Option<String>,
    /// Account side: allocated to the sandbox, and taken back (returned
    /// refunds and undone allocations).
    pub allocated: Msats,
    pub returned: Msats,
    /// Of `returned`: allocations undone because no sandbox took them.
    pub undone: Msats,
    /// Sandbox side: funded from the account, and refunded to it.
    pub funded: Msats,
    pub refunded: Msats,
    /// The sandbox refused this transfer for good.
    pub voided: bool,
    /// When the transfer started (the first event seen for it).
    pub started_at_ms: i64,
}

fn add(a: Msats, b: Msats) -> Msats {
    Msats(a.0.saturating_add(b.0))
}

impl CreditTransfer {
    /// Net credits that left the account minus net credits the sandbox
    /// kept: what the account is owed (an allocation that reached no
    /// sandbox, or a refund not taken back yet); zero once complete;
    /// negative only if the account took back more than the sandbox gave up.
    pub fn gap(&self) -> i128 {
        (self.allocated.0 as i128 - self.returned.0 as i128)
            - (self.funded.0 as i128 - self.refunded.0 as i128)
    }

    /// A refund of the sandbox (not an allocation of the account).
    pub fn is_refund(&self) -> bool {
        !self.refunded.is_zero()
    }

    fn touch(&mut self, sandbox_id: &str, at_ms: i64) {
        if self.sandbox_id.is_empty() {
            self.sandbox_id = sandbox_id.to_string();
            self.started_at_ms = at_ms;
        }
        self.started_at_ms = self.started_at_ms.min(at_ms);
    }
}

/// Every credit transfer, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditTransfers {
    by_id: BTreeMap<String, CreditTransfer>,
}

impl CreditTransfers {
    /// Count an account event that moves credits; returns its transfer's id.
    pub fn record_account_event(
        &mut self,
        account_id: &str,
        event: &AccountEvent,
    ) -> Option<String> {
        let (key, sandbox_id, at_ms) = match event {
            AccountEvent::CreditsAllocated {
                sandbox_id,
                transfer_id,
                at_ms,
                ..
            }
            | AccountEvent::CreditsReturned {
                sandbox_id,
                transfer_id,
                at_ms,
                ..
            }
            | AccountEvent::AllocationUndone {
                sandbox_id,
                transfer_id,
                at_ms,
                ..
            } => (
                key_of(transfer_id.as_deref(), sandbox_id),
                sandbox_of(sandbox_id),
                *at_ms,
            ),
            _ => return None,
        };
        let transfer = self.by_id.entry(key.clone()).or_default();
        transfer.touch(sandbox_id, at_ms);
        transfer.account_id = Some(account_id.to_string());
        match event {
            AccountEvent::CreditsAllocated { amount, .. } => {
                transfer.allocated = add(transfer.allocated, *amount);
            }
            AccountEvent::CreditsReturned { amount, .. } => {
                transfer.returned = add(transfer.returned, *amount);
            }
            AccountEvent::AllocationUndone { amount, .. } => {
                transfer.returned = add(transfer.returned, *amount);
                transfer.undone = add(transfer.undone, *amount);
            }
            _ => {}
        }
        Some(key)
    }

    /// Count a sandbox event that moves credits from or to an account;
    /// returns its transfer's id.
    pub fn record_sandbox_event(
        &mut self,
        sandbox_id: &str,
        event: &SandboxEvent,
    ) -> Option<String> {
        let (transfer_id, account_id, at_ms) = match event {
            SandboxEvent::BalanceExtended {
                source:
                    FundingSource::Account {
                        account_id,
                        transfer_id,
                    },
                at_ms,
                ..
            }
            | SandboxEvent::RefundIssued {
                destination:
                    RefundDestination::Account {
                        account_id,
                        transfer_id,
                    },
                at_ms,
                ..
            } => (transfer_id.as_deref(), Some(account_id), *at_ms),
            SandboxEvent::TransferVoided { transfer_id, at_ms } => {
                (Some(transfer_id.as_str()), None, *at_ms)
            }
            _ => return None,
        };
        let key = key_of(transfer_id, sandbox_id);
        let transfer = self.by_id.entry(key.clone()).or_default();
        transfer.touch(sandbox_id, at_ms);
        if let Some(account_id) = account_id {
            transfer.account_id = Some(account_id.clone());
        }
        match event {
            SandboxEvent::BalanceExtended { amount, .. } => {
                transfer.funded = add(transfer.funded, *amount);
            }
            SandboxEvent::RefundIssued { amount, .. } => {
                transfer.refunded = add(transfer.refunded, *amount);
            }
            _ => transfer.voided = true,
        }
        Some(key)
    }

    pub fn get(&self, transfer_id: &str) -> Option<&CreditTransfer> {
        self.by_id.get(transfer_id)
    }

    /// Every transfer, by id.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &CreditTransfer)> {
        self.by_id.iter()
    }

    /// Transfers the account is still owed something by (a crash between
    /// the two commits, or a process still between them).
    pub fn open(&self) -> impl Iterator<Item = (&String, &CreditTransfer)> {
        self.by_id.iter().filter(|(_, t)| t.gap() > 0)
    }

    /// Forget the transfers that are complete (a read model keeps only
    /// what may still need finishing).
    pub fn forget_complete(&mut self, transfer_id: &str) {
        if self
            .by_id
            .get(transfer_id)
            .is_some_and(|t| t.gap() == 0 && !(t.allocated.is_zero() && t.refunded.is_zero()))
        {
            self.by_id.remove(transfer_id);
        }
    }
}

/// The key of a movement: its transfer id, or (legacy) its sandbox.
fn key_of(transfer_id: Option<&str>, credit_id: &str) -> String {
    transfer_id.unwrap_or(sandbox_of(credit_id)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allocated(transfer_id: Option<&str>, amount: u64, at_ms: i64) -> AccountEvent {
        AccountEvent::CreditsAllocated {
            sandbox_id: "s".into(),
            transfer_id: transfer_id.map(str::to_string),
            amount: Msats(amount),
            balance_after: Msats(0),
            at_ms,
        }
    }

    fn funded(transfer_id: Option<&str>, amount: u64) -> SandboxEvent {
        SandboxEvent::BalanceExtended {
            amount: Msats(amount),
            source: FundingSource::Account {
                account_id: "a".into(),
                transfer_id: transfer_id.map(str::to_string),
            },
            balance_after: Msats(amount),
            at_ms: 6,
        }
    }

    #[test]
    fn movements_name_their_sandbox() {
        assert_eq!(sandbox_of("abc"), "abc");
        assert_eq!(sandbox_of("abc:topup:17"), "abc");
        assert_eq!(sandbox_of(&funding_transfer_id("abc")), "abc");
        assert_eq!(sandbox_of(&refund_transfer_id("abc")), "abc");
        assert!(is_transfer_id(&top_up_transfer_id("abc", "x")));
        assert!(!is_transfer_id("abc"));
    }

    #[test]
    fn each_transfer_is_matched_by_its_own_id() {
        let mut t = CreditTransfers::default();
        t.record_account_event("a", &allocated(Some("s:fund"), 30_000, 5));
        t.record_account_event("a", &allocated(Some("s:topup:1"), 10_000, 6));
        t.record_sandbox_event("s", &funded(Some("s:topup:1"), 10_000));
        let open: Vec<_> = t.open().map(|(id, t)| (id.clone(), t.gap())).collect();
        assert_eq!(open, vec![("s:fund".to_string(), 30_000)]);
        t.record_sandbox_event("s", &funded(Some("s:fund"), 30_000));
        assert_eq!(t.open().count(), 0);
        t.record_sandbox_event(
            "s",
            &SandboxEvent::RefundIssued {
                amount: Msats(10_000),
                destination: RefundDestination::Account {
                    account_id: "a".into(),
                    transfer_id: Some("s:refund".into()),
                },
                balance_after: Msats(0),
                at_ms: 7,
            },
        );
        let refund = t.get("s:refund").cloned().unwrap_or_default();
        assert!(refund.is_refund());
        assert_eq!(refund.gap(), 10_000, "refunded, not yet taken back");
        t.record_account_event(
            "a",
            &AccountEvent::CreditsReturned {
                sandbox_id: "s".into(),
                transfer_id: Some("s:refund".into()),
                amount: Msats(10_000),
                balance_after: Msats(10_000),
                at_ms: 8,
            },
        );
        assert_eq!(t.open().count(), 0);
    }

    #[test]
    fn an_undone_allocation_closes_its_transfer() {
        let mut t = CreditTransfers::default();
        t.record_account_event("a", &allocated(Some("s:fund"), 30_000, 5));
        t.record_sandbox_event(
            "s",
            &SandboxEvent::TransferVoided {
                transfer_id: "s:fund".into(),
                at_ms: 9,
            },
        );
        t.record_account_event(
            "a",
            &AccountEvent::AllocationUndone {
                sandbox_id: "s".into(),
                transfer_id: Some("s:fund".into()),
                amount: Msats(30_000),
                balance_after: Msats(30_000),
                at_ms: 10,
            },
        );
        let transfer = t.get("s:fund").cloned().unwrap_or_default();
        assert!(transfer.voided);
        assert_eq!(transfer.undone, Msats(30_000));
        assert_eq!(transfer.gap(), 0);
        t.forget_complete("s:fund");
        assert!(t.get("s:fund").is_none());
    }

    #[test]
    fn legacy_movements_balance_per_sandbox() {
        let mut t = CreditTransfers::default();
        t.record_account_event("a", &allocated(None, 30_000, 5));
        t.record_sandbox_event("s", &funded(None, 20_000));
        assert_eq!(t.get("s").map(CreditTransfer::gap), Some(10_000));
        t.record_account_event(
            "a",
            &AccountEvent::CreditsReturned {
                sandbox_id: "s:undo:9".into(),
                transfer_id: None,
                amount: Msats(10_000),
                balance_after: Msats(10_000),
                at_ms: 9,
            },
        );
        assert_eq!(t.get("s").map(CreditTransfer::gap), Some(0));
    }
}
