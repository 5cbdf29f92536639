//! Lifetimes chosen at create: the timeout ends a sandbox with its refund,
//! idleness pauses it, and activity (a running command) keeps it awake.

use crate::testing::sid;
use crate::testing::Harness;
use crate::CreateSandbox;
use domain::sandbox::{PauseReason, SandboxState};
use domain::Msats;

#[tokio::test]
async fn the_timeout_ends_a_sandbox_with_its_refund_and_idleness_pauses_one() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let create = |timeout_secs, idle_pause_secs| CreateSandbox {
        tier: "nano".into(),
        initial_credits_cents: Some(10),
        timeout_secs,
        idle_pause_secs,
        ..Default::default()
    };
    let (timed, _) = h
        .app
        .sandboxes()
        .create_sandbox(&owner, create(Some(60), None))
        .await
        .unwrap();
    let (idle, _) = h
        .app
        .sandboxes()
        .create_sandbox(&owner, create(None, Some(30)))
        .await
        .unwrap();
    let (busy, _) = h
        .app
        .sandboxes()
        .create_sandbox(&owner, create(None, Some(30)))
        .await
        .unwrap();
    for id in [&timed.sandbox_id, &idle.sandbox_id, &busy.sandbox_id] {
        h.until_state(id, SandboxState::Running).await;
    }
    h.app
        .executions()
        .exec(
            &owner,
            &sid(&busy.sandbox_id),
            crate::testing::FAKE_SLEEP,
            None,
            Some(3_600_000),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        h.app.enforce_lifetimes().await,
        (0, 0),
        "nothing is due yet"
    );

    h.clock.advance_ms(31_000);
    assert_eq!(h.app.enforce_lifetimes().await, (0, 1));
    let paused = h.sandbox(&idle.sandbox_id).await;
    assert_eq!(paused.state, SandboxState::Paused);
    assert_eq!(paused.pause_reason, Some(PauseReason::Idle));
    assert_eq!(
        h.sandbox(&busy.sandbox_id).await.state,
        SandboxState::Running,
        "a running command is activity"
    );

    h.clock.advance_ms(30_000);
    let (ended, _) = h.app.enforce_lifetimes().await;
    assert_eq!(ended, 1);
    let timed_out = h.sandbox(&timed.sandbox_id).await;
    assert_eq!(timed_out.state, SandboxState::Terminated);
    assert!(
        timed_out.refunded > Msats::ZERO,
        "its unused balance went back"
    );
    assert!(h.audit().await.passed());

    let refused = h
        .app
        .sandboxes()
        .create_sandbox(&owner, create(Some(0), None))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("timeout_secs"), "{refused}");
}
