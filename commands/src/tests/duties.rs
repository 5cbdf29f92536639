//! Leadership: duties start when the lease is gained (after reconciling) and
//! stop when it is lost.

use crate::testing::{FakeLease, Harness};
use crate::Duties;
use domain::sandbox::SandboxState;
use std::sync::atomic::Ordering;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn a_process_leads_only_while_it_holds_the_lease() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let vanished = h.running_sandbox(&owner, "nano", 10).await;
    h.runtime.vanish(&vanished);
    let lease = FakeLease::default();
    let mut duties = Duties::new(h.app.clone(), Box::new(lease.clone()));
    let leadership = duties.leadership();
    let shutdown = CancellationToken::new();

    duties.step(&shutdown).await.unwrap();
    assert!(!leadership.is_leading());
    assert_eq!(
        h.sandbox(&vanished).await.state,
        SandboxState::Running,
        "a follower reconciles nothing"
    );

    lease.0.store(true, Ordering::SeqCst);
    duties.step(&shutdown).await.unwrap();
    assert!(leadership.is_leading());
    // Failed after the grace a terminate elsewhere gets to record its end.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert_eq!(
        h.sandbox(&vanished).await.state,
        SandboxState::Failed,
        "the new leader reconciled"
    );

    lease.0.store(false, Ordering::SeqCst);
    duties.step(&shutdown).await.unwrap();
    assert!(!leadership.is_leading());
    shutdown.cancel();
}
