//! Credits that move between an account and a sandbox cross two streams: the
//! account allocates (then, maybe, takes back a compensation), the sandbox is
//! funded (then refunds its unused balance, which the account takes back).
//! Per sandbox, what left the account net must equal what the sandbox kept
//! net: `allocated − returned = funded − refunded`. The auditor checks it
//! from the raw log; the leader finds what a crash between the two commits
//! stranded and gives it back to the account.

use crate::account::AccountEvent;
use crate::sandbox::{FundingSource, RefundDestination, SandboxEvent};
use crate::Msats;
use serde::{Deserialize, Serialize};

/// The sandbox a credit movement names. Compensations carry a suffix
/// (`{sandbox}:topup:{ms}`, `{sandbox}:undo:{ms}`); sandbox ids never hold ':'.
pub fn sandbox_of(credit_id: &str) -> &str {
    credit_id.split(':').next().unwrap_or(credit_id)
}

/// Both sides of the credits of one sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditTransfers {
    /// The account on the other side.
    pub account_id: Option<String>,
    /// Account side: allocated to the sandbox, and taken back.
    pub allocated: Msats,
    pub returned: Msats,
    /// Sandbox side: funded from the account, and refunded to it.
    pub funded: Msats,
    pub refunded: Msats,
    /// When the account last allocated to it.
    pub last_allocated_at_ms: i64,
}

fn add(a: Msats, b: Msats) -> Msats {
    Msats(a.0.saturating_add(b.0))
}

impl CreditTransfers {
    /// Count an account event that moves credits for this sandbox.
    pub fn record_account_event(&mut self, account_id: &str, event: &AccountEvent) {
        match event {
            AccountEvent::CreditsAllocated { amount, at_ms, .. } => {
                self.account_id = Some(account_id.to_string());
                self.allocated = add(self.allocated, *amount);
                self.last_allocated_at_ms = self.last_allocated_at_ms.max(*at_ms);
            }
            AccountEvent::CreditsReturned { amount, .. } => {
                self.returned = add(self.returned, *amount);
            }
            _ => {}
        }
    }

    /// Count a sandbox event that moves credits from or to an account.
    pub fn record_sandbox_event(&mut self, event: &SandboxEvent) {
        match event {
            SandboxEvent::BalanceExtended {
                amount,
                source: FundingSource::Account { .. },
                ..
            } => self.funded = add(self.funded, *amount),
            SandboxEvent::RefundIssued {
                amount,
                destination: RefundDestination::Account { .. },
                ..
            } => self.refunded = add(self.refunded, *amount),
            _ => {}
        }
    }

    /// Net credits that left the account minus net credits the sandbox
    /// kept: what the account is owed (an allocation that reached no
    /// sandbox, or a refund not taken back yet); zero at rest; negative only
    /// if the account took back more than the sandbox gave up.
    pub fn gap(&self) -> i128 {
        (self.allocated.0 as i128 - self.returned.0 as i128)
            - (self.funded.0 as i128 - self.refunded.0 as i128)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compensations_name_their_sandbox() {
        assert_eq!(sandbox_of("abc"), "abc");
        assert_eq!(sandbox_of("abc:topup:17"), "abc");
        assert_eq!(sandbox_of("abc:undo:17"), "abc");
    }

    #[test]
    fn an_allocation_that_reached_no_sandbox_is_a_gap() {
        let mut t = CreditTransfers::default();
        t.record_account_event(
            "a",
            &AccountEvent::CreditsAllocated {
                sandbox_id: "s".into(),
                amount: Msats(30_000),
                balance_after: Msats(0),
                at_ms: 5,
            },
        );
        assert_eq!(t.gap(), 30_000);
        t.record_sandbox_event(&SandboxEvent::BalanceExtended {
            amount: Msats(30_000),
            source: FundingSource::Account {
                account_id: "a".into(),
            },
            balance_after: Msats(30_000),
            at_ms: 6,
        });
        assert_eq!(t.gap(), 0);
        t.record_sandbox_event(&SandboxEvent::RefundIssued {
            amount: Msats(10_000),
            destination: RefundDestination::Account {
                account_id: "a".into(),
            },
            balance_after: Msats(0),
            at_ms: 7,
        });
        assert_eq!(t.gap(), 10_000, "refunded, not yet taken back");
        t.record_account_event(
            "a",
            &AccountEvent::CreditsReturned {
                sandbox_id: "s".into(),
                amount: Msats(10_000),
                balance_after: Msats(10_000),
                at_ms: 8,
            },
        );
        assert_eq!(t.gap(), 0);
    }
}
