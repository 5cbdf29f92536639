//! The per-sandbox ledger: every movement of money with running totals.

use domain::sandbox::SandboxEvent;
use domain::Msats;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerKind {
    Deposit,
    Charge,
    Refund,
    /// Held for an outgoing payment being made (leaves the balance).
    RefundReserved,
    /// An outgoing payment failed: what it held is balance again.
    RefundReleased,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Sequence number of the event in the sandbox's stream.
    pub sequence: usize,
    pub kind: LedgerKind,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    pub msats_per_second: Option<u64>,
    pub amount_msats: Msats,
    pub balance_after_msats: Msats,
    pub total_paid_in_msats: Msats,
    pub total_charged_msats: Msats,
    pub total_refunded_msats: Msats,
    pub at_ms: i64,
}

/// The ledger entry an event makes, given the totals before it.
pub(crate) fn entry_for(
    sequence: usize,
    event: &SandboxEvent,
    previous: Option<&LedgerEntry>,
) -> Option<LedgerEntry> {
    let (paid, charged, refunded) = previous
        .map(|p| {
            (
                p.total_paid_in_msats,
                p.total_charged_msats,
                p.total_refunded_msats,
            )
        })
        .unwrap_or_default();
    let add = |a: Msats, b: Msats| Msats(a.0.saturating_add(b.0));
    let blank = |kind, amount, balance_after, at_ms| LedgerEntry {
        sequence,
        kind,
        from_ms: None,
        to_ms: None,
        duration_ms: None,
        msats_per_second: None,
        amount_msats: amount,
        balance_after_msats: balance_after,
        total_paid_in_msats: paid,
        total_charged_msats: charged,
        total_refunded_msats: refunded,
        at_ms,
    };
    match event {
        SandboxEvent::BalanceExtended {
            amount,
            balance_after,
            at_ms,
            ..
        } => Some(LedgerEntry {
            total_paid_in_msats: add(paid, *amount),
            ..blank(LedgerKind::Deposit, *amount, *balance_after, *at_ms)
        }),
        SandboxEvent::UsageCharged {
            from_ms,
            to_ms,
            msats_per_second,
            amount,
            balance_after,
        } => Some(LedgerEntry {
            from_ms: Some(*from_ms),
            to_ms: Some(*to_ms),
            duration_ms: Some(to_ms - from_ms),
            msats_per_second: Some(*msats_per_second),
            total_charged_msats: add(charged, *amount),
            ..blank(LedgerKind::Charge, *amount, *balance_after, *to_ms)
        }),
        SandboxEvent::RefundIssued {
            amount,
            balance_after,
            at_ms,
            ..
        } => Some(LedgerEntry {
            total_refunded_msats: add(refunded, *amount),
            ..blank(LedgerKind::Refund, *amount, *balance_after, *at_ms)
        }),
        SandboxEvent::RefundReserved {
            amount,
            balance_after,
            at_ms,
            ..
        } => Some(blank(
            LedgerKind::RefundReserved,
            *amount,
            *balance_after,
            *at_ms,
        )),
        SandboxEvent::RefundSettled { amount, at_ms, .. } => {
            let balance = previous.map(|p| p.balance_after_msats).unwrap_or_default();
            Some(LedgerEntry {
                total_refunded_msats: add(refunded, *amount),
                ..blank(LedgerKind::Refund, *amount, balance, *at_ms)
            })
        }
        SandboxEvent::RefundReleased {
            amount,
            balance_after,
            at_ms,
            ..
        } => Some(blank(
            LedgerKind::RefundReleased,
            *amount,
            *balance_after,
            *at_ms,
        )),
        _ => None,
    }
}
