//! Reconciliation when a process becomes the leader: strays go, vanished
//! containers fail their sandbox (and return its credits), sandboxes a dead
//! process was creating are provisioned or their container adopted, and the
//! runtime's paused state is brought in line with the log.

use crate::testing::sid;
use crate::testing::{FakeRuntime, Harness};
use domain::ports::ContainerStatus;
use domain::sandbox::SandboxState;
use domain::Msats;

#[tokio::test]
async fn strays_go_and_vanished_containers_fail_their_sandbox() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let kept = h.running_sandbox(&owner, "nano", 10).await;
    let vanished = h.running_sandbox(&owner, "nano", 10).await;
    h.runtime.add("no-such-sandbox", ContainerStatus::Running);
    h.runtime.vanish(&vanished);

    let report = h.app.reconcile().await.unwrap();
    assert_eq!(report.containers_removed, 1);
    assert_eq!(report.sandboxes_failed, 1);
    // Failed after the grace a terminate elsewhere gets to record its end.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert_eq!(h.sandbox(&vanished).await.state, SandboxState::Failed);
    assert_eq!(h.sandbox(&kept).await.state, SandboxState::Running);
    assert_eq!(h.runtime.count(), 1);
    // The failed sandbox's 10 cents are back on the account.
    assert_eq!(
        h.app.queries().account(&owner).unwrap().balance,
        Msats::from_cents(90).unwrap()
    );
}

#[tokio::test]
async fn a_paused_sandbox_whose_container_runs_is_paused_again() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let id = h.running_sandbox(&owner, "nano", 10).await;
    h.app.sandboxes().pause(&owner, &sid(&id)).await.unwrap();
    h.app
        .runtime
        .resume(&FakeRuntime::container_of(&id))
        .await
        .unwrap();
    h.app.reconcile().await.unwrap();
    assert_eq!(h.runtime.status(&id), Some(ContainerStatus::Paused));
}

#[tokio::test]
async fn creating_sandboxes_are_provisioned_and_an_existing_container_adopted() {
    let h = Harness::new();
    let owner = h.account(100).await;
    // A process recorded the create and died before provisioning it...
    let (view, _) = h
        .app
        .sandboxes()
        .create_sandbox(
            &owner,
            crate::CreateSandbox {
                tier: "nano".into(),
                initial_credits_cents: Some(10),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let id = view.sandbox_id;
    {
        // (its provisioning task finds the step under way and does nothing)
        let _dead = h.app.provisioning.in_flight.begin(&id).unwrap();
        h.yield_a_while().await;
    }
    assert_eq!(h.sandbox(&id).await.state, SandboxState::Creating);
    // ...and one made the container but never recorded it.
    let made = h.runtime.add(&id, ContainerStatus::Running);

    let report = h.app.reconcile().await.unwrap();
    assert_eq!(report.sandboxes_provisioned, 1);
    assert_eq!(
        report.containers_removed, 0,
        "the creating sandbox's container is no stray"
    );
    h.until_state(&id, SandboxState::Running).await;
    assert_eq!(h.sandbox(&id).await.container_id, Some(made));
    assert_eq!(h.runtime.count(), 1);
}

/// A new leader ends the executions whose process died — not those another
/// live process still runs.
#[tokio::test]
async fn a_new_leader_ends_only_the_executions_of_dead_processes() {
    use crate::testing::FakeRunners;
    use domain::sandbox::SandboxCommand;
    let h = Harness::new();
    let owner = h.account(100).await;
    let id = h.running_sandbox(&owner, "nano", 10).await;
    for (execution, runner) in [("e-dead", "process-a"), ("e-alive", "process-b")] {
        h.sandboxes
            .execute(
                &id,
                SandboxCommand::StartExecution {
                    execution_id: execution.into(),
                    command: "sleep 60".into(),
                    working_dir: "/home/sandbox".into(),
                    timeout_ms: 60_000,
                    runner: Some(runner.into()),
                    now_ms: h.app.now_ms(),
                },
            )
            .await
            .unwrap();
    }
    // The new leader: another process over the same store and views.
    let leader = crate::App::new(
        h.sandboxes.clone(),
        h.accounts.clone(),
        h.read.clone(),
        h.runtime.clone(),
        h.clock.clone(),
        crate::AppConfig::default(),
    )
    .with_runners(std::sync::Arc::new(FakeRunners {
        me: "process-c".into(),
        alive: std::sync::Mutex::new(["process-b".to_string()].into()),
    }));
    let report = leader.reconcile().await.unwrap();
    assert_eq!(report.executions_ended, 1);
    let status = |e: &str| h.read.execution(e).unwrap().status;
    assert_eq!(status("e-dead"), domain::execution::ExecutionStatus::Failed);
    assert_eq!(
        status("e-alive"),
        domain::execution::ExecutionStatus::Running
    );
}

/// The watch fails a sandbox only when a direct look finds its container
/// stopped or gone: one still starting, or one a busy engine left out of a
/// listing, keeps running.
#[tokio::test]
async fn the_watch_tells_a_starting_or_unlisted_container_from_a_dead_one() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let starting = h.running_sandbox(&owner, "nano", 10).await;
    let unlisted = h.running_sandbox(&owner, "nano", 10).await;
    let dead = h.running_sandbox(&owner, "nano", 10).await;
    h.runtime.force_status(&starting, ContainerStatus::Starting);
    h.runtime.leave_out_of_listings(&unlisted);
    h.runtime.force_status(&dead, ContainerStatus::Stopped);

    assert_eq!(h.app.watch_containers().await.unwrap(), 1);
    // Failed after the grace a terminate gets to record its end.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert_eq!(h.sandbox(&starting).await.state, SandboxState::Running);
    assert_eq!(h.sandbox(&unlisted).await.state, SandboxState::Running);
    assert_eq!(h.sandbox(&dead).await.state, SandboxState::Failed);
}

/// A terminate kills the container first and records the end just after —
/// in another process, the watch may look in between: the sandbox it
/// found dead ends terminated, not failed.
#[tokio::test]
async fn a_container_killed_by_a_terminate_is_not_taken_for_a_death() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let id = h.running_sandbox(&owner, "nano", 10).await;
    h.runtime.force_status(&id, ContainerStatus::Stopped);
    assert_eq!(h.app.watch_containers().await.unwrap(), 1);
    h.app
        .sandboxes()
        .terminate(&owner, &sid(&id), None)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert_eq!(h.sandbox(&id).await.state, SandboxState::Terminated);
}

/// A new leader keeps serving while it reconciles: a running sandbox whose
/// container a listing left out (started after it, or missed by a busy
/// engine) is not taken for a death — only a direct look decides.
#[tokio::test]
async fn reconciliation_fails_only_what_a_direct_look_finds_dead() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let unlisted = h.running_sandbox(&owner, "nano", 10).await;
    let dead = h.running_sandbox(&owner, "nano", 10).await;
    h.runtime.leave_out_of_listings(&unlisted);
    h.runtime.force_status(&dead, ContainerStatus::Stopped);

    let report = h.app.reconcile().await.unwrap();
    assert_eq!(report.sandboxes_failed, 1);
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert_eq!(h.sandbox(&unlisted).await.state, SandboxState::Running);
    assert_eq!(h.sandbox(&dead).await.state, SandboxState::Failed);
}
