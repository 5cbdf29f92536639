//! What undoes a half-done step: a sandbox whose container cannot be made
//! fails and its credits go back; a terminated sandbox returns the unused
//! balance to its account exactly once.

use crate::testing::Harness;
use crate::CreateSandbox;
use domain::sandbox::SandboxState;
use domain::Msats;

#[tokio::test]
async fn a_sandbox_whose_container_cannot_be_made_fails_and_returns_its_credits() {
    let h = Harness::new();
    let owner = h.account(100).await;
    h.runtime.fail_creates(true);
    let (view, _) = h
        .app
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
    let account = h.app.account(&owner).unwrap();
    assert_eq!(account.balance, Msats::from_cents(100).unwrap());
    assert_eq!(h.runtime.count(), 0);
}

#[tokio::test]
async fn terminate_returns_the_unused_balance_once() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let id = h.running_sandbox(&owner, "nano", 50).await;
    h.clock.advance_ms(4_000);
    h.app.terminate(&owner, &id, None).await.unwrap();
    // nano ran 4 s: 2 000 msat of the 500 000 allocated.
    let account = h.app.account(&owner).unwrap();
    assert_eq!(account.balance, Msats(1_000_000 - 2_000));
    assert!(
        h.app.terminate(&owner, &id, None).await.is_err(),
        "410 the second time"
    );
    // Reconciliation finishing returns again changes nothing.
    h.app.reconcile().await.unwrap();
    assert_eq!(
        h.app.account(&owner).unwrap().balance,
        Msats(1_000_000 - 2_000)
    );
    assert_eq!(h.runtime.count(), 0);
}

#[tokio::test]
async fn another_tenant_cannot_act_on_a_sandbox() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let other = h.account(100).await;
    let id = h.running_sandbox(&owner, "nano", 10).await;
    let refused = h.app.pause(&other, &id).await.unwrap_err();
    assert_eq!(refused, crate::AppError::sandbox_not_found());
    assert!(h.app.terminate(&other, &id, None).await.is_err());
    assert_eq!(h.sandbox(&id).await.state, SandboxState::Running);
}

/// A crash right after an account's allocation — of a create, or of a
/// top-up — strands credits in neither stream; the leader gives them back,
/// once, after a grace that lets a live process finish its step.
#[tokio::test]
async fn credits_a_crash_strands_between_account_and_sandbox_are_given_back() {
    use domain::account::AccountCommand;
    let h = Harness::new();
    let owner = h.account(100).await;
    let account_id = owner.account_id().unwrap().to_string();
    let id = h.running_sandbox(&owner, "nano", 10).await;
    for (sandbox, cents) in [("never-created", 30), (id.as_str(), 5)] {
        h.accounts
            .execute(
                &account_id,
                AccountCommand::AllocateCredits {
                    sandbox_id: sandbox.into(),
                    amount: Msats::from_cents(cents).unwrap(),
                    now_ms: h.app.now_ms(),
                },
            )
            .await
            .unwrap();
    }
    let balance = |h: &Harness| h.app.account(&owner).unwrap().balance;
    assert_eq!(balance(&h), Msats::from_cents(55).unwrap());
    assert_eq!(
        h.app.settle_credit_transfers().await,
        0,
        "not within the grace"
    );

    h.clock.advance_ms(61_000);
    assert_eq!(h.app.settle_credit_transfers().await, 2);
    assert_eq!(balance(&h), Msats::from_cents(90).unwrap());
    assert_eq!(h.app.settle_credit_transfers().await, 0, "given back once");
    assert!(h.read.stranded_credits(i64::MAX).is_empty());
    assert_eq!(h.sandbox(&id).await.state, SandboxState::Running);
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
        h.app.account(&greedy).unwrap().balance,
        Msats::from_cents(98).unwrap(),
        "nothing was allocated for the refused create"
    );
    h.running_sandbox(&other, "nano", 1).await;
    h.app.terminate(&greedy, &first, None).await.unwrap();
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
    h.app.pause(&owner, &old).await.unwrap();
    h.clock.advance_ms(3_000_000);
    h.app.pause(&owner, &recent).await.unwrap();
    h.clock.advance_ms(700_000);
    assert_eq!(h.app.end_long_paused().await, 1);
    assert_eq!(h.sandbox(&old).await.state, SandboxState::Terminated);
    assert_eq!(h.sandbox(&recent).await.state, SandboxState::Paused);
    // The old one's unused credits are back; the recent one still holds its 10 cents.
    let old_charged = h.sandbox(&old).await.charged;
    assert_eq!(
        h.app.account(&owner).unwrap().balance,
        Msats::from_cents(90).unwrap().saturating_sub(old_charged)
    );
}
