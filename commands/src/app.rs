//! The application: the `App` every transport calls, what it is built from
//! (the ports, the views, the settings), and who a caller is. The use cases
//! live in modules of their own — `accounts`, `sandboxes`, `executions`,
//! `files`, `billing`, `lightning`, `queries` — each adding to `App`; handlers
//! hold no rules, these modules and the aggregates do.

use crate::auth::{hash_secret, Principal, API_KEY_PREFIX, SANDBOX_TOKEN_PREFIX};
use crate::config::AppConfig;
use crate::error::AppError;
use crate::executions::output::OutputStore;
use crate::executions::running::RunningExecs;
use crate::executions::stdin_pipes::Stdins;
use crate::lightning::config::Lightning;
use crate::locks::{ByClient, InFlight, KeyedLocks};
use domain::account::Account;
use domain::ports::{AccountDirectory, Clock, Runners, SharedBus, SharedRuntime, SingleProcess};
use domain::sandbox::Sandbox;
use projections::ReadModel;
use std::sync::Arc;

pub struct App {
    pub(crate) directory: Option<Arc<dyn AccountDirectory>>,
    pub(crate) lightning: Option<Lightning>,
    pub(crate) sandboxes: SharedBus<Sandbox>,
    pub(crate) accounts: SharedBus<Account>,
    pub(crate) read: ReadModel,
    pub(crate) runtime: SharedRuntime,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: AppConfig,
    pub(crate) locks: KeyedLocks,
    /// Sandboxes this process is provisioning right now.
    pub(crate) provisioning: InFlight,
    /// Unpaid sandboxes by the address that created them.
    pub(crate) unpaid_by_client: ByClient,
    /// Which processes are alive (whose executions still run).
    pub(crate) runners: Arc<dyn Runners>,
    pub(crate) outputs: OutputStore,
    pub(crate) running: RunningExecs,
    pub(crate) stdins: Stdins,
    /// Removals of terminated sandboxes' containers under way (a graceful
    /// stop lets them finish).
    pub(crate) removals: tokio_util::task::TaskTracker,
    /// Creates admitted and not yet in the view.
    pub(crate) admissions: crate::sandboxes::admission_counts::Admissions,
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
        Arc::new(App {
            directory: None,
            lightning: None,
            outputs: OutputStore::new(config.max_output_bytes, config.output_store_bytes),
            sandboxes,
            accounts,
            read,
            runtime,
            clock,
            config,
            locks: KeyedLocks::default(),
            provisioning: InFlight::default(),
            unpaid_by_client: ByClient::default(),
            runners: Arc::new(SingleProcess::new()),
            running: RunningExecs::default(),
            stdins: Stdins::default(),
            removals: tokio_util::task::TaskTracker::new(),
            admissions: Default::default(),
        })
    }

    /// The same application, also looking up accounts other processes open.
    pub fn with_directory(self: Arc<Self>, directory: Arc<dyn AccountDirectory>) -> Arc<App> {
        match Arc::try_unwrap(self) {
            Ok(mut app) => {
                app.directory = Some(directory);
                Arc::new(app)
            }
            Err(shared) => shared,
        }
    }

    /// The same application, among other processes on one store.
    pub fn with_runners(self: Arc<Self>, runners: Arc<dyn Runners>) -> Arc<App> {
        match Arc::try_unwrap(self) {
            Ok(mut app) => {
                app.runners = runners;
                Arc::new(app)
            }
            Err(shared) => shared,
        }
    }

    /// The same application, also billing in sats over Lightning.
    pub fn with_lightning(self: Arc<Self>, lightning: Lightning) -> Arc<App> {
        match Arc::try_unwrap(self) {
            Ok(mut app) => {
                app.lightning = Some(lightning);
                Arc::new(app)
            }
            Err(shared) => shared,
        }
    }

    pub fn config(&self) -> &AppConfig {
        &self.config
    }

    pub fn read_model(&self) -> &ReadModel {
        &self.read
    }

    /// Containers ready in the runtime's warm pool, per tier.
    pub fn warm_pool(&self) -> std::collections::BTreeMap<String, usize> {
        self.runtime.warm_pool()
    }

    /// Terminated sandboxes whose containers are still being removed.
    pub fn removals_in_flight(&self) -> usize {
        self.removals.len()
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    // ---- identity -------------------------------------------------------

    /// The principal a bearer secret stands for (admin tokens are checked by
    /// the transport, which holds the configured secret).
    pub async fn principal_for_secret(&self, secret: &str) -> Result<Principal, AppError> {
        if secret.starts_with(API_KEY_PREFIX) {
            let hash = hash_secret(secret);
            if let Some(account) = self.read.account_by_key_hash(&hash) {
                return Ok(Principal::Account(account.account_id));
            }
            if let Some(directory) = &self.directory {
                if let Some(account_id) = directory.account_for_key_hash(&hash).await {
                    return Ok(Principal::Account(account_id));
                }
            }
            return Err(AppError::Unauthorized("unknown API key".into()));
        }
        if secret.starts_with(SANDBOX_TOKEN_PREFIX) {
            return Ok(Principal::SandboxToken(hash_secret(secret)));
        }
        Err(AppError::Unauthorized(
            "unrecognised credentials: send an API key (sockt_live_...) or a sandbox token (sbx_...)".into(),
        ))
    }

    /// The principal a secret stands for if this process already knows it
    /// (an account's key or an existing sandbox's token), looked up in memory
    /// only: cheap enough to run before a request is even rate limited.
    pub fn known_principal(&self, secret: &str) -> Option<Principal> {
        let hash = hash_secret(secret);
        if secret.starts_with(API_KEY_PREFIX) {
            return self
                .read
                .account_by_key_hash(&hash)
                .map(|account| Principal::Account(account.account_id));
        }
        if secret.starts_with(SANDBOX_TOKEN_PREFIX) && self.read.sandbox_for_token(&hash).is_some()
        {
            return Some(Principal::SandboxToken(hash));
        }
        None
    }
}
