//! Provisioning a created sandbox (idempotent, so a dead process's
//! half-done create is finished by another, adopting its container), and
//! a sandbox's failure with its sats offered back.

use crate::aggregates::SandboxStore;
use crate::billing::Billing;
use crate::config::AppConfig;
use crate::lightning::payouts::Payouts;
use crate::lightning::whole_sats::whole_sats;
use crate::locks::InFlight;
use crate::queries::Queries;
use crate::sandboxes::admission_counts::Admissions;
use crate::sandboxes::sealed_env;
use domain::env::EnvVars;
use domain::ports::SandboxSpec;
use domain::ports::SharedRuntime;
use domain::sandbox::{BillingMethod, SandboxCommand, SandboxState};
use domain::{Tier, TierName};
use std::sync::Arc;

/// How long a sandbox may stay `creating` before the leader provisions it in
/// place of the process that took the create.
const PROVISION_GRACE_MS: i64 = 15_000;

/// A sandbox's container through its life, and the room it takes.
pub struct Provisioning {
    pub(crate) store: SandboxStore,
    pub(crate) runtime: SharedRuntime,
    pub(crate) config: Arc<AppConfig>,
    pub(crate) queries: Arc<Queries>,
    pub(crate) billing: Arc<Billing>,
    pub(crate) payouts: Arc<Payouts>,
    /// Sandboxes this process is provisioning right now.
    pub(crate) in_flight: InFlight,
    /// Creates admitted and not yet in the view.
    pub(crate) admissions: Admissions,
}

impl Provisioning {
    /// Provision the sandbox in a task of its own.
    pub(crate) fn provision_in_background(self: &Arc<Self>, sandbox_id: &str, tier: TierName) {
        let provisioning = self.clone();
        let id = sandbox_id.to_string();
        tokio::spawn(async move { provisioning.provision(&id, Tier::of(tier)).await });
    }

    /// Sandboxes still being created long after their creation whose
    /// provisioning no process here runs (the process that took the create
    /// died): provision them, adopting any container already made.
    pub(crate) fn provision_stalled(self: &Arc<Self>) {
        let now = self.store.now_ms();
        for view in self
            .queries
            .sandboxes_in(&[SandboxState::Creating, SandboxState::Starting])
        {
            let stalled = now - view.updated_at_ms > PROVISION_GRACE_MS;
            if stalled && !self.in_flight.contains(&view.sandbox_id) {
                tracing::info!(sandbox_id = %view.sandbox_id, "provisioning a sandbox whose creation stalled");
                self.provision_in_background(&view.sandbox_id, view.tier);
            }
        }
    }

    /// Make the sandbox's container (or adopt the one an earlier attempt
    /// made: the runtime's create is idempotent per sandbox) and record it.
    /// Safe to run twice, in one process or two: the second finds the
    /// container started and recorded, and changes nothing.
    pub(crate) async fn provision(&self, sandbox_id: &str, tier: Tier) {
        let Some(_provisioning) = self.in_flight.begin(sandbox_id) else {
            return;
        };
        // The policy is the one recorded at create, whoever provisions.
        let sandbox = match self.store.load(sandbox_id).await {
            Ok(sandbox) => sandbox,
            Err(e) => {
                tracing::error!(sandbox_id, error = %e, "could not load the sandbox to provision it");
                return;
            }
        };
        let env = match &sandbox.env {
            Some(sealed) => match sealed_env::open(&self.config.link_secret, sandbox_id, sealed) {
                Ok(env) => env,
                Err(e) => {
                    self.fail(sandbox_id, &format!("could not start the sandbox: {e}"))
                        .await;
                    return;
                }
            },
            None => EnvVars::default(),
        };
        let spec = SandboxSpec {
            sandbox_id: sandbox_id.to_string(),
            image: self.config.sandbox_image.clone(),
            tier,
            network: sandbox.network,
            runtime: sandbox.runtime,
            env,
        };
        match self.runtime.create(&spec).await {
            Ok(container_id) => self.record_started(sandbox_id, &container_id).await,
            Err(e) => {
                tracing::error!(sandbox_id, error = %e, "could not create the sandbox's container");
                self.fail(sandbox_id, &format!("could not start the sandbox: {e}"))
                    .await;
            }
        }
    }

    /// Record that the sandbox runs in `container_id`, unless that is known
    /// already; a sandbox that ended meanwhile loses the container.
    async fn record_started(&self, sandbox_id: &str, container_id: &str) {
        let _guard = self.store.lock(sandbox_id).await;
        let sandbox = match self.store.load(sandbox_id).await {
            Ok(sandbox) => sandbox,
            Err(e) => {
                tracing::error!(sandbox_id, error = %e, "could not load the sandbox it started");
                return;
            }
        };
        if sandbox.container_id.as_deref() == Some(container_id) && !sandbox.state.is_ended() {
            return;
        }
        let recorded = self
            .store
            .execute(
                sandbox_id,
                SandboxCommand::RecordStarted {
                    container_id: container_id.to_string(),
                    now_ms: self.store.now_ms(),
                },
            )
            .await;
        if let Err(e) = recorded {
            tracing::info!(sandbox_id, error = %e, "sandbox ended while its container started; removing it");
            if let Err(e) = self.runtime.destroy(container_id).await {
                tracing::warn!(sandbox_id, error = %e, "could not remove container");
            }
        }
    }

    /// Mark a sandbox failed and give its unused credits back; whether it
    /// failed now (not when it had ended already).
    pub(crate) async fn fail(&self, sandbox_id: &str, reason: &str) -> bool {
        {
            let _guard = self.store.lock(sandbox_id).await;
            // Terminated (or failed) meanwhile: nothing left to fail.
            if self
                .store
                .load(sandbox_id)
                .await
                .map_or(true, |s| s.state.is_ended())
            {
                return false;
            }
            let failed = self
                .store
                .execute(
                    sandbox_id,
                    SandboxCommand::FailSandbox {
                        reason: reason.to_string(),
                        now_ms: self.store.now_ms(),
                    },
                )
                .await;
            if let Err(e) = failed {
                tracing::warn!(sandbox_id, error = %e, "could not record the failure");
                return false;
            }
        }
        self.billing.return_credits(sandbox_id).await;
        self.offer_failed_sats(sandbox_id).await;
        true
    }

    /// A failed Lightning sandbox's sats wait behind a withdraw link shown
    /// in its status (terminating it may still send them to an address).
    async fn offer_failed_sats(&self, sandbox_id: &str) {
        let Ok(sandbox) = self.store.load(sandbox_id).await else {
            return;
        };
        let amount = whole_sats(sandbox.balance);
        if sandbox.billing != Some(BillingMethod::Lightning)
            || amount.is_zero()
            || sandbox.withdraw_k1_hash.is_some()
        {
            return;
        }
        if let Err(e) = self.payouts.offer_withdraw(sandbox_id, amount).await {
            tracing::warn!(sandbox_id, error = %e, "could not offer a failed sandbox's sats; terminating it offers them again");
        }
    }
}
