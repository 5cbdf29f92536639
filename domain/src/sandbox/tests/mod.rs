//! Given/when/then tests of the `Sandbox` aggregate, one file per concern
//! (as the aggregate's own modules), with the givens they share here.

use super::*;
use crate::{Msats, TierName};
use cqrs_es::test::TestFramework;

mod conservation;
mod executions;
mod funding;
mod lifecycle;
mod refunds;

type Test = TestFramework<Sandbox>;

const T0: i64 = 1_700_000_000_000;

fn account_funding(msats: u64) -> Funding {
    account_funding_by("sb:fund", msats)
}

fn account_funding_by(transfer_id: &str, msats: u64) -> Funding {
    Funding {
        amount: Msats(msats),
        source: FundingSource::Account {
            account_id: "acct".into(),
            transfer_id: Some(transfer_id.into()),
        },
    }
}

fn created() -> SandboxEvent {
    SandboxEvent::SandboxCreated {
        owner: Some("acct".into()),
        tier: TierName::Micro,
        msats_per_second: 1_000,
        billing: BillingMethod::Credits,
        label: Some("job".into()),
        image: "img".into(),
        token_hash: None,
        network: Default::default(),
        runtime: None,
        lifetime: Default::default(),
        env: None,
        at_ms: T0,
    }
}

fn funded(msats: u64) -> SandboxEvent {
    SandboxEvent::BalanceExtended {
        amount: Msats(msats),
        source: FundingSource::Account {
            account_id: "acct".into(),
            transfer_id: Some("sb:fund".into()),
        },
        balance_after: Msats(msats),
        at_ms: T0,
    }
}

fn started(at_ms: i64) -> SandboxEvent {
    SandboxEvent::SandboxStarted {
        container_id: "c1".into(),
        at_ms,
    }
}

fn running(msats: u64) -> Vec<SandboxEvent> {
    vec![created(), funded(msats), started(T0)]
}

fn lightning_created() -> SandboxEvent {
    SandboxEvent::SandboxCreated {
        owner: None,
        tier: TierName::Nano,
        msats_per_second: 500,
        billing: BillingMethod::Lightning,
        label: None,
        image: "img".into(),
        token_hash: Some("th".into()),
        network: Default::default(),
        runtime: None,
        lifetime: Default::default(),
        env: None,
        at_ms: T0,
    }
}

fn invoice(hash: &str, sats: u64) -> crate::lightning::Invoice {
    crate::lightning::Invoice {
        bolt11: format!("lnbc-{hash}"),
        payment_hash: hash.into(),
        amount: Msats(sats * 1000),
        expires_at_ms: T0 + 600_000,
    }
}

fn paid(hash: &str, msats: u64, balance_after: u64) -> SandboxEvent {
    SandboxEvent::BalanceExtended {
        amount: Msats(msats),
        source: FundingSource::Payment {
            payment_hash: hash.into(),
        },
        balance_after: Msats(balance_after),
        at_ms: T0,
    }
}

fn payment(hash: &str, msats: u64) -> SandboxCommand {
    SandboxCommand::ExtendBalance {
        funding: Funding {
            amount: Msats(msats),
            source: FundingSource::Payment {
                payment_hash: hash.into(),
            },
        },
        now_ms: T0,
    }
}
