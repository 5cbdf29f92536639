//! Stopping a sandbox's processes: its running commands end `cancelled`
//! (each tree killed, its end recorded) before every other process (what
//! commands left in the background) is killed; the sandbox keeps running; a paused sandbox is refused and
//! another tenant's is not found.

use crate::testing::sid;
use crate::testing::{FakeRuntime, Harness, FAKE_DAEMON, FAKE_SLEEP};
use crate::{AppError, ErrorCode};
use domain::execution::ExecutionStatus;

#[tokio::test]
async fn running_commands_end_cancelled_before_the_rest_is_killed() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let id = h.running_sandbox(&owner, "nano", 10).await;
    let daemon = h
        .app
        .executions()
        .exec_and_wait(
            &owner,
            &sid(&id),
            FAKE_DAEMON,
            None,
            None,
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(daemon.execution.status, ExecutionStatus::Completed);
    let running = h
        .app
        .executions()
        .exec(
            &owner,
            &sid(&id),
            FAKE_SLEEP,
            None,
            Some(60_000),
            Default::default(),
        )
        .await
        .unwrap();

    let stopped = h
        .app
        .executions()
        .kill_processes(&owner, &sid(&id))
        .await
        .unwrap();
    assert_eq!(
        stopped.cancelled,
        std::slice::from_ref(&running.execution_id)
    );
    assert_eq!(stopped.killed, 1, "the daemon's process");
    let execution = h.read.execution(&running.execution_id).unwrap();
    assert_eq!(execution.status, ExecutionStatus::Cancelled);
    let container = FakeRuntime::container_of(&id);
    assert_eq!(
        h.runtime.exec_log(),
        [
            ("started", daemon.execution.execution_id.clone()),
            ("started", running.execution_id.clone()),
            ("killed", running.execution_id.clone()),
            ("killed processes", container),
        ]
    );

    let next = h
        .app
        .executions()
        .exec_and_wait(
            &owner,
            &sid(&id),
            "echo next",
            None,
            None,
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(next.execution.exit_code, Some(0), "the sandbox runs on");
    let audit = h.audit().await;
    assert!(audit.passed(), "{:?}", audit.violations);
}

#[tokio::test]
async fn a_paused_sandbox_is_refused_and_another_tenants_is_not_found() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let stranger = h.account(100).await;
    let id = h.running_sandbox(&owner, "nano", 10).await;

    let hidden = h
        .app
        .executions()
        .kill_processes(&stranger, &sid(&id))
        .await;
    assert!(
        matches!(
            &hidden,
            Err(AppError::NotFound {
                code: ErrorCode::SandboxNotFound,
                ..
            })
        ),
        "{hidden:?}"
    );
    h.app.sandboxes().pause(&owner, &sid(&id)).await.unwrap();
    let refused = h.app.executions().kill_processes(&owner, &sid(&id)).await;
    assert!(
        matches!(
            &refused,
            Err(AppError::Conflict {
                code: ErrorCode::SandboxPaused,
                ..
            })
        ),
        "{refused:?}"
    );
    assert!(
        !h.runtime
            .exec_log()
            .iter()
            .any(|(what, _)| *what == "killed processes"),
        "nothing was killed"
    );
}
