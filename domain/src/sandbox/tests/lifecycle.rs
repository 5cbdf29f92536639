//! Given/when/then tests of creation, pause, resume, termination and failure.

use super::*;

#[test]
fn create_with_credits_records_creation_and_funding() {
    Test::with(())
        .given_no_previous_events()
        .when(SandboxCommand::CreateSandbox {
            owner: Some("acct".into()),
            tier: TierName::Micro,
            billing: BillingMethod::Credits,
            label: Some("job".into()),
            image: "img".into(),
            token_hash: None,
            network: Default::default(),
            runtime: None,
            lifetime: Default::default(),
            env: None,
            initial_funding: Some(account_funding(60_000)),
            now_ms: T0,
        })
        .then_expect_events(vec![created(), funded(60_000)]);
}

#[test]
fn create_twice_is_refused() {
    Test::with(())
        .given(vec![created()])
        .when(SandboxCommand::CreateSandbox {
            owner: None,
            tier: TierName::Nano,
            billing: BillingMethod::Credits,
            label: None,
            image: "img".into(),
            token_hash: None,
            network: Default::default(),
            runtime: None,
            lifetime: Default::default(),
            env: None,
            initial_funding: None,
            now_ms: T0,
        })
        .then_expect_error(SandboxError::AlreadyExists);
}

#[test]
fn commands_on_a_missing_sandbox_are_not_found() {
    Test::with(())
        .given_no_previous_events()
        .when(SandboxCommand::PauseSandbox {
            reason: PauseReason::Requested,
            now_ms: T0,
        })
        .then_expect_error(SandboxError::NotFound);
}

#[test]
fn pause_charges_up_to_the_pause() {
    Test::with(())
        .given(running(100_000))
        .when(SandboxCommand::PauseSandbox {
            reason: PauseReason::Requested,
            now_ms: T0 + 1_500,
        })
        .then_expect_events(vec![
            SandboxEvent::UsageCharged {
                from_ms: T0,
                to_ms: T0 + 1_500,
                msats_per_second: 1_000,
                amount: Msats(1_500),
                balance_after: Msats(98_500),
            },
            SandboxEvent::SandboxPaused {
                reason: PauseReason::Requested,
                at_ms: T0 + 1_500,
            },
        ]);
}

#[test]
fn resume_needs_balance() {
    let mut given = running(1_000);
    given.push(SandboxEvent::UsageCharged {
        from_ms: T0,
        to_ms: T0 + 1_000,
        msats_per_second: 1_000,
        amount: Msats(1_000),
        balance_after: Msats(0),
    });
    given.push(SandboxEvent::SandboxPaused {
        reason: PauseReason::OutOfBalance,
        at_ms: T0 + 1_000,
    });
    Test::with(())
        .given(given)
        .when(SandboxCommand::ResumeSandbox { now_ms: T0 + 2_000 })
        .then_expect_error(SandboxError::OutOfBalance);
}

#[test]
fn resume_restarts_the_meter_at_the_resume() {
    let mut given = running(10_000);
    given.push(SandboxEvent::SandboxPaused {
        reason: PauseReason::Requested,
        at_ms: T0,
    });
    Test::with(())
        .given(given)
        .when(SandboxCommand::ResumeSandbox { now_ms: T0 + 9_000 })
        .then_expect_events(vec![SandboxEvent::SandboxResumed { at_ms: T0 + 9_000 }]);
}

#[test]
fn terminate_charges_then_returns_the_rest_to_the_account() {
    Test::with(())
        .given(running(10_000))
        .when(SandboxCommand::TerminateSandbox { now_ms: T0 + 4_000 })
        .then_expect_events(vec![
            SandboxEvent::UsageCharged {
                from_ms: T0,
                to_ms: T0 + 4_000,
                msats_per_second: 1_000,
                amount: Msats(4_000),
                balance_after: Msats(6_000),
            },
            SandboxEvent::SandboxTerminated { at_ms: T0 + 4_000 },
            SandboxEvent::RefundIssued {
                amount: Msats(6_000),
                destination: RefundDestination::Account {
                    account_id: "acct".into(),
                    transfer_id: Some("sb:refund".into()),
                },
                balance_after: Msats(0),
                at_ms: T0 + 4_000,
            },
        ]);
}

#[test]
fn nothing_happens_to_a_terminated_sandbox() {
    let mut given = running(10_000);
    given.push(SandboxEvent::SandboxTerminated { at_ms: T0 });
    Test::with(())
        .given(given)
        .when(SandboxCommand::ResumeSandbox { now_ms: T0 })
        .then_expect_error(SandboxError::Ended(SandboxState::Terminated));
}

#[test]
fn failure_bills_nothing_more_and_returns_the_balance() {
    Test::with(())
        .given(running(10_000))
        .when(SandboxCommand::FailSandbox {
            reason: "container vanished".into(),
            now_ms: T0 + 99_000,
        })
        .then_expect_events(vec![
            SandboxEvent::SandboxFailed {
                reason: "container vanished".into(),
                at_ms: T0 + 99_000,
            },
            SandboxEvent::RefundIssued {
                amount: Msats(10_000),
                destination: RefundDestination::Account {
                    account_id: "acct".into(),
                    transfer_id: Some("sb:refund".into()),
                },
                balance_after: Msats(0),
                at_ms: T0 + 99_000,
            },
        ]);
}
