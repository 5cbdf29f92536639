//! Given/when/then tests of the `Sandbox` aggregate, one per rule.

use super::*;
use crate::execution::{ExecutionStatus, OutputDigest};
use crate::{Msats, TierName};
use cqrs_es::test::TestFramework;

type Test = TestFramework<Sandbox>;

const T0: i64 = 1_700_000_000_000;

fn account_funding(msats: u64) -> Funding {
    account_funding_by("sb:fund", msats)
}

fn account_funding_by(transfer_id: &str, msats: u64) -> Funding {
    Funding {
        amount: Msats(msats),
        source: FundingSource::Account {
            account_id: "acct".into(),
            transfer_id: Some(transfer_id.into()),
        },
    }
}

fn created() -> SandboxEvent {
    SandboxEvent::SandboxCreated {
        owner: Some("acct".into()),
        tier: TierName::Micro,
        msats_per_second: 1_000,
        billing: BillingMethod::Credits,
        label: Some("job".into()),
        image: "img".into(),
        token_hash: None,
        network: Default::default(),
        runtime: None,
        lifetime: Default::default(),
        env: None,
        at_ms: T0,
    }
}

fn funded(msats: u64) -> SandboxEvent {
    SandboxEvent::BalanceExtended {
        amount: Msats(msats),
        source: FundingSource::Account {
            account_id: "acct".into(),
            transfer_id: Some("sb:fund".into()),
        },
        balance_after: Msats(msats),
        at_ms: T0,
    }
}

fn started(at_ms: i64) -> SandboxEvent {
    SandboxEvent::SandboxStarted {
        container_id: "c1".into(),
        at_ms,
    }
}

fn running(msats: u64) -> Vec<SandboxEvent> {
    vec![created(), funded(msats), started(T0)]
}

#[test]
fn create_with_credits_records_creation_and_funding() {
    Test::with(())
        .given_no_previous_events()
        .when(SandboxCommand::CreateSandbox {
            owner: Some("acct".into()),
            tier: TierName::Micro,
            billing: BillingMethod::Credits,
            label: Some("job".into()),
            image: "img".into(),
            token_hash: None,
            network: Default::default(),
            runtime: None,
            lifetime: Default::default(),
            env: None,
            initial_funding: Some(account_funding(60_000)),
            now_ms: T0,
        })
        .then_expect_events(vec![created(), funded(60_000)]);
}

fn voided(transfer_id: &str) -> SandboxEvent {
    SandboxEvent::TransferVoided {
        transfer_id: transfer_id.into(),
        at_ms: T0,
    }
}

#[test]
fn a_voided_funding_transfer_can_never_create_the_sandbox() {
    Test::with(())
        .given_no_previous_events()
        .when(SandboxCommand::VoidTransfer {
            transfer_id: "sb:fund".into(),
            now_ms: T0,
        })
        .then_expect_events(vec![voided("sb:fund")]);
    Test::with(())
        .given(vec![voided("sb:fund")])
        .when(SandboxCommand::CreateSandbox {
            owner: Some("acct".into()),
            tier: TierName::Micro,
            billing: BillingMethod::Credits,
            label: None,
            image: "img".into(),
            token_hash: None,
            network: Default::default(),
            runtime: None,
            lifetime: Default::default(),
            env: None,
            initial_funding: Some(account_funding(60_000)),
            now_ms: T0,
        })
        .then_expect_error(SandboxError::TransferVoided);
}

#[test]
fn a_transfer_that_arrived_cannot_be_voided_and_arrives_once() {
    Test::with(())
        .given(running(1_000))
        .when(SandboxCommand::VoidTransfer {
            transfer_id: "sb:fund".into(),
            now_ms: T0,
        })
        .then_expect_error(SandboxError::TransferTaken);
    Test::with(())
        .given(running(1_000))
        .when(SandboxCommand::ExtendBalance {
            funding: account_funding(1_000),
            now_ms: T0,
        })
        .then_expect_events(vec![]);
}

#[test]
fn a_voided_top_up_is_refused_and_voiding_again_records_nothing() {
    let mut given = running(1_000);
    given.push(voided("sb:topup:1"));
    Test::with(())
        .given(given.clone())
        .when(SandboxCommand::ExtendBalance {
            funding: account_funding_by("sb:topup:1", 5_000),
            now_ms: T0,
        })
        .then_expect_error(SandboxError::TransferVoided);
    Test::with(())
        .given(given)
        .when(SandboxCommand::VoidTransfer {
            transfer_id: "sb:topup:1".into(),
            now_ms: T0,
        })
        .then_expect_events(vec![]);
}

#[test]
fn create_twice_is_refused() {
    Test::with(())
        .given(vec![created()])
        .when(SandboxCommand::CreateSandbox {
            owner: None,
            tier: TierName::Nano,
            billing: BillingMethod::Credits,
            label: None,
            image: "img".into(),
            token_hash: None,
            network: Default::default(),
            runtime: None,
            lifetime: Default::default(),
            env: None,
            initial_funding: None,
            now_ms: T0,
        })
        .then_expect_error(SandboxError::AlreadyExists);
}

#[test]
fn commands_on_a_missing_sandbox_are_not_found() {
    Test::with(())
        .given_no_previous_events()
        .when(SandboxCommand::PauseSandbox {
            reason: PauseReason::Requested,
            now_ms: T0,
        })
        .then_expect_error(SandboxError::NotFound);
}

#[test]
fn lightning_money_cannot_fund_a_credits_sandbox() {
    Test::with(())
        .given(vec![created()])
        .when(SandboxCommand::ExtendBalance {
            funding: Funding {
                amount: Msats(5),
                source: FundingSource::Payment {
                    payment_hash: "h".into(),
                },
            },
            now_ms: T0,
        })
        .then_expect_error(SandboxError::WrongFundingSource);
}

#[test]
fn zero_funding_is_refused() {
    Test::with(())
        .given(vec![created()])
        .when(SandboxCommand::ExtendBalance {
            funding: account_funding(0),
            now_ms: T0,
        })
        .then_expect_error(SandboxError::InvalidAmount);
}

#[test]
fn a_payment_hash_is_credited_once() {
    let lightning_created = SandboxEvent::SandboxCreated {
        owner: None,
        tier: TierName::Nano,
        msats_per_second: 500,
        billing: BillingMethod::Lightning,
        label: None,
        image: "img".into(),
        token_hash: Some("th".into()),
        network: Default::default(),
        runtime: None,
        lifetime: Default::default(),
        env: None,
        at_ms: T0,
    };
    let paid = SandboxEvent::BalanceExtended {
        amount: Msats(10_000),
        source: FundingSource::Payment {
            payment_hash: "h".into(),
        },
        balance_after: Msats(10_000),
        at_ms: T0,
    };
    Test::with(())
        .given(vec![lightning_created, paid])
        .when(SandboxCommand::ExtendBalance {
            funding: Funding {
                amount: Msats(10_000),
                source: FundingSource::Payment {
                    payment_hash: "h".into(),
                },
            },
            now_ms: T0 + 5,
        })
        .then_expect_events(vec![]);
}

#[test]
fn exec_needs_a_running_sandbox() {
    Test::with(())
        .given(vec![created(), funded(1_000)])
        .when(SandboxCommand::StartExecution {
            execution_id: "e1".into(),
            command: "true".into(),
            working_dir: "/home/sandbox".into(),
            timeout_ms: 1_000,
            runner: None,
            now_ms: T0,
        })
        .then_expect_error(SandboxError::NotRunning {
            state: SandboxState::Creating,
            action: "run a command",
        });
}

#[test]
fn finishing_an_unknown_execution_records_nothing() {
    Test::with(())
        .given(running(10_000))
        .when(SandboxCommand::FinishExecution {
            execution_id: "nope".into(),
            status: ExecutionStatus::Completed,
            exit_code: Some(0),
            error: None,
            duration_ms: 3,
            output: OutputDigest::default(),
            now_ms: T0,
        })
        .then_expect_events(vec![]);
}

#[test]
fn charge_covers_the_interval_since_the_last_charge() {
    Test::with(())
        .given(running(100_000))
        .when(SandboxCommand::ChargeUsage {
            now_ms: T0 + 2_500,
            low_balance_secs: 10,
        })
        .then_expect_events(vec![SandboxEvent::UsageCharged {
            from_ms: T0,
            to_ms: T0 + 2_500,
            msats_per_second: 1_000,
            amount: Msats(2_500),
            balance_after: Msats(97_500),
        }]);
}

#[test]
fn charge_stops_where_the_balance_runs_out_and_warns() {
    Test::with(())
        .given(running(3_000))
        .when(SandboxCommand::ChargeUsage {
            now_ms: T0 + 10_000,
            low_balance_secs: 60,
        })
        .then_expect_events(vec![
            SandboxEvent::UsageCharged {
                from_ms: T0,
                to_ms: T0 + 3_000,
                msats_per_second: 1_000,
                amount: Msats(3_000),
                balance_after: Msats(0),
            },
            SandboxEvent::LowBalanceWarned {
                balance: Msats(0),
                seconds_remaining: 0,
                at_ms: T0 + 10_000,
            },
        ]);
}

#[test]
fn low_balance_is_warned_once() {
    let mut given = running(100_000);
    given.push(SandboxEvent::LowBalanceWarned {
        balance: Msats(100_000),
        seconds_remaining: 100,
        at_ms: T0,
    });
    Test::with(())
        .given(given)
        .when(SandboxCommand::ChargeUsage {
            now_ms: T0 + 1_000,
            low_balance_secs: 1_000,
        })
        .then_expect_events(vec![SandboxEvent::UsageCharged {
            from_ms: T0,
            to_ms: T0 + 1_000,
            msats_per_second: 1_000,
            amount: Msats(1_000),
            balance_after: Msats(99_000),
        }]);
}

#[test]
fn a_paused_sandbox_is_not_charged() {
    let mut given = running(100_000);
    given.push(SandboxEvent::SandboxPaused {
        reason: PauseReason::Requested,
        at_ms: T0,
    });
    Test::with(())
        .given(given)
        .when(SandboxCommand::ChargeUsage {
            now_ms: T0 + 50_000,
            low_balance_secs: 0,
        })
        .then_expect_events(vec![]);
}

#[test]
fn pause_charges_up_to_the_pause() {
    Test::with(())
        .given(running(100_000))
        .when(SandboxCommand::PauseSandbox {
            reason: PauseReason::Requested,
            now_ms: T0 + 1_500,
        })
        .then_expect_events(vec![
            SandboxEvent::UsageCharged {
                from_ms: T0,
                to_ms: T0 + 1_500,
                msats_per_second: 1_000,
                amount: Msats(1_500),
                balance_after: Msats(98_500),
            },
            SandboxEvent::SandboxPaused {
                reason: PauseReason::Requested,
                at_ms: T0 + 1_500,
            },
        ]);
}

#[test]
fn resume_needs_balance() {
    let mut given = running(1_000);
    given.push(SandboxEvent::UsageCharged {
        from_ms: T0,
        to_ms: T0 + 1_000,
        msats_per_second: 1_000,
        amount: Msats(1_000),
        balance_after: Msats(0),
    });
    given.push(SandboxEvent::SandboxPaused {
        reason: PauseReason::OutOfBalance,
        at_ms: T0 + 1_000,
    });
    Test::with(())
        .given(given)
        .when(SandboxCommand::ResumeSandbox { now_ms: T0 + 2_000 })
        .then_expect_error(SandboxError::OutOfBalance);
}

#[test]
fn resume_restarts_the_meter_at_the_resume() {
    let mut given = running(10_000);
    given.push(SandboxEvent::SandboxPaused {
        reason: PauseReason::Requested,
        at_ms: T0,
    });
    Test::with(())
        .given(given)
        .when(SandboxCommand::ResumeSandbox { now_ms: T0 + 9_000 })
        .then_expect_events(vec![SandboxEvent::SandboxResumed { at_ms: T0 + 9_000 }]);
}

#[test]
fn terminate_charges_then_returns_the_rest_to_the_account() {
    Test::with(())
        .given(running(10_000))
        .when(SandboxCommand::TerminateSandbox { now_ms: T0 + 4_000 })
        .then_expect_events(vec![
            SandboxEvent::UsageCharged {
                from_ms: T0,
                to_ms: T0 + 4_000,
                msats_per_second: 1_000,
                amount: Msats(4_000),
                balance_after: Msats(6_000),
            },
            SandboxEvent::SandboxTerminated { at_ms: T0 + 4_000 },
            SandboxEvent::RefundIssued {
                amount: Msats(6_000),
                destination: RefundDestination::Account {
                    account_id: "acct".into(),
                    transfer_id: Some("sb:refund".into()),
                },
                balance_after: Msats(0),
                at_ms: T0 + 4_000,
            },
        ]);
}

#[test]
fn nothing_happens_to_a_terminated_sandbox() {
    let mut given = running(10_000);
    given.push(SandboxEvent::SandboxTerminated { at_ms: T0 });
    Test::with(())
        .given(given)
        .when(SandboxCommand::ResumeSandbox { now_ms: T0 })
        .then_expect_error(SandboxError::Ended(SandboxState::Terminated));
}

#[test]
fn failure_bills_nothing_more_and_returns_the_balance() {
    Test::with(())
        .given(running(10_000))
        .when(SandboxCommand::FailSandbox {
            reason: "container vanished".into(),
            now_ms: T0 + 99_000,
        })
        .then_expect_events(vec![
            SandboxEvent::SandboxFailed {
                reason: "container vanished".into(),
                at_ms: T0 + 99_000,
            },
            SandboxEvent::RefundIssued {
                amount: Msats(10_000),
                destination: RefundDestination::Account {
                    account_id: "acct".into(),
                    transfer_id: Some("sb:refund".into()),
                },
                balance_after: Msats(0),
                at_ms: T0 + 99_000,
            },
        ]);
}

fn lightning_created() -> SandboxEvent {
    SandboxEvent::SandboxCreated {
        owner: None,
        tier: TierName::Nano,
        msats_per_second: 500,
        billing: BillingMethod::Lightning,
        label: None,
        image: "img".into(),
        token_hash: Some("th".into()),
        network: Default::default(),
        runtime: None,
        lifetime: Default::default(),
        env: None,
        at_ms: T0,
    }
}

fn invoice(hash: &str, sats: u64) -> crate::lightning::Invoice {
    crate::lightning::Invoice {
        bolt11: format!("lnbc-{hash}"),
        payment_hash: hash.into(),
        amount: Msats(sats * 1000),
        expires_at_ms: T0 + 600_000,
    }
}

fn paid(hash: &str, msats: u64, balance_after: u64) -> SandboxEvent {
    SandboxEvent::BalanceExtended {
        amount: Msats(msats),
        source: FundingSource::Payment {
            payment_hash: hash.into(),
        },
        balance_after: Msats(balance_after),
        at_ms: T0,
    }
}

fn payment(hash: &str, msats: u64) -> SandboxCommand {
    SandboxCommand::ExtendBalance {
        funding: Funding {
            amount: Msats(msats),
            source: FundingSource::Payment {
                payment_hash: hash.into(),
            },
        },
        now_ms: T0,
    }
}

#[test]
fn credits_sandboxes_issue_no_invoices() {
    Test::with(())
        .given(vec![created()])
        .when(SandboxCommand::IssueInvoice {
            invoice: invoice("h", 10),
            now_ms: T0,
        })
        .then_expect_error(SandboxError::NotLightning);
}

#[test]
fn only_payments_of_issued_invoices_are_credited() {
    Test::with(())
        .given(vec![lightning_created()])
        .when(payment("stranger", 10_000))
        .then_expect_error(SandboxError::UnknownPayment);
}

#[test]
fn paying_the_invoice_funds_the_sandbox() {
    Test::with(())
        .given(vec![
            lightning_created(),
            SandboxEvent::InvoiceIssued {
                invoice: invoice("h", 10),
                at_ms: T0,
            },
        ])
        .when(payment("h", 10_000))
        .then_expect_events(vec![paid("h", 10_000, 10_000)]);
}

#[test]
fn money_arriving_after_the_end_is_recorded_for_the_refund() {
    Test::with(())
        .given(vec![
            lightning_created(),
            SandboxEvent::InvoiceIssued {
                invoice: invoice("late", 10),
                at_ms: T0,
            },
            SandboxEvent::SandboxTerminated { at_ms: T0 },
        ])
        .when(payment("late", 10_000))
        .then_expect_events(vec![paid("late", 10_000, 10_000)]);
}

#[test]
fn an_expired_invoice_is_never_credited_afterwards() {
    let mut sandbox = Sandbox::default();
    for e in [
        lightning_created(),
        SandboxEvent::InvoiceIssued {
            invoice: invoice("h", 10),
            at_ms: T0,
        },
    ] {
        cqrs_es::Aggregate::apply(&mut sandbox, e);
    }
    let expired = sandbox
        .decide(SandboxCommand::ExpireInvoice {
            payment_hash: "h".into(),
            now_ms: T0 + 1,
        })
        .unwrap();
    // Its first invoice expired unpaid: the sandbox expires with it.
    assert_eq!(
        expired,
        vec![
            SandboxEvent::InvoiceExpired {
                payment_hash: "h".into(),
                at_ms: T0 + 1
            },
            SandboxEvent::SandboxExpired { at_ms: T0 + 1 }
        ]
    );
    for e in expired {
        cqrs_es::Aggregate::apply(&mut sandbox, e);
    }
    assert!(sandbox.pending_invoice.is_none());
    assert_eq!(sandbox.state, SandboxState::Expired);
    assert!(sandbox
        .decide(SandboxCommand::ExtendBalance {
            funding: Funding {
                amount: Msats(10_000),
                source: FundingSource::Payment {
                    payment_hash: "h".into()
                },
            },
            now_ms: T0 + 2,
        })
        .is_err_or_empty());
}

trait ErrOrEmpty {
    fn is_err_or_empty(&self) -> bool;
}

impl ErrOrEmpty for Result<Vec<SandboxEvent>, SandboxError> {
    fn is_err_or_empty(&self) -> bool {
        self.as_ref().map_or(true, |events| events.is_empty())
    }
}

#[test]
fn refunds_need_an_ended_sandbox_and_fit_the_balance() {
    let funded = vec![
        lightning_created(),
        SandboxEvent::InvoiceIssued {
            invoice: invoice("h", 10),
            at_ms: T0,
        },
        paid("h", 10_000, 10_000),
    ];
    let destination = RefundDestination::Payment {
        payment_hash: "r".into(),
    };
    Test::with(())
        .given(funded.clone())
        .when(SandboxCommand::RecordRefund {
            amount: Msats(1),
            destination: destination.clone(),
            now_ms: T0,
        })
        .then_expect_error(SandboxError::NotEnded);
    let mut ended = funded;
    ended.push(SandboxEvent::SandboxTerminated { at_ms: T0 });
    Test::with(())
        .given(ended.clone())
        .when(SandboxCommand::RecordRefund {
            amount: Msats(10_001),
            destination: destination.clone(),
            now_ms: T0,
        })
        .then_expect_error(SandboxError::RefundTooLarge);
    Test::with(())
        .given(ended)
        .when(SandboxCommand::RecordRefund {
            amount: Msats(10_000),
            destination: destination.clone(),
            now_ms: T0,
        })
        .then_expect_events(vec![SandboxEvent::RefundIssued {
            amount: Msats(10_000),
            destination,
            balance_after: Msats(0),
            at_ms: T0,
        }]);
}

fn ended_with(msats: u64) -> Vec<SandboxEvent> {
    let mut events = running(msats);
    events.push(SandboxEvent::SandboxTerminated { at_ms: T0 });
    events
}

fn reserve(refund_id: &str, msats: u64, target: RefundTarget) -> SandboxCommand {
    SandboxCommand::ReserveRefund {
        refund_id: refund_id.into(),
        amount: Msats(msats),
        payment_hash: format!("hash-{refund_id}"),
        expires_at_ms: T0 + 600_000,
        target,
        now_ms: T0,
    }
}

fn reserved(refund_id: &str, msats: u64, target: RefundTarget, balance_after: u64) -> SandboxEvent {
    SandboxEvent::RefundReserved {
        refund_id: refund_id.into(),
        amount: Msats(msats),
        payment_hash: format!("hash-{refund_id}"),
        expires_at_ms: T0 + 600_000,
        target,
        balance_after: Msats(balance_after),
        at_ms: T0,
    }
}

fn address() -> RefundTarget {
    RefundTarget::LightningAddress {
        address: "a@b.example".into(),
    }
}

#[test]
fn a_refund_is_reserved_before_it_is_paid_and_one_at_a_time() {
    Test::with(())
        .given(ended_with(10_000))
        .when(reserve("r1", 10_000, address()))
        .then_expect_events(vec![reserved("r1", 10_000, address(), 0)]);
    let mut in_flight = ended_with(10_000);
    in_flight.push(reserved("r1", 4_000, address(), 6_000));
    Test::with(())
        .given(in_flight)
        .when(reserve("r2", 6_000, address()))
        .then_expect_error(SandboxError::RefundInFlight);
    Test::with(())
        .given(ended_with(10_000))
        .when(reserve("r1", 10_001, address()))
        .then_expect_error(SandboxError::RefundTooLarge);
    Test::with(())
        .given(running(10_000))
        .when(reserve("r1", 1, address()))
        .then_expect_error(SandboxError::NotEnded);
}

#[test]
fn a_withdraw_reservation_needs_the_offered_link() {
    let target = RefundTarget::Withdraw {
        k1_hash: "k1".into(),
    };
    Test::with(())
        .given(ended_with(10_000))
        .when(reserve("r1", 10_000, target.clone()))
        .then_expect_error(SandboxError::WithdrawNotOffered);
    let mut offered = ended_with(10_000);
    offered.push(SandboxEvent::WithdrawOffered {
        nonce: None,
        k1_hash: "k1".into(),
        amount: Msats(10_000),
        at_ms: T0,
    });
    Test::with(())
        .given(offered.clone())
        .when(reserve("r1", 10_000, target.clone()))
        .then_expect_events(vec![reserved("r1", 10_000, target.clone(), 0)]);
    // Once settled, the link is spent.
    let mut spent = offered;
    spent.push(reserved("r1", 5_000, target.clone(), 5_000));
    spent.push(SandboxEvent::RefundSettled {
        refund_id: "r1".into(),
        amount: Msats(5_000),
        payment_hash: "hash-r1".into(),
        at_ms: T0,
    });
    Test::with(())
        .given(spent)
        .when(reserve("r2", 5_000, target))
        .then_expect_error(SandboxError::WithdrawNotOffered);
}

#[test]
fn a_reservation_settles_or_is_released_once() {
    let mut in_flight = ended_with(10_000);
    in_flight.push(reserved("r1", 10_000, address(), 0));
    Test::with(())
        .given(in_flight.clone())
        .when(SandboxCommand::SettleRefund {
            refund_id: "r1".into(),
            now_ms: T0,
        })
        .then_expect_events(vec![SandboxEvent::RefundSettled {
            refund_id: "r1".into(),
            amount: Msats(10_000),
            payment_hash: "hash-r1".into(),
            at_ms: T0,
        }]);
    Test::with(())
        .given(in_flight.clone())
        .when(SandboxCommand::ReleaseRefund {
            refund_id: "r1".into(),
            reason: "no route".into(),
            now_ms: T0,
        })
        .then_expect_events(vec![SandboxEvent::RefundReleased {
            refund_id: "r1".into(),
            amount: Msats(10_000),
            reason: "no route".into(),
            balance_after: Msats(10_000),
            at_ms: T0,
        }]);
    let mut settled = in_flight;
    settled.push(SandboxEvent::RefundSettled {
        refund_id: "r1".into(),
        amount: Msats(10_000),
        payment_hash: "hash-r1".into(),
        at_ms: T0,
    });
    Test::with(())
        .given(settled)
        .when(SandboxCommand::ReleaseRefund {
            refund_id: "r1".into(),
            reason: "late".into(),
            now_ms: T0,
        })
        .then_expect_events(vec![]);
}

mod idempotent_crediting {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any interleaving of duplicate settlement notifications credits each
        /// payment hash exactly once.
        #[test]
        fn each_payment_is_credited_once(order in proptest::collection::vec(0usize..3, 1..30)) {
            let mut sandbox = Sandbox::default();
            let hashes = ["a", "b", "c"];
            cqrs_es::Aggregate::apply(&mut sandbox, lightning_created());
            for h in hashes {
                cqrs_es::Aggregate::apply(&mut sandbox, SandboxEvent::InvoiceIssued { invoice: invoice(h, 1), at_ms: T0 });
            }
            for i in &order {
                for e in sandbox.decide(payment(hashes[*i], 1_000)).unwrap() {
                    cqrs_es::Aggregate::apply(&mut sandbox, e);
                }
            }
            let distinct = order.iter().collect::<std::collections::BTreeSet<_>>().len() as u64;
            prop_assert_eq!(sandbox.paid_in, Msats(distinct * 1_000));
            prop_assert_eq!(sandbox.balance, Msats(distinct * 1_000));
        }
    }
}

mod conservation {
    use super::*;
    use proptest::prelude::*;

    fn apply_all(sandbox: &mut Sandbox, events: Vec<SandboxEvent>) {
        for e in events {
            cqrs_es::Aggregate::apply(sandbox, e);
        }
    }

    proptest! {
        /// Any sequence of charges, pauses, resumes and top-ups keeps
        /// paid_in = charged + refunded + reserved + balance.
        #[test]
        fn money_is_conserved(steps in proptest::collection::vec((0u8..5, 0i64..20_000, 0u64..50_000), 1..40)) {
            let mut sandbox = Sandbox::default();
            apply_all(&mut sandbox, running(20_000));
            let mut now = T0;
            for (op, dt, amount) in steps {
                now += dt;
                let command = match op {
                    0 => SandboxCommand::ChargeUsage { now_ms: now, low_balance_secs: 30 },
                    1 => SandboxCommand::PauseSandbox { reason: PauseReason::Requested, now_ms: now },
                    2 => SandboxCommand::ResumeSandbox { now_ms: now },
                    3 => SandboxCommand::ExtendBalance { funding: account_funding_by(&format!("sb:topup:{now}"), amount), now_ms: now },
                    _ => SandboxCommand::TerminateSandbox { now_ms: now },
                };
                if let Ok(events) = sandbox.decide(command) {
                    apply_all(&mut sandbox, events);
                }
                prop_assert!(sandbox.money_is_conserved(), "{sandbox:?}");
            }
        }
    }
}
