//! The billing use case: accounts (opened, deposited to), credits moving
//! between an account and its sandboxes (allocations, refunds, and what a
//! crash left of either), and charging a sandbox's running time.

pub(crate) mod accounts;
pub(crate) mod credits;
pub(crate) mod usage;

use crate::aggregates::SandboxStore;
use crate::config::AppConfig;
use crate::queries::Queries;
use domain::account::Account;
use domain::ports::SharedBus;
use std::sync::Arc;

/// Billing's service: the accounts' streams, the sandboxes' (each credit
/// transfer has a side in both), and the views of open transfers.
pub struct Billing {
    pub(crate) accounts: SharedBus<Account>,
    pub(crate) store: SandboxStore,
    pub(crate) queries: Arc<Queries>,
    pub(crate) config: Arc<AppConfig>,
}
