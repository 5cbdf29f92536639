//! Given/when/then tests of funding (transfers, payments, invoices) and charging.

use super::*;

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
