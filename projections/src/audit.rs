//! The auditor's replay: verifies a whole event log from scratch, without
//! the projections — each stream's sequence and hash chain, and the ledger
//! invariant of every sandbox and account at every event.

use cqrs_es::Aggregate;
use domain::account::{Account, AccountEvent};
use domain::chain::{commit_hash, ChainedEvent, GENESIS, HASH_KEY, PREV_KEY};
use domain::metering::interval_cost;
use domain::money::MSATS_PER_CENT;
use domain::sandbox::{FundingSource, Sandbox, SandboxEvent, SandboxState};
use domain::transfers::{is_transfer_id, CreditTransfers};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

pub use domain::ports::StoredEvent;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: usize,
    pub rule: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditReport {
    pub streams: usize,
    pub events: usize,
    pub sandboxes: usize,
    pub accounts: usize,
    pub paid_in_msats: u64,
    pub charged_msats: u64,
    pub refunded_msats: u64,
    pub balance_msats: u64,
    pub violations: Vec<Violation>,
}

impl AuditReport {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

struct Stream<'a> {
    aggregate_type: &'a str,
    aggregate_id: &'a str,
    events: Vec<&'a StoredEvent>,
}

impl Stream<'_> {
    fn violation(&self, sequence: usize, rule: impl Into<String>) -> Violation {
        Violation {
            aggregate_type: self.aggregate_type.to_string(),
            aggregate_id: self.aggregate_id.to_string(),
            sequence,
            rule: rule.into(),
        }
    }
}

/// Audit every stream of `events` (in any order).
pub fn audit(events: &[StoredEvent]) -> AuditReport {
    let mut streams: BTreeMap<(&str, &str), Vec<&StoredEvent>> = BTreeMap::new();
    for e in events {
        streams
            .entry((e.aggregate_type.as_str(), e.aggregate_id.as_str()))
            .or_default()
            .push(e);
    }
    let mut report = AuditReport {
        streams: streams.len(),
        events: events.len(),
        ..AuditReport::default()
    };
    let mut credited_payments: HashSet<String> = HashSet::new();
    for ((aggregate_type, aggregate_id), mut list) in streams {
        list.sort_by_key(|e| e.sequence);
        let stream = Stream {
            aggregate_type,
            aggregate_id,
            events: list,
        };
        check_sequence_and_chain(&stream, &mut report.violations);
        match aggregate_type {
            "Sandbox" => {
                report.sandboxes += 1;
                if let Some(sandbox) =
                    replay_sandbox(&stream, &mut credited_payments, &mut report.violations)
                {
                    report.paid_in_msats += sandbox.paid_in.0;
                    report.charged_msats += sandbox.charged.0;
                    report.refunded_msats += sandbox.refunded.0;
                    report.balance_msats += sandbox.balance.0;
                }
            }
            "Account" => {
                report.accounts += 1;
                replay_account(&stream, &mut report.violations);
            }
            other => report
                .violations
                .push(stream.violation(0, format!("unknown aggregate type {other}"))),
        }
    }
    check_transfers(events, &mut report.violations);
    report
}

/// Per credit transfer (`domain::transfers`), what left the account net
/// must be what the sandbox kept net: a gap is a transfer started and never
/// completed (credits stranded between two streams) or taken back twice; an
/// allocation may be undone only after its sandbox voided it.
fn check_transfers(events: &[StoredEvent], violations: &mut Vec<Violation>) {
    let mut transfers = CreditTransfers::default();
    for e in events {
        match e.aggregate_type.as_str() {
            "Account" => {
                if let Ok(event) = serde_json::from_value::<AccountEvent>(e.current_payload()) {
                    transfers.record_account_event(&e.aggregate_id, &event);
                }
            }
            "Sandbox" => {
                if let Ok(event) = serde_json::from_value::<SandboxEvent>(e.current_payload()) {
                    transfers.record_sandbox_event(&e.aggregate_id, &event);
                }
            }
            _ => {}
        }
    }
    for (transfer_id, transfer) in transfers.iter() {
        let account = transfer.account_id.as_deref().unwrap_or("?");
        let violation = |rule: String| Violation {
            aggregate_type: "Sandbox".to_string(),
            aggregate_id: transfer.sandbox_id.clone(),
            sequence: 0,
            rule,
        };
        if transfer.gap() != 0 {
            violations.push(violation(format!(
                "credit transfer {transfer_id} between account {account} and sandbox {} does not balance: allocated {} − returned {} ≠ funded {} − refunded {} (msat)",
                transfer.sandbox_id,
                transfer.allocated.0,
                transfer.returned.0,
                transfer.funded.0,
                transfer.refunded.0
            )));
        }
        if !transfer.undone.is_zero() && !transfer.voided && is_transfer_id(transfer_id) {
            violations.push(violation(format!(
                "credit transfer {transfer_id} was undone by account {account} but its sandbox never voided it"
            )));
        }
        if transfer.voided && !transfer.funded.is_zero() {
            violations.push(violation(format!(
                "credit transfer {transfer_id} reached its sandbox after being voided"
            )));
        }
    }
}

fn meta<'a>(event: &'a StoredEvent, key: &str) -> Option<&'a str> {
    event.metadata.get(key).and_then(Value::as_str)
}

fn check_sequence_and_chain(stream: &Stream<'_>, violations: &mut Vec<Violation>) {
    for (i, e) in stream.events.iter().enumerate() {
        if e.sequence != i + 1 {
            violations.push(stream.violation(
                e.sequence,
                format!(
                    "sequence {} where {} was expected: an event was deleted or reordered",
                    e.sequence,
                    i + 1
                ),
            ));
            return;
        }
    }
    let mut prev = GENESIS.to_string();
    let mut i = 0;
    while i < stream.events.len() {
        let first = stream.events[i];
        let (Some(hash), Some(claimed_prev)) = (meta(first, HASH_KEY), meta(first, PREV_KEY))
        else {
            violations.push(stream.violation(first.sequence, "the event carries no chain hash"));
            return;
        };
        let mut end = i + 1;
        while end < stream.events.len() && meta(stream.events[end], HASH_KEY) == Some(hash) {
            end += 1;
        }
        if claimed_prev != prev {
            violations.push(stream.violation(first.sequence, "the chain is broken: this commit does not follow the previous one (events deleted or reordered)"));
            return;
        }
        let chained: Vec<ChainedEvent<'_>> = stream.events[i..end]
            .iter()
            .map(|e| ChainedEvent {
                sequence: e.sequence,
                event_type: &e.event_type,
                event_version: &e.event_version,
                payload: &e.payload,
            })
            .collect();
        if commit_hash(&prev, stream.aggregate_type, stream.aggregate_id, &chained) != hash {
            violations.push(stream.violation(
                first.sequence,
                "the chain hash does not match: an event of this commit was edited",
            ));
            return;
        }
        prev = hash.to_string();
        i = end;
    }
}

fn replay_sandbox(
    stream: &Stream<'_>,
    credited: &mut HashSet<String>,
    violations: &mut Vec<Violation>,
) -> Option<Sandbox> {
    let mut sandbox = Sandbox::default();
    for stored in &stream.events {
        let event: SandboxEvent = match serde_json::from_value(stored.current_payload()) {
            Ok(event) => event,
            Err(e) => {
                violations
                    .push(stream.violation(stored.sequence, format!("unreadable payload: {e}")));
                return None;
            }
        };
        let before = sandbox.clone();
        let mut broken = |rule: String| violations.push(stream.violation(stored.sequence, rule));
        match &event {
            SandboxEvent::BalanceExtended {
                amount,
                source,
                balance_after,
                ..
            } => {
                if amount.is_zero() || before.balance.checked_add(*amount) != Some(*balance_after) {
                    broken(format!(
                        "a deposit of {} does not take the balance from {} to {}",
                        amount.0, before.balance.0, balance_after.0
                    ));
                }
                if let FundingSource::Payment { payment_hash } = source {
                    if !credited.insert(payment_hash.clone()) {
                        broken(format!("payment {payment_hash} is credited more than once"));
                    }
                }
            }
            SandboxEvent::UsageCharged {
                from_ms,
                to_ms,
                msats_per_second,
                amount,
                balance_after,
            } => {
                if before.state != SandboxState::Running {
                    broken(format!("a charge while the sandbox was {}", before.state));
                }
                if before.charged_until_ms != Some(*from_ms) || to_ms <= from_ms {
                    broken(format!("the charged interval [{from_ms}, {to_ms}) leaves a gap or overlaps (last charged up to {:?})", before.charged_until_ms));
                }
                let expected = interval_cost(
                    *msats_per_second,
                    u64::try_from(to_ms - from_ms).unwrap_or(0),
                )
                .min(before.balance);
                if *msats_per_second != before.msats_per_second || *amount != expected {
                    broken(format!("charged {} where the rate gives {} (min(floor(rate × ms / 1000), balance))", amount.0, expected.0));
                }
                if before.balance.checked_sub(*amount) != Some(*balance_after) {
                    broken("the balance after the charge is wrong".into());
                }
            }
            SandboxEvent::RefundIssued {
                amount,
                balance_after,
                ..
            } if before.balance.checked_sub(*amount) != Some(*balance_after) => {
                broken(format!(
                    "a refund of {} from a balance of {} leaves {}",
                    amount.0, before.balance.0, balance_after.0
                ));
            }
            _ => {}
        }
        sandbox.apply(event);
        if !sandbox.money_is_conserved() {
            violations.push(stream.violation(
                stored.sequence,
                "paid_in ≠ charged + refunded + reserved + balance",
            ));
        }
    }
    Some(sandbox)
}

fn replay_account(stream: &Stream<'_>, violations: &mut Vec<Violation>) {
    let mut account = Account::default();
    for stored in &stream.events {
        let event: AccountEvent = match serde_json::from_value(stored.current_payload()) {
            Ok(event) => event,
            Err(e) => {
                violations
                    .push(stream.violation(stored.sequence, format!("unreadable payload: {e}")));
                return;
            }
        };
        let before = account.balance;
        let consistent = match &event {
            AccountEvent::AccountOpened { .. } => true,
            AccountEvent::CreditsDeposited {
                cents,
                amount,
                balance_after,
                ..
            } => {
                cents.checked_mul(MSATS_PER_CENT) == Some(amount.0)
                    && before.checked_add(*amount) == Some(*balance_after)
            }
            AccountEvent::CreditsAllocated {
                amount,
                balance_after,
                ..
            } => before.checked_sub(*amount) == Some(*balance_after),
            AccountEvent::CreditsReturned {
                amount,
                balance_after,
                ..
            }
            | AccountEvent::AllocationUndone {
                amount,
                balance_after,
                ..
            } => before.checked_add(*amount) == Some(*balance_after),
        };
        if !consistent {
            violations.push(stream.violation(
                stored.sequence,
                "the account's balance does not follow from its events",
            ));
        }
        account.apply(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::sandbox::{BillingMethod, SandboxEvent};
    use domain::{Msats, TierName};

    /// A correctly chained sandbox stream of `events`, one commit each, and
    /// the account stream that allocated its credits.
    fn chained(id: &str, events: Vec<SandboxEvent>) -> Vec<StoredEvent> {
        let mut all = stream("Sandbox", id, events);
        all.extend(stream(
            "Account",
            "a",
            vec![
                domain::account::AccountEvent::AccountOpened {
                    name: "a".into(),
                    key_hash: "k".into(),
                    at_ms: 0,
                },
                domain::account::AccountEvent::CreditsDeposited {
                    cents: 1,
                    amount: Msats(10_000),
                    balance_after: Msats(10_000),
                    at_ms: 0,
                },
                domain::account::AccountEvent::CreditsAllocated {
                    sandbox_id: id.into(),
                    transfer_id: Some(format!("{id}:fund")),
                    amount: Msats(10_000),
                    balance_after: Msats(0),
                    at_ms: 0,
                },
            ],
        ));
        all
    }

    fn stream<E: serde::Serialize + cqrs_es::DomainEvent>(
        aggregate_type: &str,
        id: &str,
        events: Vec<E>,
    ) -> Vec<StoredEvent> {
        let mut prev = GENESIS.to_string();
        events
            .into_iter()
            .enumerate()
            .map(|(i, event)| {
                let payload = serde_json::to_value(&event).unwrap();
                let event_type = cqrs_es::DomainEvent::event_type(&event);
                let chained = [ChainedEvent {
                    sequence: i + 1,
                    event_type: &event_type,
                    event_version: "1.0",
                    payload: &payload,
                }];
                let hash = commit_hash(&prev, aggregate_type, id, &chained);
                let stored = StoredEvent {
                    aggregate_type: aggregate_type.into(),
                    aggregate_id: id.into(),
                    sequence: i + 1,
                    event_type,
                    event_version: "1.0".into(),
                    payload,
                    metadata: serde_json::json!({ PREV_KEY: prev, HASH_KEY: hash }),
                };
                prev = hash;
                stored
            })
            .collect()
    }

    fn lifecycle(charge: u64) -> Vec<SandboxEvent> {
        vec![
            SandboxEvent::SandboxCreated {
                owner: Some("a".into()),
                tier: TierName::Micro,
                msats_per_second: 1_000,
                billing: BillingMethod::Credits,
                label: None,
                image: "i".into(),
                token_hash: None,
                network: Default::default(),
                runtime: None,
                lifetime: Default::default(),
                env: None,
                at_ms: 0,
            },
            SandboxEvent::BalanceExtended {
                amount: Msats(10_000),
                source: FundingSource::Account {
                    account_id: "a".into(),
                    transfer_id: Some("s:fund".into()),
                },
                balance_after: Msats(10_000),
                at_ms: 0,
            },
            SandboxEvent::SandboxStarted {
                container_id: "c".into(),
                at_ms: 1_000,
            },
            SandboxEvent::UsageCharged {
                from_ms: 1_000,
                to_ms: 3_000,
                msats_per_second: 1_000,
                amount: Msats(charge),
                balance_after: Msats(10_000 - charge),
            },
        ]
    }

    /// Account `b`: 30,000 msat deposited, then allocated by transfer
    /// `ghost:fund` to a sandbox `ghost`.
    fn allocated_to_a_ghost() -> Vec<domain::account::AccountEvent> {
        vec![
            domain::account::AccountEvent::AccountOpened {
                name: "b".into(),
                key_hash: "k2".into(),
                at_ms: 0,
            },
            domain::account::AccountEvent::CreditsDeposited {
                cents: 3,
                amount: Msats(30_000),
                balance_after: Msats(30_000),
                at_ms: 0,
            },
            domain::account::AccountEvent::CreditsAllocated {
                sandbox_id: "ghost".into(),
                transfer_id: Some("ghost:fund".into()),
                amount: Msats(30_000),
                balance_after: Msats(0),
                at_ms: 0,
            },
        ]
    }

    /// 30,000 msat left the account for a sandbox that was never created
    /// (a crash between the two commits): the audit says so.
    #[test]
    fn credits_stranded_between_account_and_sandbox_are_caught() {
        let mut events = chained("s", lifecycle(2_000));
        let mut stranded = stream("Account", "b", allocated_to_a_ghost());
        events.append(&mut stranded);
        let report = audit(&events);
        assert_eq!(report.violations.len(), 1, "{:?}", report.violations);
        assert!(report.violations[0]
            .rule
            .contains("transfer ghost:fund between account b and sandbox ghost does not balance"));
    }

    /// An allocation may be undone only once its sandbox voided it (else
    /// the sandbox could still take it: paid twice).
    #[test]
    fn an_undo_without_a_void_is_caught() {
        let account = |undo: bool| {
            let mut events = allocated_to_a_ghost();
            if undo {
                events.push(domain::account::AccountEvent::AllocationUndone {
                    sandbox_id: "ghost".into(),
                    transfer_id: Some("ghost:fund".into()),
                    amount: Msats(30_000),
                    balance_after: Msats(30_000),
                    at_ms: 1,
                });
            }
            stream("Account", "b", events)
        };
        let unvoided = audit(&account(true));
        assert_eq!(unvoided.violations.len(), 1, "{:?}", unvoided.violations);
        assert!(unvoided.violations[0].rule.contains("never voided it"));

        let mut voided = account(true);
        voided.extend(stream(
            "Sandbox",
            "ghost",
            vec![SandboxEvent::TransferVoided {
                transfer_id: "ghost:fund".into(),
                at_ms: 1,
            }],
        ));
        let report = audit(&voided);
        assert!(report.passed(), "{:?}", report.violations);
    }

    #[test]
    fn a_correct_stream_passes() {
        let report = audit(&chained("s", lifecycle(2_000)));
        assert!(report.passed(), "{:?}", report.violations);
        assert_eq!(
            (
                report.paid_in_msats,
                report.charged_msats,
                report.balance_msats
            ),
            (10_000, 2_000, 8_000)
        );
    }

    #[test]
    fn an_overcharge_is_caught_even_with_a_recomputed_chain() {
        let report = audit(&chained("s", lifecycle(2_500)));
        assert_eq!(report.violations.len(), 1, "{:?}", report.violations);
        assert_eq!(report.violations[0].sequence, 4);
        assert!(report.violations[0]
            .rule
            .contains("charged 2500 where the rate gives 2000"));
    }

    #[test]
    fn a_charge_before_the_start_is_caught() {
        let mut events = lifecycle(2_000);
        events.swap(2, 3);
        let report = audit(&chained("s", events));
        assert!(
            report
                .violations
                .iter()
                .any(|v| v.rule.contains("a charge while the sandbox was creating")),
            "{:?}",
            report.violations
        );
    }

    #[test]
    fn a_payment_credited_twice_is_caught_across_sandboxes() {
        let paid = |id: &str| {
            chained(
                id,
                vec![
                    SandboxEvent::SandboxCreated {
                        owner: None,
                        tier: TierName::Nano,
                        msats_per_second: 500,
                        billing: BillingMethod::Lightning,
                        label: None,
                        image: "i".into(),
                        token_hash: None,
                        network: Default::default(),
                        runtime: None,
                        lifetime: Default::default(),
                        env: None,
                        at_ms: 0,
                    },
                    SandboxEvent::BalanceExtended {
                        amount: Msats(1_000),
                        source: FundingSource::Payment {
                            payment_hash: "h".into(),
                        },
                        balance_after: Msats(1_000),
                        at_ms: 0,
                    },
                ],
            )
        };
        let mut events = paid("one");
        events.extend(paid("two"));
        let report = audit(&events);
        assert!(
            report
                .violations
                .iter()
                .any(|v| v.rule.contains("credited more than once")),
            "{:?}",
            report.violations
        );
    }
}
