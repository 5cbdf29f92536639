//! An `App` over fakes, with helpers to reach common states quickly.

use super::{FakeGateway, FakeResolver, FakeRuntime, ManualClock, MemBus};
use crate::{App, AppConfig, CreateSandbox, Lightning, LightningConfig, Principal};
use domain::account::Account;
use domain::ports::{Clock, SharedBus};
use domain::sandbox::{Sandbox, SandboxState};
use projections::ReadModel;
use std::sync::Arc;

/// Where the manual clock starts.
pub const T0_MS: i64 = 1_800_000_000_000;

pub struct Harness {
    pub app: Arc<App>,
    pub runtime: Arc<FakeRuntime>,
    pub clock: Arc<ManualClock>,
    pub gateway: Arc<FakeGateway>,
    pub read: ReadModel,
    pub sandboxes: SharedBus<Sandbox>,
    pub accounts: SharedBus<Account>,
    sandbox_store: Arc<MemBus<Sandbox>>,
    account_store: Arc<MemBus<Account>>,
}

impl Harness {
    /// Credits and Lightning billing, charging every 10 s.
    pub fn new() -> Harness {
        Harness::with_config(AppConfig::default())
    }

    pub fn with_config(config: AppConfig) -> Harness {
        let read = ReadModel::new();
        let sandbox_store = Arc::new(MemBus::new(read.clone()));
        let account_store = Arc::new(MemBus::new(read.clone()));
        let sandboxes: SharedBus<Sandbox> = sandbox_store.clone();
        let accounts: SharedBus<Account> = account_store.clone();
        let runtime = Arc::new(FakeRuntime::default());
        let clock = Arc::new(ManualClock::at(T0_MS));
        let gateway = Arc::new(FakeGateway::new(clock.clone() as Arc<dyn Clock>));
        let app = App::new(
            sandboxes.clone(),
            accounts.clone(),
            read.clone(),
            runtime.clone(),
            clock.clone(),
            config,
        )
        .with_lightning(Lightning {
            gateway: gateway.clone(),
            resolver: Arc::new(FakeResolver(gateway.clone())),
            config: LightningConfig {
                min_sats: 1,
                max_sats: 1_000_000,
                invoice_expiry_secs: 600,
                topup_sats: 100,
                webhook_url: None,
            },
        });
        Harness {
            app,
            runtime,
            clock,
            gateway,
            read,
            sandboxes,
            accounts,
            sandbox_store,
            account_store,
        }
    }

    /// Make every commit of sandbox events fail, or work again.
    pub fn refuse_sandbox_commits(&self, refuse: bool) {
        self.sandbox_store.refuse_commits(refuse);
    }

    /// Make every commit of sandbox events take `ms` milliseconds.
    pub fn slow_sandbox_commits(&self, ms: u64) {
        self.sandbox_store.slow_commits(ms);
    }

    /// Every stored sandbox event's type, in stream order.
    pub async fn sandbox_event_types(&self) -> Vec<String> {
        self.sandbox_store
            .stored_events()
            .await
            .into_iter()
            .map(|e| e.event_type)
            .collect()
    }

    /// `sockt audit` over everything stored so far.
    pub async fn audit(&self) -> projections::audit::AuditReport {
        let mut events = self.sandbox_store.stored_events().await;
        events.extend(self.account_store.stored_events().await);
        projections::audit::audit(&events)
    }

    /// A new account holding `cents` of credits.
    pub async fn account(&self, cents: u64) -> Principal {
        let (account, _key) = self
            .app
            .billing()
            .open_account("test", cents)
            .await
            .unwrap_or_else(|e| panic!("opening an account: {e}"));
        Principal::Account(account.account_id)
    }

    /// A credits sandbox of `tier` funded with `cents`, running.
    pub async fn running_sandbox(&self, owner: &Principal, tier: &str, cents: u64) -> String {
        let (view, _token) = self
            .app
            .sandboxes()
            .create_sandbox(
                owner,
                CreateSandbox {
                    tier: tier.into(),
                    initial_credits_cents: Some(cents),
                    ..CreateSandbox::default()
                },
            )
            .await
            .unwrap_or_else(|e| panic!("creating a sandbox: {e}"));
        self.until_state(&view.sandbox_id, SandboxState::Running)
            .await;
        view.sandbox_id
    }

    /// The sandbox's aggregate as the write side sees it.
    pub async fn sandbox(&self, sandbox_id: &str) -> Sandbox {
        self.sandboxes
            .load(sandbox_id)
            .await
            .unwrap_or_else(|e| panic!("loading {sandbox_id}: {e}"))
    }

    /// Let background tasks (provisioning, refunds) run until the sandbox is
    /// in `state`; panics if it never gets there.
    pub async fn until_state(&self, sandbox_id: &str, state: SandboxState) {
        for _ in 0..10_000 {
            if self.sandbox(sandbox_id).await.state == state {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!(
            "sandbox {sandbox_id} never reached {state}: {:?}",
            self.sandbox(sandbox_id).await
        );
    }

    /// Let background tasks run for a while.
    pub async fn yield_a_while(&self) {
        for _ in 0..200 {
            tokio::task::yield_now().await;
        }
    }
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}
