//! The meter: charges running time per interval, warns on low balance,
//! pauses a sandbox with nothing left and resumes it after a top-up.

use crate::testing::sid;
use crate::testing::{FakeRuntime, Harness};
use domain::ports::ContainerStatus;
use domain::sandbox::{PauseReason, SandboxState};
use domain::Msats;

#[tokio::test]
async fn charges_each_interval_then_pauses_at_zero_and_resumes_after_a_top_up() {
    let h = Harness::new();
    let owner = h.account(10).await;
    // nano: 500 msat/s; 1 cent = 10 000 msat = 20 s of running.
    let id = h.running_sandbox(&owner, "nano", 1).await;

    h.clock.advance_ms(10_000);
    h.app.meter_tick().await;
    let sandbox = h.sandbox(&id).await;
    assert_eq!(sandbox.charged, Msats(5_000));
    assert_eq!(sandbox.state, SandboxState::Running);

    h.clock.advance_ms(15_000);
    h.app.meter_tick().await;
    let sandbox = h.sandbox(&id).await;
    assert_eq!(
        sandbox.charged,
        Msats(10_000),
        "never more than the balance"
    );
    assert_eq!(sandbox.balance, Msats(0));
    assert_eq!(
        (sandbox.state, sandbox.pause_reason),
        (SandboxState::Paused, Some(PauseReason::OutOfBalance))
    );
    assert_eq!(h.runtime.status(&id), Some(ContainerStatus::Paused));

    // Paused time is never billed.
    h.clock.advance_ms(60_000);
    h.app.meter_tick().await;
    assert_eq!(h.sandbox(&id).await.charged, Msats(10_000));

    h.app
        .sandboxes()
        .extend_balance(&owner, &sid(&id), Some(1), None, None)
        .await
        .unwrap();
    assert_eq!(h.sandbox(&id).await.state, SandboxState::Running);
    assert_eq!(h.runtime.status(&id), Some(ContainerStatus::Running));

    let ledger = h.read.ledger(&id);
    let charges: Vec<_> = ledger
        .iter()
        .filter(|e| e.from_ms.is_some())
        .map(|e| (e.from_ms.unwrap(), e.to_ms.unwrap()))
        .collect();
    for pair in charges.windows(2) {
        assert_eq!(pair[0].1, pair[1].0, "contiguous charges: {charges:?}");
    }
}

#[tokio::test]
async fn charges_nothing_before_the_interval_unless_the_balance_runs_out_or_low() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let id = h.running_sandbox(&owner, "nano", 100).await;
    h.clock.advance_ms(3_000);
    h.app.meter_tick().await;
    assert_eq!(h.sandbox(&id).await.charged, Msats(0));
    assert!(h.read.ledger(&id).iter().all(|e| e.from_ms.is_none()));
}

#[tokio::test]
async fn warns_once_when_less_than_the_low_balance_time_is_left() {
    let h = Harness::new();
    let owner = h.account(10).await;
    // 2 cents at 500 msat/s: 40 s, under the default 60 s warning.
    let id = h.running_sandbox(&owner, "nano", 2).await;
    h.clock.advance_ms(1_000);
    h.app.meter_tick().await;
    assert!(h.sandbox(&id).await.low_balance_warned);
    let warnings = |h: &Harness| {
        h.read
            .timeline(&id)
            .iter()
            .filter(|e| e.event_type == "LowBalanceWarned")
            .count()
    };
    assert_eq!(warnings(&h), 1);
    h.clock.advance_ms(1_000);
    h.app.meter_tick().await;
    assert_eq!(warnings(&h), 1, "warned once");
    assert_eq!(
        FakeRuntime::container_of(&id),
        h.sandbox(&id).await.container_id.unwrap()
    );
}
