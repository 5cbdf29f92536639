//! Given/when/then tests of paying out what an ended sandbox did not use.

use super::*;

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
