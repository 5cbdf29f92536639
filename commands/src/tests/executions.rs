//! Executions start while their start is being recorded: a start the store
//! cannot record kills the process and leaves nothing behind; an end is
//! never recorded before its start; a caller that goes away midway leaves
//! a command that ran recorded from start to end.

use crate::testing::sid;
use crate::testing::{Harness, FAKE_SLEEP};
use std::time::Duration;

/// The types of the execution events stored, in order.
async fn recorded_execs(h: &Harness) -> Vec<String> {
    h.sandbox_event_types()
        .await
        .into_iter()
        .filter(|t| t.starts_with("Exec"))
        .collect()
}

#[tokio::test]
async fn a_command_whose_start_cannot_be_recorded_fails_and_its_process_is_killed() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let id = h.running_sandbox(&owner, "nano", 10).await;

    h.refuse_sandbox_commits(true);
    let refused = h
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
        .await;
    assert!(refused.is_err(), "the caller learns the start failed");
    // Either it never started, or it started and was killed.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = h.runtime.exec_log();
    for (at, (what, execution)) in log.iter().enumerate() {
        if *what == "started" {
            assert!(
                log[at..]
                    .iter()
                    .any(|(w, e)| *w == "killed" && e == execution),
                "a process left running: {log:?}"
            );
        }
    }
    h.refuse_sandbox_commits(false);

    let recorded = recorded_execs(&h).await;
    assert!(recorded.is_empty(), "nothing recorded for it: {recorded:?}");
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
    assert_eq!(
        next.execution.exit_code,
        Some(0),
        "the sandbox still runs commands"
    );
    let audit = h.audit().await;
    assert!(audit.passed(), "{:?}", audit.violations);
}

#[tokio::test]
async fn every_end_is_recorded_after_its_start() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let id = h.running_sandbox(&owner, "nano", 10).await;
    for i in 0..20 {
        let done = h
            .app
            .executions()
            .exec_and_wait(
                &owner,
                &sid(&id),
                &format!("echo {i}"),
                None,
                None,
                Default::default(),
            )
            .await
            .unwrap();
        assert_eq!(done.execution.exit_code, Some(0));
    }
    let execs = recorded_execs(&h).await;
    assert_eq!(execs.len(), 40);
    for pair in execs.chunks(2) {
        assert_eq!(pair, ["ExecStarted", "ExecFinished"]);
    }
}

#[tokio::test]
async fn a_caller_gone_midway_leaves_a_command_that_ran_recorded_to_its_end() {
    let h = Harness::new();
    let owner = h.account(100).await;
    let id = h.running_sandbox(&owner, "nano", 10).await;
    h.slow_sandbox_commits(50);
    let sandbox = sid(&id);
    let request =
        h.app
            .executions()
            .exec(&owner, &sandbox, "echo hi", None, None, Default::default());
    // The caller hangs up while the start is being recorded.
    assert!(tokio::time::timeout(Duration::from_millis(10), request)
        .await
        .is_err());
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.slow_sandbox_commits(0);
    let ran = h
        .runtime
        .exec_log()
        .iter()
        .any(|(what, _)| *what == "started");
    let recorded = recorded_execs(&h).await;
    if ran {
        assert_eq!(recorded, ["ExecStarted", "ExecFinished"]);
    } else {
        assert!(recorded.is_empty(), "{recorded:?}");
    }
}
