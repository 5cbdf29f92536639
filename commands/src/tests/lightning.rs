//! Lightning processes: a payment is credited once however often it is
//! reported, an unpaid sandbox starts when paid, and a terminated sandbox's
//! balance goes back to a Lightning Address or behind a withdraw link.

use crate::testing::sid;
use crate::testing::{FakePayment, Harness};
use crate::{CreateSandbox, Principal, RefundOutcome};
use domain::sandbox::SandboxState;
use domain::Msats;

async fn lightning_sandbox(h: &Harness, sats: u64) -> (String, Principal, String) {
    let (view, token) = h
        .app
        .sandboxes()
        .create_sandbox(
            &Principal::Anonymous,
            CreateSandbox {
                tier: "nano".into(),
                billing_method: Some("lightning".into()),
                prepaid_sats: Some(sats),
                ..CreateSandbox::default()
            },
        )
        .await
        .unwrap();
    let invoice = view.pending_invoice.clone().unwrap();
    (
        view.sandbox_id,
        Principal::SandboxToken(crate::hash_secret(&token)),
        invoice.payment_hash,
    )
}

#[tokio::test]
async fn a_payment_reported_twice_is_credited_once_and_starts_the_sandbox() {
    let h = Harness::new();
    let (id, _caller, hash) = lightning_sandbox(&h, 100).await;
    assert_eq!(h.sandbox(&id).await.state, SandboxState::AwaitingPayment);
    h.app.invoices().settle_payment(&hash).await.unwrap();
    assert_eq!(
        h.sandbox(&id).await.state,
        SandboxState::AwaitingPayment,
        "not paid yet"
    );

    h.gateway.settle(&hash);
    h.app.invoices().settle_payment(&hash).await.unwrap();
    h.app.invoices().settle_payment(&hash).await.unwrap();
    h.until_state(&id, SandboxState::Running).await;
    let sandbox = h.sandbox(&id).await;
    assert_eq!(sandbox.paid_in, Msats(100_000));
    assert_eq!(sandbox.balance, Msats(100_000));
}

#[tokio::test]
async fn terminate_pays_the_balance_to_a_lightning_address() {
    let h = Harness::new();
    let (id, caller, hash) = lightning_sandbox(&h, 100).await;
    h.gateway.settle(&hash);
    h.app.invoices().settle_payment(&hash).await.unwrap();
    h.until_state(&id, SandboxState::Running).await;
    h.clock.advance_ms(10_000);
    let (_, refund) = h
        .app
        .sandboxes()
        .terminate(&caller, &sid(&id), Some("alice@wallet.example"))
        .await
        .unwrap();
    // 10 s of nano is 5 000 msat: 95 sats back.
    assert!(matches!(refund, Some(RefundOutcome::Paid { amount, .. }) if amount == Msats(95_000)));
    assert_eq!(h.gateway.paid_msats(), 95_000);
    let sandbox = h.sandbox(&id).await;
    assert_eq!(sandbox.balance, Msats(0));
    assert_eq!(sandbox.paid_in.0, sandbox.charged.0 + sandbox.refunded.0);
}

#[tokio::test]
async fn a_failed_refund_is_recorded_and_offered_again_later() {
    let h = Harness::new();
    let (id, caller, hash) = lightning_sandbox(&h, 100).await;
    h.gateway.settle(&hash);
    h.app.invoices().settle_payment(&hash).await.unwrap();
    h.until_state(&id, SandboxState::Running).await;
    h.gateway.then_pay(FakePayment::Failed("no route".into()));
    let (_, refund) = h
        .app
        .sandboxes()
        .terminate(&caller, &sid(&id), Some("alice@wallet.example"))
        .await
        .unwrap();
    assert!(
        matches!(refund, Some(RefundOutcome::Retrying { .. })),
        "{refund:?}"
    );
    let sandbox = h.sandbox(&id).await;
    assert_eq!(sandbox.refund_attempts, 1);
    assert_eq!(sandbox.balance, Msats(100_000), "nothing left the sandbox");
    assert_eq!(h.gateway.paid_msats(), 0);
}

#[tokio::test]
async fn without_an_address_the_balance_waits_behind_a_withdraw_link_claimable_once() {
    let h = Harness::new();
    let (id, caller, hash) = lightning_sandbox(&h, 100).await;
    h.gateway.settle(&hash);
    h.app.invoices().settle_payment(&hash).await.unwrap();
    h.until_state(&id, SandboxState::Running).await;
    let (_, refund) = h
        .app
        .sandboxes()
        .terminate(&caller, &sid(&id), None)
        .await
        .unwrap();
    let Some(RefundOutcome::Withdraw { amount, k1 }) = refund else {
        panic!("{refund:?}");
    };
    let bolt11 = h.gateway.invoice_string(amount);
    assert_eq!(
        h.app.payouts().claim_withdraw(&k1, &bolt11).await.unwrap(),
        amount
    );
    let again = h.gateway.invoice_string(amount);
    assert!(h.app.payouts().claim_withdraw(&k1, &again).await.is_err());
    assert_eq!(h.gateway.paid_msats(), amount.0);
}

/// Settlement runs beside the meter: 2,000 open invoices behind a slow
/// gateway do not delay a credits sandbox's pause at zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_open_invoices_and_a_slow_gateway_do_not_hold_up_the_meter() {
    use crate::background::meter::Meter;
    use crate::background::settlement::Settlement;
    use std::time::{Duration, Instant};

    let h = Harness::with_config(crate::AppConfig {
        max_awaiting_payment: 10_000,
        ..crate::AppConfig::default()
    });
    for _ in 0..2_000 {
        lightning_sandbox(&h, 10).await;
    }
    assert_eq!(h.read.open_invoices().len(), 2_000);
    h.gateway.slow(Duration::from_millis(50));
    let owner = h.account(10).await;
    let id = h.running_sandbox(&owner, "nano", 1).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(Settlement::run(h.app.clone(), shutdown.clone()));
    tokio::spawn(Meter::run(h.app.clone(), shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The balance (20 s of nano) runs out; within two meter ticks it pauses.
    h.clock.advance_ms(25_000);
    let ran_out = Instant::now();
    while h.sandbox(&id).await.state != SandboxState::Paused {
        assert!(
            ran_out.elapsed() < Duration::from_millis(1_500),
            "the meter waited on settlement"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
}

/// Payments are polled every second while the gateway's pushes are not
/// flowing (never connected, or dropped), and only now and then while they
/// flow — when a pushed hash settles at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settlement_polls_every_tick_while_pushes_are_down() {
    use crate::background::settlement::Settlement;
    use domain::lightning::PaymentPush;
    use std::time::Duration;

    let h = Harness::new();
    h.gateway.with_pushes();
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(Settlement::run(h.app.clone(), shutdown.clone()));
    let within = |limit_ms: u64, h: &Harness, id: String| {
        let read = h.read.clone();
        async move {
            let started = std::time::Instant::now();
            // Credited: no longer awaiting payment.
            while read.sandbox(&id).map(|v| v.paid_in) == Some(Msats(0)) {
                if started.elapsed() > Duration::from_millis(limit_ms) {
                    return false;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            true
        }
    };

    // Never connected: a payment nobody pushes is found by the next polls.
    let (first, _, hash) = lightning_sandbox(&h, 100).await;
    h.gateway.settle(&hash);
    assert!(
        within(2_500, &h, first).await,
        "not polled while pushes were down"
    );

    // Connected: polling backs off; a pushed hash is settled at once.
    h.gateway.push(PaymentPush::Connected);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (second, _, hash) = lightning_sandbox(&h, 100).await;
    h.gateway.settle(&hash);
    assert!(
        !within(2_500, &h, second.clone()).await,
        "polled every tick although pushes flow"
    );
    h.gateway.push(PaymentPush::Payment(hash));
    assert!(
        within(1_000, &h, second).await,
        "a push was not settled at once"
    );

    // Dropped: polling every tick again.
    h.gateway.push(PaymentPush::Disconnected);
    let (third, _, hash) = lightning_sandbox(&h, 100).await;
    h.gateway.settle(&hash);
    assert!(
        within(2_500, &h, third).await,
        "not polled after the pushes dropped"
    );
    shutdown.cancel();
}

/// A sandbox running low gets its top-up invoice within a second or two
/// while every payment check hangs — open invoices being polled and an
/// outgoing refund being followed: each has its own loop and deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_top_up_invoice_is_offered_in_time_while_payment_checks_hang() {
    use crate::background::settlement::Settlement;
    use std::time::{Duration, Instant};

    let h = Harness::new();
    let (low, _) = paid_and_running(&h, 100).await;
    let (refunded, caller) = paid_and_running(&h, 100).await;
    h.gateway.then_pay(FakePayment::Pending);
    h.app
        .sandboxes()
        .terminate(&caller, &sid(&refunded), Some("alice@wallet.example"))
        .await
        .unwrap();
    assert_eq!(h.read.payouts_in_flight().len(), 1);
    for _ in 0..20 {
        lightning_sandbox(&h, 10).await;
    }
    h.gateway.slow(Duration::from_secs(3_600));
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(Settlement::run(h.app.clone(), shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(h.read.sandbox(&low).unwrap().pending_invoice.is_none());

    // 100 sats of nano last 200 s: after 150 s, 50 s remain (under 60).
    h.clock.advance_ms(150_000);
    let ran_low = Instant::now();
    while h.read.sandbox(&low).unwrap().pending_invoice.is_none() {
        assert!(
            ran_low.elapsed() < Duration::from_millis(2_500),
            "the top-up waited on hanging payment checks"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
}

async fn paid_and_running(h: &Harness, sats: u64) -> (String, Principal) {
    let (id, caller, hash) = lightning_sandbox(h, sats).await;
    h.gateway.settle(&hash);
    h.app.invoices().settle_payment(&hash).await.unwrap();
    h.until_state(&id, SandboxState::Running).await;
    (id, caller)
}

/// A refund whose payment is still in flight keeps its amount reserved — no
/// second payment can use it — and is settled once, when the gateway says so.
#[tokio::test]
async fn a_pending_refund_is_reserved_followed_and_settled_once() {
    use domain::lightning::PaymentState;
    let h = Harness::new();
    let (id, caller) = paid_and_running(&h, 100).await;
    h.gateway.then_pay(FakePayment::Pending);
    let (_, refund) = h
        .app
        .sandboxes()
        .terminate(&caller, &sid(&id), Some("alice@wallet.example"))
        .await
        .unwrap();
    let Some(RefundOutcome::Pending {
        amount,
        payment_hash,
    }) = refund
    else {
        panic!("{refund:?}");
    };
    assert_eq!(amount, Msats(100_000));
    let sandbox = h.sandbox(&id).await;
    assert_eq!(
        (sandbox.balance, sandbox.reserved),
        (Msats(0), Msats(100_000))
    );
    assert!(sandbox.money_is_conserved());

    // Nothing is left to pay twice, however often the refund is retried.
    h.app.payouts.follow_payouts().await;
    assert_eq!(h.gateway.payments_made(), 1);
    assert_eq!(h.sandbox(&id).await.reserved, Msats(100_000));

    h.gateway.finish_payment(&payment_hash, PaymentState::Paid);
    h.app.payouts.follow_payouts().await;
    h.app.payouts.follow_payouts().await;
    let sandbox = h.sandbox(&id).await;
    assert_eq!(
        (sandbox.refunded, sandbox.reserved, sandbox.balance),
        (Msats(100_000), Msats(0), Msats(0))
    );
    assert_eq!(h.gateway.paid_msats(), 100_000);
    assert!(sandbox.money_is_conserved());
}

/// A payment whose call hung up may have been made: it stays reserved until
/// the gateway says it failed; only then is the balance released (and a
/// retry may pay it, once).
#[tokio::test]
async fn an_unknown_outcome_is_released_only_on_a_definite_failure() {
    use domain::lightning::PaymentState;
    let h = Harness::new();
    let (id, caller) = paid_and_running(&h, 100).await;
    h.gateway.then_pay(FakePayment::Unreachable);
    let (_, refund) = h
        .app
        .sandboxes()
        .terminate(&caller, &sid(&id), Some("alice@wallet.example"))
        .await
        .unwrap();
    let Some(RefundOutcome::Pending { payment_hash, .. }) = refund else {
        panic!("{refund:?}");
    };
    h.app.payouts.follow_payouts().await;
    assert_eq!(
        h.sandbox(&id).await.reserved,
        Msats(100_000),
        "still unknown"
    );

    h.gateway
        .finish_payment(&payment_hash, PaymentState::Failed);
    h.app.payouts.follow_payouts().await;
    let sandbox = h.sandbox(&id).await;
    assert_eq!(
        (sandbox.balance, sandbox.reserved),
        (Msats(100_000), Msats(0))
    );
    assert_eq!(h.gateway.paid_msats(), 0);
    assert!(sandbox.money_is_conserved());
}

/// A terminated sandbox whose refund (to `invoice`) was reserved by a
/// process that then stopped: the payment may or may not be on its way.
async fn refund_reserved_then_crashed(h: &Harness, invoice: &domain::lightning::Invoice) -> String {
    use domain::sandbox::{RefundTarget, SandboxCommand};
    let (id, caller) = paid_and_running(h, 100).await;
    h.app.sandboxes().pause(&caller, &sid(&id)).await.unwrap();
    h.sandboxes
        .execute(
            &id,
            SandboxCommand::TerminateSandbox {
                now_ms: h.app.now_ms(),
            },
        )
        .await
        .unwrap();
    h.sandboxes
        .execute(
            &id,
            SandboxCommand::ReserveRefund {
                refund_id: "r".into(),
                amount: invoice.amount,
                payment_hash: invoice.payment_hash.clone(),
                expires_at_ms: invoice.expires_at_ms,
                target: RefundTarget::LightningAddress {
                    address: "alice@wallet.example".into(),
                },
                now_ms: h.app.now_ms(),
            },
        )
        .await
        .unwrap();
    id
}

/// A crash right after a refund was reserved, before it was paid: the
/// gateway never hears of it. The reservation holds while the invoice can
/// still be paid (the call may be on its way), and is released once it
/// expired — never earlier.
#[tokio::test]
async fn a_refund_reserved_by_a_process_that_died_before_paying_is_released_once_its_invoice_expired(
) {
    use domain::lightning::LightningGateway;
    let h = Harness::new();
    let invoice = h
        .gateway
        .decode(&h.gateway.invoice_string(Msats(100_000)))
        .unwrap();
    let id = refund_reserved_then_crashed(&h, &invoice).await;
    for wait_ms in [0, 61_000, 500_000] {
        h.clock.advance_ms(wait_ms);
        h.app.payouts.follow_payouts().await;
        assert_eq!(
            h.sandbox(&id).await.reserved,
            Msats(100_000),
            "the invoice is still payable after {wait_ms} ms more"
        );
    }
    h.clock
        .advance_ms(invoice.expires_at_ms - h.app.now_ms() + 61_000);
    h.app.payouts.follow_payouts().await;
    let sandbox = h.sandbox(&id).await;
    assert_eq!(
        (sandbox.reserved, sandbox.balance),
        (Msats(0), Msats(100_000))
    );
    assert_eq!(h.gateway.paid_msats(), 0, "nothing was paid");
    assert!(h.audit().await.passed(), "{:?}", h.audit().await.violations);
}

/// The call that paid a reserved refund reached the gateway only minutes
/// later (queued behind an outage): the payment is settled, and the balance
/// was never paid out a second time meanwhile.
#[tokio::test]
async fn a_refund_whose_payment_lands_minutes_late_is_settled_and_paid_once() {
    use domain::lightning::LightningGateway;
    let h = Harness::new();
    let invoice = h
        .gateway
        .decode(&h.gateway.invoice_string(Msats(100_000)))
        .unwrap();
    let id = refund_reserved_then_crashed(&h, &invoice).await;
    h.clock.advance_ms(120_000);
    h.app.payouts.follow_payouts().await;
    h.gateway.pay(&invoice).await.unwrap();
    h.app.payouts.follow_payouts().await;
    let sandbox = h.sandbox(&id).await;
    assert_eq!(
        (sandbox.reserved, sandbox.refunded, sandbox.balance),
        (Msats(0), Msats(100_000), Msats(0))
    );
    assert_eq!(h.gateway.payments_made(), 1);
    assert!(h.audit().await.passed(), "{:?}", h.audit().await.violations);
}

/// An invoice that has expired, or expires before a payment could reach
/// it, is refused before anything is reserved.
#[tokio::test]
async fn an_invoice_about_to_expire_is_refused_before_any_reservation() {
    let h = Harness::new();
    let (id, caller) = paid_and_running(&h, 100).await;
    let (_, refund) = h
        .app
        .sandboxes()
        .terminate(&caller, &sid(&id), None)
        .await
        .unwrap();
    let Some(RefundOutcome::Withdraw { amount, k1 }) = refund else {
        panic!("{refund:?}");
    };
    let bolt11 = h.gateway.invoice_string(amount);
    h.clock.advance_ms(600_000 - 5_000);
    let refused = h
        .app
        .payouts()
        .claim_withdraw(&k1, &bolt11)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("expire"), "{refused}");
    let sandbox = h.sandbox(&id).await;
    assert_eq!((sandbox.reserved, sandbox.refunded), (Msats(0), Msats(0)));
    assert_eq!(h.gateway.payments_made(), 0);
}

/// Ten wallets claiming one withdraw link at once: one payment is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdraw_link_claimed_ten_times_at_once_pays_once() {
    let h = Harness::new();
    let (id, caller) = paid_and_running(&h, 100).await;
    let (_, refund) = h
        .app
        .sandboxes()
        .terminate(&caller, &sid(&id), None)
        .await
        .unwrap();
    let Some(RefundOutcome::Withdraw { amount, k1 }) = refund else {
        panic!("{refund:?}");
    };
    let claims = (0..10).map(|_| {
        let app = h.app.clone();
        let k1 = k1.clone();
        let bolt11 = h.gateway.invoice_string(amount);
        tokio::spawn(async move { app.payouts().claim_withdraw(&k1, &bolt11).await })
    });
    let results = futures::future::join_all(claims).await;
    let paid = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    assert_eq!(paid, 1, "{results:?}");
    assert_eq!(h.gateway.payments_made(), 1);
    assert_eq!(h.gateway.paid_msats(), amount.0);
    assert!(h.sandbox(&id).await.money_is_conserved());
}

/// A payment that arrives after terminate is not credited into a void: the
/// withdraw link the user already holds stays valid and now offers it too.
#[tokio::test]
async fn a_payment_after_terminate_is_offered_through_the_link_already_held() {
    let h = Harness::new();
    let (id, caller) = paid_and_running(&h, 100).await;
    let topup = h
        .app
        .sandboxes()
        .extend_balance(&caller, &sid(&id), None, Some(50), None)
        .await
        .unwrap();
    let topup_hash = topup.pending_invoice.clone().unwrap().payment_hash;
    let (_, refund) = h
        .app
        .sandboxes()
        .terminate(&caller, &sid(&id), None)
        .await
        .unwrap();
    let Some(RefundOutcome::Withdraw { amount, k1 }) = refund else {
        panic!("{refund:?}");
    };
    assert_eq!(amount, Msats(100_000));

    h.gateway.settle(&topup_hash);
    h.app.invoices().settle_payment(&topup_hash).await.unwrap();
    // (past the first retry's delay: nothing may replace the link meanwhile)
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let (_, offered) = h.app.payouts().withdraw_offer(&k1).await.unwrap();
    assert_eq!(
        offered,
        Msats(150_000),
        "the link offers the late payment too"
    );
    let bolt11 = h.gateway.invoice_string(offered);
    h.app.payouts().claim_withdraw(&k1, &bolt11).await.unwrap();
    let sandbox = h.sandbox(&id).await;
    assert_eq!(
        (sandbox.balance, sandbox.refunded),
        (Msats(0), Msats(150_000))
    );
    assert!(sandbox.money_is_conserved());
}

/// An unpaid sandbox ends `expired` with its invoice: no fresh invoice is
/// made for nobody, forever.
#[tokio::test]
async fn an_unpaid_sandbox_expires_with_its_invoice() {
    let h = Harness::new();
    let (id, _caller, hash) = lightning_sandbox(&h, 100).await;
    h.clock.advance_ms(700_000);
    h.app.invoices().settle_payment(&hash).await.unwrap();
    let sandbox = h.sandbox(&id).await;
    assert_eq!(sandbox.state, SandboxState::Expired, "{sandbox:?}");
    assert!(sandbox.pending_invoice.is_none());
    assert!(h.read.open_invoices().is_empty());
}

/// Unpaid sandboxes are capped per client address and in all.
#[tokio::test]
async fn unpaid_sandboxes_are_capped_per_client_and_in_all() {
    let h = Harness::with_config(crate::AppConfig {
        max_awaiting_payment: 5,
        max_awaiting_payment_per_client: 3,
        ..crate::AppConfig::default()
    });
    let create = |client: &'static str| {
        let app = h.app.clone();
        async move {
            app.sandboxes()
                .create_sandbox(
                    &Principal::Anonymous,
                    CreateSandbox {
                        tier: "nano".into(),
                        billing_method: Some("lightning".into()),
                        prepaid_sats: Some(10),
                        client: Some(client.into()),
                        ..CreateSandbox::default()
                    },
                )
                .await
        }
    };
    for _ in 0..3 {
        create("192.0.2.1").await.unwrap();
    }
    let refused = create("192.0.2.1").await.unwrap_err();
    assert_eq!(refused.code(), crate::ErrorCode::RateLimited, "{refused}");
    create("192.0.2.2").await.unwrap();
    create("192.0.2.3").await.unwrap();
    let full = create("192.0.2.4").await.unwrap_err();
    assert_eq!(full.code(), crate::ErrorCode::NoCapacity, "{full}");
}

/// A Lightning sandbox that failed still holds its sats: they wait behind a
/// withdraw link shown in its status, and terminating it answers the same
/// link — nothing is stranded.
#[tokio::test]
async fn a_failed_lightning_sandbox_shows_its_withdraw_link_and_refunds() {
    let h = Harness::new();
    let (id, caller) = paid_and_running(&h, 100).await;
    h.runtime.vanish(&id);
    h.app.reconcile().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert_eq!(h.sandbox(&id).await.state, SandboxState::Failed);
    let status = h
        .app
        .queries()
        .present(h.app.queries().sandbox(&caller, &sid(&id)).unwrap());
    let shown = status.withdraw.clone().expect("the status shows the link");
    assert_eq!(shown.amount, Msats(100_000));
    let (_, refund) = h
        .app
        .sandboxes()
        .terminate(&caller, &sid(&id), None)
        .await
        .unwrap();
    let Some(RefundOutcome::Withdraw { amount, k1 }) = refund else {
        panic!("{refund:?}");
    };
    assert_eq!(amount, Msats(100_000));
    assert_eq!(
        h.app.payouts().withdraw_url(&k1),
        shown.url,
        "one link, shown twice"
    );
    let bolt11 = h.gateway.invoice_string(amount);
    h.app.payouts().claim_withdraw(&k1, &bolt11).await.unwrap();
    let sandbox = h.sandbox(&id).await;
    assert_eq!(
        (sandbox.balance, sandbox.refunded),
        (Msats(0), Msats(100_000))
    );
    assert!(
        h.app
            .queries()
            .present(h.app.queries().sandbox(&caller, &sid(&id)).unwrap())
            .withdraw
            .is_none(),
        "claimed"
    );
    assert!(
        h.app
            .sandboxes()
            .terminate(&caller, &sid(&id), None)
            .await
            .is_err(),
        "nothing left: 410"
    );
}

/// A Lightning sandbox paused past SOCKT_PAUSED_TTL without a refund
/// address ends too; its sats wait behind the link its status shows.
#[tokio::test]
async fn a_long_paused_lightning_sandbox_ends_with_a_link_in_its_status() {
    let h = Harness::with_config(crate::AppConfig {
        paused_ttl: Some(std::time::Duration::from_secs(3600)),
        ..crate::AppConfig::default()
    });
    let (id, caller) = paid_and_running(&h, 100).await;
    h.app.sandboxes().pause(&caller, &sid(&id)).await.unwrap();
    h.clock.advance_ms(3_601_000);
    assert_eq!(h.app.end_long_paused().await, 1);
    let status = h
        .app
        .queries()
        .present(h.app.queries().sandbox(&caller, &sid(&id)).unwrap());
    assert_eq!(status.state, SandboxState::Terminated);
    let link = status.withdraw.clone().expect("a link to claim the sats");
    assert_eq!(link.amount, whole_sats_of(h.sandbox(&id).await.balance));
}

fn whole_sats_of(amount: Msats) -> Msats {
    Msats(amount.0 / 1000 * 1000)
}

/// A payment that arrives when the server is full does not overfill it: the
/// paid sandbox waits `queued`, unbilled, starts when room frees, and one
/// that waits too long ends with its sats behind a withdraw link.
#[tokio::test]
async fn a_paid_sandbox_waits_for_room_then_starts_or_is_refunded() {
    let h = Harness::with_config(crate::AppConfig {
        max_live_sandboxes: 1,
        max_queue_wait: std::time::Duration::from_secs(600),
        ..crate::AppConfig::default()
    });
    // Unpaid sandboxes hold no room: three can be made at a limit of one.
    let (waiting, _, hash) = lightning_sandbox(&h, 100).await;
    let (late, late_caller, late_hash) = lightning_sandbox(&h, 50).await;
    let (first, first_caller) = paid_and_running(&h, 100).await;
    for hash in [&hash, &late_hash] {
        h.gateway.settle(hash);
        h.app.invoices().settle_payment(hash).await.unwrap();
        h.clock.advance_ms(1);
    }
    assert_eq!(h.sandbox(&waiting).await.state, SandboxState::Queued);
    assert_eq!(h.sandbox(&late).await.state, SandboxState::Queued);
    assert_eq!(h.runtime.count(), 1, "no container beyond the limit");
    assert_eq!(h.app.start_queued().await, 0, "still no room");

    h.app
        .sandboxes()
        .terminate(&first_caller, &sid(&first), None)
        .await
        .unwrap();
    assert_eq!(
        h.app.start_queued().await,
        1,
        "room for one: the first paid"
    );
    h.until_state(&waiting, SandboxState::Running).await;
    assert_eq!(h.sandbox(&late).await.state, SandboxState::Queued);
    let queued = h.sandbox(&late).await;
    assert_eq!(
        (queued.charged, queued.balance),
        (Msats(0), Msats(50_000)),
        "unbilled"
    );

    h.clock.advance_ms(601_000);
    h.app.start_queued().await;
    let ended = h
        .app
        .queries()
        .present(h.app.queries().sandbox(&late_caller, &sid(&late)).unwrap());
    assert_eq!(ended.state, SandboxState::Terminated);
    assert_eq!(
        ended.withdraw.clone().map(|l| l.amount),
        Some(Msats(50_000))
    );
    assert_eq!(h.sandbox(&waiting).await.state, SandboxState::Running);
    assert!(h.audit().await.passed(), "{:?}", h.audit().await.violations);
}
