//! What undoes a half-done step: a sandbox whose container cannot be made
//! fails and its credits go back; a terminated sandbox returns the unused
//! balance to its account exactly once.

use crate::testing::sid;
use crate::testing::Harness;
use crate::{CreateSandbox, Principal};
use domain::account::AccountCommand;
use domain::sandbox::{
    BillingMethod, Funding, FundingSource, PauseReason, SandboxCommand, SandboxState,
};
use domain::{transfers, Msats, TierName};

#[tokio::test]
async fn a_sandbox_whose_container_cannot_be_made_fails_and_returns_its_credits() {
    let h = Harness::new();
    let owner = h.account(100).await;
    h.runtime.fail_creates(true);
    let (view, _) = h
        .app
        .sandboxes()
        .create_sandbox(
            &owner,
            CreateSandbox {
                tier: "small".into(),
                initial_credits_cents: Some(40),
                ..CreateSandbox::default()
            },
        )
        .await
        .unwrap();
    h.until_state(&view.sandbox_id, SandboxState::Failed).await;
    h.yield_a_while().await;
    let account = h.app.queries().account(&owner).unwrap();
    assert_eq!(account.balance, Msats::from_cents(100).unwrap());
    assert_eq!(h.runtime.count(), 0);
}

#[tokio::test]
async fn terminate_returns_the_unused_balance_once() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let id = h.running_sandbox(&owner, "nano", 50).await;
    h.clock.advance_ms(4_000);
    h.app
        .sandboxes()
        .terminate(&owner, &sid(&id), None)
        .await
        .unwrap();
    // nano ran 4 s: 2 000 msat of the 500 000 allocated.
    let account = h.app.queries().account(&owner).unwrap();
    assert_eq!(account.balance, Msats(1_000_000 - 2_000));
    assert!(
        h.app
            .sandboxes()
            .terminate(&owner, &sid(&id), None)
            .await
            .is_err(),
        "410 the second time"
    );
    // Reconciliation finishing returns again changes nothing.
    h.app.reconcile().await.unwrap();
    assert_eq!(
        h.app.queries().account(&owner).unwrap().balance,
        Msats(1_000_000 - 2_000)
    );
    assert_eq!(h.runtime.count(), 0);
}

#[tokio::test]
async fn removals_of_terminated_sandboxes_are_counted_until_they_end() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let id = h.running_sandbox(&owner, "nano", 10).await;
    let held = h.runtime.hold_removals().await;
    h.app
        .sandboxes()
        .terminate(&owner, &sid(&id), None)
        .await
        .unwrap();
    assert_eq!(h.app.removals_in_flight(), 1, "the removal waits");
    drop(held);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while h.app.removals_in_flight() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the removal never ended"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_sandbox_terminated_while_its_container_is_made_loses_the_container() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let making = h.runtime.hold_creates().await;
    let (view, _) = h
        .app
        .sandboxes()
        .create_sandbox(
            &owner,
            CreateSandbox {
                tier: "nano".into(),
                initial_credits_cents: Some(40),
                ..CreateSandbox::default()
            },
        )
        .await
        .unwrap();
    let id = view.sandbox_id;
    h.yield_a_while().await;
    assert_eq!(h.sandbox(&id).await.state, SandboxState::Creating);
    h.app
        .sandboxes()
        .terminate(&owner, &sid(&id), None)
        .await
        .unwrap();
    assert_eq!(
        h.app.queries().account(&owner).unwrap().balance,
        Msats::from_cents(100).unwrap()
    );
    // The engine finishes making the container only now: the sandbox has
    // ended, so its start is not recorded and the container goes.
    drop(making);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while h.runtime.made() == 0 || h.runtime.count() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the late container was never removed"
        );
        tokio::task::yield_now().await;
    }
    let sandbox = h.sandbox(&id).await;
    assert_eq!(sandbox.state, SandboxState::Terminated);
    assert_eq!(sandbox.container_id, None, "a start recorded after the end");
    assert_eq!(
        h.app.queries().account(&owner).unwrap().balance,
        Msats::from_cents(100).unwrap()
    );
    let audit = h.audit().await;
    assert!(audit.passed(), "{:?}", audit.violations);
}

#[tokio::test]
async fn another_tenant_cannot_act_on_a_sandbox() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let other = h.account(100).await;
    let id = h.running_sandbox(&owner, "nano", 10).await;
    let refused = h
        .app
        .sandboxes()
        .pause(&other, &sid(&id))
        .await
        .unwrap_err();
    assert_eq!(refused, crate::AppError::sandbox_not_found());
    assert!(h
        .app
        .sandboxes()
        .terminate(&other, &sid(&id), None)
        .await
        .is_err());
    assert_eq!(h.sandbox(&id).await.state, SandboxState::Running);
}

/// Allocate `cents` from `owner` to `sandbox_id` by transfer `transfer_id`
/// — the first step of a create or a top-up — and stop there, as a crash
/// would.
async fn allocate_only(
    h: &Harness,
    owner: &Principal,
    sandbox_id: &str,
    transfer_id: &str,
    cents: u64,
) {
    h.accounts
        .execute(
            owner.account_id().unwrap(),
            AccountCommand::AllocateCredits {
                sandbox_id: sandbox_id.into(),
                transfer_id: transfer_id.into(),
                amount: Msats::from_cents(cents).unwrap(),
                now_ms: h.app.now_ms(),
            },
        )
        .await
        .unwrap();
}

fn balance(h: &Harness, owner: &Principal) -> Msats {
    h.app.queries().account(owner).unwrap().balance
}

/// A crash after the first step of a create or a top-up strands credits in
/// neither stream; after a grace the leader voids the transfer on the
/// sandbox (so the step can never complete late) and undoes it, once.
#[tokio::test]
async fn a_crash_after_an_allocation_is_undone_once_and_the_late_step_refused() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let id = h.running_sandbox(&owner, "nano", 10).await;
    let top_up = transfers::top_up_transfer_id(&id, "crash");
    allocate_only(&h, &owner, "never-created", "never-created:fund", 30).await;
    allocate_only(&h, &owner, &id, &top_up, 5).await;
    assert_eq!(balance(&h, &owner), Msats::from_cents(55).unwrap());
    assert_eq!(
        h.app.billing.settle_credit_transfers().await,
        0,
        "not within the grace"
    );
    let open = h.audit().await.violations;
    assert_eq!(
        open.len(),
        2,
        "the auditor sees both open transfers: {open:?}"
    );

    h.clock.advance_ms(11_000);
    assert_eq!(h.app.billing.settle_credit_transfers().await, 2);
    assert_eq!(balance(&h, &owner), Msats::from_cents(90).unwrap());
    assert_eq!(
        h.app.billing.settle_credit_transfers().await,
        0,
        "undone once"
    );
    assert!(h.read.open_transfers(i64::MAX).is_empty());

    // The process that was only slow comes back: both late steps are refused.
    let late_create = h
        .sandboxes
        .execute(
            "never-created",
            SandboxCommand::CreateSandbox {
                owner: owner.account_id().map(str::to_string),
                tier: TierName::Nano,
                billing: BillingMethod::Credits,
                label: None,
                image: "img".into(),
                token_hash: None,
                network: Default::default(),
                runtime: None,
                lifetime: Default::default(),
                env: None,
                initial_funding: Some(Funding {
                    amount: Msats::from_cents(30).unwrap(),
                    source: FundingSource::Account {
                        account_id: owner.account_id().unwrap().into(),
                        transfer_id: Some("never-created:fund".into()),
                    },
                }),
                now_ms: h.app.now_ms(),
            },
        )
        .await;
    assert!(late_create.is_err(), "a voided create never happens");
    let late_top_up = h
        .sandboxes
        .execute(
            &id,
            SandboxCommand::ExtendBalance {
                funding: Funding {
                    amount: Msats::from_cents(5).unwrap(),
                    source: FundingSource::Account {
                        account_id: owner.account_id().unwrap().into(),
                        transfer_id: Some(top_up),
                    },
                },
                now_ms: h.app.now_ms(),
            },
        )
        .await;
    assert!(late_top_up.is_err(), "a voided top-up never arrives");
    assert_eq!(h.sandbox(&id).await.balance, Msats::from_cents(10).unwrap());
    assert_eq!(h.sandbox(&id).await.state, SandboxState::Running);
    assert!(h.audit().await.passed(), "{:?}", h.audit().await.violations);
}

/// A crash between the void and the undo: the next pass undoes it.
#[tokio::test]
async fn a_crash_between_void_and_undo_is_finished_by_the_next_pass() {
    let h = Harness::new();
    let owner = h.account(100).await;
    allocate_only(&h, &owner, "s1", "s1:fund", 30).await;
    h.sandboxes
        .execute(
            "s1",
            SandboxCommand::VoidTransfer {
                transfer_id: "s1:fund".into(),
                now_ms: h.app.now_ms(),
            },
        )
        .await
        .unwrap();
    h.clock.advance_ms(11_000);
    assert_eq!(h.app.billing.settle_credit_transfers().await, 1);
    assert_eq!(balance(&h, &owner), Msats::from_cents(100).unwrap());
    assert!(h.audit().await.passed(), "{:?}", h.audit().await.violations);
}

/// A transfer that completed is left alone however late the pass runs.
#[tokio::test]
async fn a_completed_transfer_is_never_undone() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let id = h.running_sandbox(&owner, "nano", 10).await;
    h.clock.advance_ms(3_600_000);
    assert_eq!(h.app.billing.settle_credit_transfers().await, 0);
    assert_eq!(
        h.app
            .billing
            .undo_allocation(
                &id,
                owner.account_id().unwrap(),
                &transfers::funding_transfer_id(&id),
                Msats(1)
            )
            .await,
        Ok(false),
        "the sandbox took it: it cannot be voided"
    );
    assert_eq!(balance(&h, &owner), Msats::from_cents(90).unwrap());
}

/// A crash after a sandbox recorded its refund and before the account took
/// it back: the leader completes the transfer, once.
#[tokio::test]
async fn a_crash_after_a_refund_is_completed_once() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let id = h.running_sandbox(&owner, "nano", 10).await;
    h.sandboxes
        .execute(
            &id,
            SandboxCommand::TerminateSandbox {
                now_ms: h.app.now_ms(),
            },
        )
        .await
        .unwrap();
    assert_eq!(balance(&h, &owner), Msats::from_cents(90).unwrap());
    assert_eq!(
        h.app.billing.settle_credit_transfers().await,
        1,
        "no grace for refunds"
    );
    assert_eq!(balance(&h, &owner), Msats::from_cents(100).unwrap());
    assert_eq!(h.app.billing.settle_credit_transfers().await, 0);
    h.app.billing.return_credits(&id).await;
    assert_eq!(
        balance(&h, &owner),
        Msats::from_cents(100).unwrap(),
        "returned once"
    );
    assert!(h.audit().await.passed(), "{:?}", h.audit().await.violations);
}

/// One account cannot take the whole server.
#[tokio::test]
async fn an_account_holds_at_most_its_share_of_live_sandboxes() {
    let h = Harness::with_config(crate::AppConfig {
        max_sandboxes_per_account: 2,
        ..crate::AppConfig::default()
    });
    let greedy = h.account(100).await;
    let other = h.account(100).await;
    let first = h.running_sandbox(&greedy, "nano", 1).await;
    h.running_sandbox(&greedy, "nano", 1).await;
    let refused = h
        .app
        .sandboxes()
        .create_sandbox(
            &greedy,
            CreateSandbox {
                tier: "nano".into(),
                initial_credits_cents: Some(1),
                ..CreateSandbox::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), crate::ErrorCode::RateLimited, "{refused}");
    assert_eq!(
        h.app.queries().account(&greedy).unwrap().balance,
        Msats::from_cents(98).unwrap(),
        "nothing was allocated for the refused create"
    );
    h.running_sandbox(&other, "nano", 1).await;
    h.app
        .sandboxes()
        .terminate(&greedy, &sid(&first), None)
        .await
        .unwrap();
    h.running_sandbox(&greedy, "nano", 1).await;
}

/// A sandbox left paused past SOCKT_PAUSED_TTL is terminated and its unused
/// credits go back; one paused for less is left alone.
#[tokio::test]
async fn a_sandbox_paused_too_long_is_terminated_with_its_refund() {
    let h = Harness::with_config(crate::AppConfig {
        paused_ttl: Some(std::time::Duration::from_secs(3600)),
        ..crate::AppConfig::default()
    });
    let owner = h.account(100).await;
    let old = h.running_sandbox(&owner, "nano", 10).await;
    let recent = h.running_sandbox(&owner, "nano", 10).await;
    h.app.sandboxes().pause(&owner, &sid(&old)).await.unwrap();
    h.clock.advance_ms(3_000_000);
    h.app
        .sandboxes()
        .pause(&owner, &sid(&recent))
        .await
        .unwrap();
    h.clock.advance_ms(700_000);
    assert_eq!(h.app.end_long_paused().await, 1);
    assert_eq!(h.sandbox(&old).await.state, SandboxState::Terminated);
    assert_eq!(h.sandbox(&recent).await.state, SandboxState::Paused);
    // The old one's unused credits are back; the recent one still holds its 10 cents.
    let old_charged = h.sandbox(&old).await.charged;
    assert_eq!(
        h.app.queries().account(&owner).unwrap().balance,
        Msats::from_cents(90).unwrap().saturating_sub(old_charged)
    );
}

/// A sandbox paused because its balance ran out ends after the short
/// unfunded grace (a cent must not hold a slot for the paused TTL); one
/// its owner paused waits the whole TTL.
#[tokio::test]
async fn a_sandbox_out_of_balance_ends_after_the_unfunded_grace() {
    let h = Harness::with_config(crate::AppConfig {
        paused_ttl: Some(std::time::Duration::from_secs(7 * 24 * 3600)),
        unfunded_grace: Some(std::time::Duration::from_secs(600)),
        ..crate::AppConfig::default()
    });
    let owner = h.account(100).await;
    // nano: 500 msat/s; 1 cent lasts 20 s.
    let unfunded = h.running_sandbox(&owner, "nano", 1).await;
    let requested = h.running_sandbox(&owner, "nano", 10).await;
    h.app
        .sandboxes()
        .pause(&owner, &sid(&requested))
        .await
        .unwrap();
    h.clock.advance_ms(25_000);
    h.app.meter_tick().await;
    let paused = h.sandbox(&unfunded).await;
    assert_eq!(paused.state, SandboxState::Paused);
    assert_eq!(paused.pause_reason, Some(PauseReason::OutOfBalance));

    h.clock.advance_ms(590_000);
    assert_eq!(h.app.end_long_paused().await, 0, "still within its grace");
    h.clock.advance_ms(15_000);
    assert_eq!(h.app.end_long_paused().await, 1);
    assert_eq!(h.sandbox(&unfunded).await.state, SandboxState::Terminated);
    assert_eq!(h.sandbox(&requested).await.state, SandboxState::Paused);
    assert_eq!(h.runtime.status(&unfunded), None, "its container is gone");
}

/// With no grace configured, an unfunded pause waits the paused TTL like
/// any other.
#[tokio::test]
async fn without_an_unfunded_grace_only_the_paused_ttl_applies() {
    let h = Harness::with_config(crate::AppConfig {
        paused_ttl: Some(std::time::Duration::from_secs(3600)),
        unfunded_grace: None,
        ..crate::AppConfig::default()
    });
    let owner = h.account(100).await;
    let unfunded = h.running_sandbox(&owner, "nano", 1).await;
    h.clock.advance_ms(25_000);
    h.app.meter_tick().await;
    assert_eq!(h.sandbox(&unfunded).await.state, SandboxState::Paused);
    h.clock.advance_ms(3_000_000);
    assert_eq!(h.app.end_long_paused().await, 0);
    h.clock.advance_ms(700_000);
    assert_eq!(h.app.end_long_paused().await, 1);
}

/// A command the kernel killed for lack of memory ends failed, exit 137,
/// saying so (the runtime tells it from another kill).
#[tokio::test]
async fn an_out_of_memory_kill_is_named_in_the_execution() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let id = h.running_sandbox(&owner, "nano", 10).await;
    let poll = h
        .app
        .executions()
        .exec_and_wait(
            &owner,
            &sid(&id),
            crate::testing::FAKE_MEMORY_HOG,
            None,
            None,
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        poll.execution.status,
        domain::execution::ExecutionStatus::Failed
    );
    assert_eq!(poll.execution.exit_code, Some(137));
    assert!(poll
        .execution
        .error
        .as_deref()
        .is_some_and(|e| e.starts_with("killed: out of memory")));
}
