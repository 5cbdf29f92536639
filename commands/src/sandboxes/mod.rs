//! The sandboxes use case, in two services. `Sandboxes` is what callers ask
//! of a sandbox: create (admission, choices, the sealed environment), pause,
//! resume, terminate with its refund, top up, previews and shells.
//! `Provisioning` is what happens to its container underneath, asked by
//! `Sandboxes`, by Lightning settlement and by the background: made (or
//! queued until there is room), paused, resumed, given up on (failed).

pub(crate) mod admission;
pub(crate) mod admission_counts;
pub(crate) mod choices;
pub(crate) mod create;
pub(crate) mod create_lightning;
pub(crate) mod lifecycle;
pub(crate) mod pausing;
pub(crate) mod previews;
pub(crate) mod provision;
pub(crate) mod room;
pub(crate) mod sealed_env;
pub(crate) mod shell_billing;
pub(crate) mod shells;
pub(crate) mod top_up;

use crate::aggregates::SandboxStore;
use crate::billing::Billing;
use crate::config::AppConfig;
use crate::executions::Executions;
use crate::lightning::invoices::Invoices;
use crate::lightning::payouts::Payouts;
use crate::locks::ByClient;
use crate::queries::Queries;
use crate::sandboxes::provision::Provisioning;
use domain::ports::SharedRuntime;
use std::sync::Arc;

/// What callers ask of their sandboxes.
pub struct Sandboxes {
    pub(crate) store: SandboxStore,
    pub(crate) runtime: SharedRuntime,
    pub(crate) config: Arc<AppConfig>,
    pub(crate) queries: Arc<Queries>,
    pub(crate) provisioning: Arc<Provisioning>,
    pub(crate) billing: Arc<Billing>,
    pub(crate) invoices: Arc<Invoices>,
    pub(crate) payouts: Arc<Payouts>,
    pub(crate) executions: Arc<Executions>,
    /// Unpaid sandboxes by the address that created them.
    pub(crate) unpaid_by_client: ByClient,
    /// Removals of terminated sandboxes' containers under way (a graceful
    /// stop lets them finish).
    pub(crate) removals: tokio_util::task::TaskTracker,
}
