//! The application: the `App` every transport calls, and what it is built
//! from. `App` is a thin front over the use-case services, each holding
//! only the ports it uses; a transport asks `App` for the service and calls
//! it (`app.sandboxes().terminate(..)`):
//!
//! - `Queries` (queries/): the read model — what a caller may see, who a
//!   caller is, the one presentation of a sandbox; the only holder of views;
//! - `Sandboxes` (sandboxes/): create, pause, resume, terminate, top up,
//!   previews, shells; over `Provisioning`, its container's life and room;
//! - `Executions` (executions/) and `Files` (files.rs): inside a sandbox;
//! - `Billing` (billing/): accounts, credit transfers, charging usage;
//! - `Invoices` and `Payouts` (lightning/): money in and money out.
//!
//! Services call each other only downward — `Sandboxes` over `Invoices`,
//! `Invoices` over `Provisioning`, `Provisioning` over `Billing` and
//! `Payouts`, all of them over `Queries` — none back up. The background
//! processes (background/) drive them through `App`.

use crate::aggregates::SandboxStore;
use crate::billing::Billing;
use crate::config::AppConfig;
use crate::executions::output::OutputStore;
use crate::executions::Executions;
use crate::files::Files;
use crate::lightning::config::Lightning;
use crate::lightning::invoices::Invoices;
use crate::lightning::links::WithdrawLinks;
use crate::lightning::payouts::Payouts;
use crate::queries::Queries;
use crate::sandboxes::provision::Provisioning;
use crate::sandboxes::Sandboxes;
use domain::account::Account;
use domain::ports::{AccountDirectory, Clock, Runners, SharedBus, SharedRuntime, SingleProcess};
use domain::sandbox::Sandbox;
use projections::ReadModel;
use std::sync::Arc;

/// The application's front, over its services.
pub struct App {
    pub(crate) config: Arc<AppConfig>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) store: SandboxStore,
    pub(crate) runtime: SharedRuntime,
    pub(crate) queries: Arc<Queries>,
    pub(crate) billing: Arc<Billing>,
    pub(crate) payouts: Arc<Payouts>,
    pub(crate) provisioning: Arc<Provisioning>,
    pub(crate) invoices: Arc<Invoices>,
    pub(crate) executions: Arc<Executions>,
    pub(crate) files: Files,
    pub(crate) sandboxes: Arc<Sandboxes>,
    /// What it was built from, to build it again with one port more.
    ports: Ports,
}

/// The ports and settings an `App` is built from.
#[derive(Clone)]
struct Ports {
    sandboxes: SharedBus<Sandbox>,
    accounts: SharedBus<Account>,
    read: ReadModel,
    runtime: SharedRuntime,
    clock: Arc<dyn Clock>,
    config: Arc<AppConfig>,
    directory: Option<Arc<dyn AccountDirectory>>,
    lightning: Option<Arc<Lightning>>,
    runners: Arc<dyn Runners>,
}

impl App {
    pub fn new(
        sandboxes: SharedBus<Sandbox>,
        accounts: SharedBus<Account>,
        read: ReadModel,
        runtime: SharedRuntime,
        clock: Arc<dyn Clock>,
        config: AppConfig,
    ) -> Arc<App> {
        Arc::new(App::assemble(Ports {
            sandboxes,
            accounts,
            read,
            runtime,
            clock,
            config: Arc::new(config),
            directory: None,
            lightning: None,
            runners: Arc::new(SingleProcess::new()),
        }))
    }

    /// The services, each given the ports it uses and the services below it.
    fn assemble(ports: Ports) -> App {
        let Ports {
            config,
            clock,
            runtime,
            ..
        } = ports.clone();
        let store = SandboxStore::new(ports.sandboxes.clone(), clock.clone());
        let links = WithdrawLinks::new(config.link_secret.clone(), config.public_url.clone());
        let queries = Arc::new(Queries {
            read: ports.read.clone(),
            clock: clock.clone(),
            config: config.clone(),
            links: links.clone(),
            directory: ports.directory.clone(),
        });
        let billing = Arc::new(Billing {
            accounts: ports.accounts.clone(),
            store: store.clone(),
            queries: queries.clone(),
            config: config.clone(),
        });
        let payouts = Arc::new(Payouts {
            store: store.clone(),
            lightning: ports.lightning.clone(),
            links,
            queries: queries.clone(),
        });
        let provisioning = Arc::new(Provisioning {
            store: store.clone(),
            runtime: runtime.clone(),
            config: config.clone(),
            queries: queries.clone(),
            billing: billing.clone(),
            payouts: payouts.clone(),
            in_flight: Default::default(),
            admissions: Default::default(),
        });
        let invoices = Arc::new(Invoices {
            store: store.clone(),
            lightning: ports.lightning.clone(),
            queries: queries.clone(),
            provisioning: provisioning.clone(),
            payouts: payouts.clone(),
        });
        let executions = Arc::new(Executions {
            store: store.clone(),
            runtime: runtime.clone(),
            config: config.clone(),
            queries: queries.clone(),
            runners: ports.runners.clone(),
            outputs: OutputStore::new(config.max_output_bytes, config.output_store_bytes),
            running: Default::default(),
            stdins: Default::default(),
        });
        let files = Files {
            store: store.clone(),
            runtime: runtime.clone(),
            config: config.clone(),
        };
        let sandboxes = Arc::new(Sandboxes {
            store: store.clone(),
            runtime: runtime.clone(),
            config: config.clone(),
            queries: queries.clone(),
            provisioning: provisioning.clone(),
            billing: billing.clone(),
            invoices: invoices.clone(),
            payouts: payouts.clone(),
            executions: executions.clone(),
            unpaid_by_client: Default::default(),
            removals: tokio_util::task::TaskTracker::new(),
        });
        App {
            config,
            clock,
            store,
            runtime,
            queries,
            billing,
            payouts,
            provisioning,
            invoices,
            executions,
            files,
            sandboxes,
            ports,
        }
    }

    /// The same application built again with `change` made to its ports
    /// (before it serves: what the services hold in memory starts empty).
    fn rebuilt(self: Arc<Self>, change: impl FnOnce(&mut Ports)) -> Arc<App> {
        match Arc::try_unwrap(self) {
            Ok(app) => {
                let mut ports = app.ports;
                change(&mut ports);
                Arc::new(App::assemble(ports))
            }
            Err(shared) => shared,
        }
    }

    /// The same application, also looking up accounts other processes open.
    pub fn with_directory(self: Arc<Self>, directory: Arc<dyn AccountDirectory>) -> Arc<App> {
        self.rebuilt(|ports| ports.directory = Some(directory))
    }

    /// The same application, among other processes on one store.
    pub fn with_runners(self: Arc<Self>, runners: Arc<dyn Runners>) -> Arc<App> {
        self.rebuilt(|ports| ports.runners = runners)
    }

    /// The same application, also billing in sats over Lightning.
    pub fn with_lightning(self: Arc<Self>, lightning: Lightning) -> Arc<App> {
        self.rebuilt(|ports| ports.lightning = Some(Arc::new(lightning)))
    }

    /// What a caller may see, who a caller is, the one presentation.
    pub fn queries(&self) -> &Arc<Queries> {
        &self.queries
    }

    /// Create, pause, resume, terminate, top up; previews and shells.
    pub fn sandboxes(&self) -> &Arc<Sandboxes> {
        &self.sandboxes
    }

    /// Commands run in a sandbox, their output and input.
    pub fn executions(&self) -> &Arc<Executions> {
        &self.executions
    }

    /// A sandbox's files.
    pub fn files(&self) -> &Files {
        &self.files
    }

    /// Accounts and their credits.
    pub fn billing(&self) -> &Arc<Billing> {
        &self.billing
    }

    /// Lightning payments in (settling a payment a gateway reports).
    pub fn invoices(&self) -> &Arc<Invoices> {
        &self.invoices
    }

    /// Lightning payments out (withdraw links).
    pub fn payouts(&self) -> &Arc<Payouts> {
        &self.payouts
    }

    pub fn config(&self) -> &AppConfig {
        &self.config
    }

    /// Containers ready in the runtime's warm pool, per tier.
    pub fn warm_pool(&self) -> std::collections::BTreeMap<String, usize> {
        self.runtime.warm_pool()
    }

    /// Terminated sandboxes whose containers are still being removed.
    pub fn removals_in_flight(&self) -> usize {
        self.sandboxes.removals_in_flight()
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}
