//! Admission reads a view (live sandboxes on the server and per account),
//! and concurrent creates never pass its limits together: each counts from
//! its check until its sandbox is in the view; a failed create gives its
//! place back.

use crate::testing::sid;
use crate::testing::Harness;
use crate::{AppConfig, AppError, CreateSandbox, Principal};
use std::sync::Arc;

fn limits(server: usize, per_account: usize) -> Harness {
    Harness::with_config(AppConfig {
        max_live_sandboxes: server,
        max_sandboxes_per_account: per_account,
        ..AppConfig::default()
    })
}

async fn create(h: &Harness, owner: &Principal) -> Result<String, AppError> {
    h.app
        .sandboxes()
        .create_sandbox(
            owner,
            CreateSandbox {
                tier: "nano".into(),
                initial_credits_cents: Some(1),
                ..CreateSandbox::default()
            },
        )
        .await
        .map(|(view, _token)| view.sandbox_id)
}

/// Twelve creates at once, each commit slow enough that all of them are
/// checked before the first is stored: the limits still hold.
#[tokio::test]
async fn concurrent_creates_never_pass_the_server_or_account_limit() {
    let h = Arc::new(limits(3, 2));
    let (alice, bob) = (h.account(100).await, h.account(100).await);
    h.slow_sandbox_commits(30);
    let mut creates = tokio::task::JoinSet::new();
    for owner in [&alice, &bob].repeat(6) {
        let (h, owner) = (h.clone(), owner.clone());
        creates.spawn(async move { (owner.clone(), create(&h, &owner).await) });
    }
    let mut admitted = Vec::new();
    while let Some(done) = creates.join_next().await {
        match done.unwrap() {
            (owner, Ok(_)) => admitted.push(owner),
            (_, Err(AppError::NoCapacity(_) | AppError::RateLimited(_))) => {}
            (_, Err(other)) => panic!("unexpected refusal: {other}"),
        }
    }
    assert_eq!(admitted.len(), 3, "the server's limit");
    for owner in [&alice, &bob] {
        let theirs = admitted.iter().filter(|o| o == &owner).count();
        assert!(theirs <= 2, "an account's limit: {theirs}");
    }
    assert_eq!(h.read.live_sandbox_count(), 3);
    let audit = h.audit().await;
    assert!(audit.passed(), "{:?}", audit.violations);
}

/// A create whose events cannot be stored gives its place back, and one
/// ended frees its place for the next.
#[tokio::test]
async fn failed_and_ended_creates_give_their_place_back() {
    let h = limits(1, 1);
    let owner = h.account(100).await;
    h.refuse_sandbox_commits(true);
    assert!(create(&h, &owner).await.is_err());
    h.refuse_sandbox_commits(false);
    let first = create(&h, &owner).await.unwrap();
    assert!(matches!(
        create(&h, &owner).await,
        Err(AppError::NoCapacity(_))
    ));
    h.app
        .sandboxes()
        .terminate(&owner, &sid(&first), None)
        .await
        .unwrap();
    create(&h, &owner).await.unwrap();
}
