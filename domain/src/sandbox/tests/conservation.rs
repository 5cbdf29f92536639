//! The ledger invariant over any sequence of commands, whatever their concern.

use super::*;
use proptest::prelude::*;

fn apply_all(sandbox: &mut Sandbox, events: Vec<SandboxEvent>) {
    for e in events {
        cqrs_es::Aggregate::apply(sandbox, e);
    }
}

proptest! {
    /// Any sequence of charges, pauses, resumes and top-ups keeps
    /// paid_in = charged + refunded + reserved + balance.
    #[test]
    fn money_is_conserved(steps in proptest::collection::vec((0u8..5, 0i64..20_000, 0u64..50_000), 1..40)) {
        let mut sandbox = Sandbox::default();
        apply_all(&mut sandbox, running(20_000));
        let mut now = T0;
        for (op, dt, amount) in steps {
            now += dt;
            let command = match op {
                0 => SandboxCommand::ChargeUsage { now_ms: now, low_balance_secs: 30 },
                1 => SandboxCommand::PauseSandbox { reason: PauseReason::Requested, now_ms: now },
                2 => SandboxCommand::ResumeSandbox { now_ms: now },
                3 => SandboxCommand::ExtendBalance { funding: account_funding_by(&format!("sb:topup:{now}"), amount), now_ms: now },
                _ => SandboxCommand::TerminateSandbox { now_ms: now },
            };
            if let Ok(events) = sandbox.decide(command) {
                apply_all(&mut sandbox, events);
            }
            prop_assert!(sandbox.money_is_conserved(), "{sandbox:?}");
        }
    }
}
