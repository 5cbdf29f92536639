//! Given/when/then tests of the `Account` aggregate, one per rule.

use super::*;
use cqrs_es::test::TestFramework;

type Test = TestFramework<Account>;

fn opened() -> AccountEvent {
    AccountEvent::AccountOpened {
        name: "n".into(),
        key_hash: "kh".into(),
        at_ms: 1,
    }
}

fn deposited(cents: u64) -> AccountEvent {
    AccountEvent::CreditsDeposited {
        cents,
        amount: Msats(cents * MSATS_PER_CENT),
        balance_after: Msats(cents * MSATS_PER_CENT),
        at_ms: 1,
    }
}

#[test]
fn opening_twice_is_refused() {
    Test::with(())
        .given(vec![opened()])
        .when(AccountCommand::OpenAccount {
            name: "n".into(),
            key_hash: "kh".into(),
            now_ms: 2,
        })
        .then_expect_error(AccountError::AlreadyOpened);
}

#[test]
fn deposits_need_an_account() {
    Test::with(())
        .given_no_previous_events()
        .when(AccountCommand::DepositCredits {
            cents: 5,
            now_ms: 1,
        })
        .then_expect_error(AccountError::NotFound);
}

#[test]
fn deposit_converts_cents_at_the_fixed_price() {
    Test::with(())
        .given(vec![opened()])
        .when(AccountCommand::DepositCredits {
            cents: 250,
            now_ms: 1,
        })
        .then_expect_events(vec![deposited(250)]);
}

#[test]
fn allocation_beyond_the_balance_is_refused() {
    Test::with(())
        .given(vec![opened(), deposited(10)])
        .when(AccountCommand::AllocateCredits {
            sandbox_id: "s".into(),
            transfer_id: "s:fund".into(),
            amount: Msats(11 * MSATS_PER_CENT),
            now_ms: 2,
        })
        .then_expect_error(AccountError::InsufficientCredits {
            available_cents: 10,
            requested_cents: 11,
        });
}

#[test]
fn allocation_takes_from_the_balance() {
    Test::with(())
        .given(vec![opened(), deposited(10)])
        .when(AccountCommand::AllocateCredits {
            sandbox_id: "s".into(),
            transfer_id: "s:fund".into(),
            amount: Msats(4 * MSATS_PER_CENT),
            now_ms: 2,
        })
        .then_expect_events(vec![AccountEvent::CreditsAllocated {
            sandbox_id: "s".into(),
            transfer_id: Some("s:fund".into()),
            amount: Msats(4 * MSATS_PER_CENT),
            balance_after: Msats(6 * MSATS_PER_CENT),
            at_ms: 2,
        }]);
}

#[test]
fn a_sandbox_returns_credits_once() {
    let returned = AccountEvent::CreditsReturned {
        sandbox_id: "s".into(),
        transfer_id: Some("s:refund".into()),
        amount: Msats(7),
        balance_after: Msats(7),
        at_ms: 3,
    };
    Test::with(())
        .given(vec![opened(), returned])
        .when(AccountCommand::ReturnCredits {
            sandbox_id: "s".into(),
            transfer_id: "s:refund".into(),
            amount: Msats(7),
            now_ms: 4,
        })
        .then_expect_events(vec![]);
}

#[test]
fn a_legacy_return_still_counts_as_settled() {
    let legacy = AccountEvent::CreditsReturned {
        sandbox_id: "s".into(),
        transfer_id: None,
        amount: Msats(7),
        balance_after: Msats(7),
        at_ms: 3,
    };
    Test::with(())
        .given(vec![opened(), legacy])
        .when(AccountCommand::UndoAllocation {
            sandbox_id: "s".into(),
            transfer_id: "s".into(),
            amount: Msats(7),
            now_ms: 4,
        })
        .then_expect_events(vec![]);
}

#[test]
fn an_allocation_is_undone_once() {
    let undo = AccountCommand::UndoAllocation {
        sandbox_id: "s".into(),
        transfer_id: "s:fund".into(),
        amount: Msats(7),
        now_ms: 4,
    };
    let undone = AccountEvent::AllocationUndone {
        sandbox_id: "s".into(),
        transfer_id: Some("s:fund".into()),
        amount: Msats(7),
        balance_after: Msats(10 * MSATS_PER_CENT + 7),
        at_ms: 4,
    };
    Test::with(())
        .given(vec![opened(), deposited(10)])
        .when(undo.clone())
        .then_expect_events(vec![undone.clone()]);
    Test::with(())
        .given(vec![opened(), deposited(10), undone])
        .when(undo)
        .then_expect_events(vec![]);
}
