//! Sandboxes: create (credits or Lightning), provisioning (idempotent, so a
//! dead process's half-done create is finished by another), failure, pause,
//! resume and terminate.

use crate::app::App;
use crate::auth::{hash_secret, new_sandbox_token, Principal};
use crate::error::{AppError, ErrorCode};
use crate::lightning::refund_outcome::RefundOutcome;
use crate::lightning::whole_sats::whole_sats;
use crate::sandboxes::choices::SandboxChoices;
use crate::sandboxes::request_limits::{MAX_CREDITS_CENTS, MAX_LABEL_CHARS};
use crate::sandboxes::sealed_env;
use domain::account::AccountCommand;
use domain::env::EnvVars;
use domain::lifetime::Lifetime;
use domain::network::NetworkPolicy;
use domain::ports::SandboxSpec;
use domain::sandbox::{
    BillingMethod, Funding, FundingSource, PauseReason, SandboxCommand, SandboxState,
};
use domain::{Msats, Tier, TierName};
use projections::SandboxView;
use std::sync::Arc;
use std::time::Duration;

/// How long a sandbox may stay `creating` before the leader provisions it in
/// place of the process that took the create.
const PROVISION_GRACE_MS: i64 = 15_000;

/// What a client asks for when creating a sandbox.
#[derive(Debug, Clone, Default)]
pub struct CreateSandbox {
    pub tier: String,
    pub billing_method: Option<String>,
    pub prepaid_sats: Option<u64>,
    pub initial_credits_cents: Option<u64>,
    pub label: Option<String>,
    /// What a create that names no billing method gets.
    pub default_billing: DefaultBilling,
    /// The caller's network address, for per-client caps.
    pub client: Option<String>,
    /// Where the sandbox may connect to (the open default when absent).
    pub network: Option<NetworkRequest>,
    /// Terminate it this long after it starts.
    pub timeout_secs: Option<u64>,
    /// Pause it after this long without activity.
    pub idle_pause_secs: Option<u64>,
    /// Variables every command in it gets (sealed in its events).
    pub env: std::collections::BTreeMap<String, String>,
}

/// The outbound network a client asks for; see `domain::network`.
#[derive(Debug, Clone, Default)]
pub struct NetworkRequest {
    /// Whether destinations not listed are reachable (default true).
    pub internet: Option<bool>,
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

impl NetworkRequest {
    fn policy(self) -> Result<NetworkPolicy, AppError> {
        NetworkPolicy::new(self.internet.unwrap_or(true), &self.allow, &self.deny).map_err(|e| {
            AppError::Invalid {
                code: ErrorCode::InvalidNetworkPolicy,
                message: format!("network: {e}"),
            }
        })
    }
}

/// The billing of a create that names none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DefaultBilling {
    /// Credits, whoever calls (the REST API, as the Sockt clients expect).
    #[default]
    Credits,
    /// Credits for an account's API key, Lightning for anyone else (agents
    /// over MCP, which may have no account at all).
    ByCaller,
}

/// How long an MCP create waits for a credits sandbox to run.
pub const CREATE_WAIT: Duration = Duration::from_secs(30);
/// The longest wait a create may ask for.
pub const MAX_CREATE_WAIT: Duration = Duration::from_secs(60);

impl App {
    /// Create a sandbox and wait (up to `wait`, at most `MAX_CREATE_WAIT`)
    /// until it is no longer being created: a credits sandbox is running
    /// when this returns, a Lightning one awaits its payment. For callers
    /// that want it usable at once, in one round trip.
    pub async fn create_sandbox_and_wait(
        self: &Arc<Self>,
        principal: &Principal,
        request: CreateSandbox,
        wait: Duration,
    ) -> Result<(SandboxView, String), AppError> {
        let (view, token) = self.create_sandbox(principal, request).await?;
        let view = self.settled_sandbox(view, wait.min(MAX_CREATE_WAIT)).await;
        Ok((view, token))
    }

    /// The sandbox once it is no longer being created or started, or as it
    /// is when `wait` has passed. Woken by its own events, not by polling.
    async fn settled_sandbox(&self, mut view: SandboxView, wait: Duration) -> SandboxView {
        let deadline = tokio::time::Instant::now() + wait;
        // Subscribed before each look, so no event falls between the two.
        let mut changes = self.read.subscribe();
        loop {
            match self.read.sandbox(&view.sandbox_id) {
                Some(current) => view = current,
                None => return view,
            }
            if !matches!(view.state, SandboxState::Creating | SandboxState::Starting) {
                return view;
            }
            loop {
                use tokio::sync::broadcast::error::RecvError;
                match tokio::time::timeout_at(deadline, changes.recv()).await {
                    Err(_) | Ok(Err(RecvError::Closed)) => {
                        return self.read.sandbox(&view.sandbox_id).unwrap_or(view)
                    }
                    Ok(Ok(entry)) if entry.sandbox_id != view.sandbox_id => continue,
                    // Its own event, or events were missed: look again.
                    Ok(Ok(_)) | Ok(Err(RecvError::Lagged(_))) => break,
                }
            }
        }
    }

    /// Create a sandbox; it is provisioned in the background and the returned
    /// view says `creating`. Returns the sandbox token (shown once).
    pub async fn create_sandbox(
        self: &Arc<Self>,
        principal: &Principal,
        request: CreateSandbox,
    ) -> Result<(SandboxView, String), AppError> {
        let tier_name: TierName =
            request
                .tier
                .trim()
                .parse()
                .map_err(|e: domain::tier::UnknownTier| AppError::Invalid {
                    code: ErrorCode::InvalidTier,
                    message: format!(
                        "{e}; choose one of: {}",
                        Tier::all()
                            .iter()
                            .map(|t| t.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })?;
        let tier = Tier::of(tier_name);
        let label = validate_label(request.label)?;
        let network = request
            .network
            .map(NetworkRequest::policy)
            .transpose()?
            .unwrap_or_default();
        let lifetime = Lifetime::new(request.timeout_secs, request.idle_pause_secs)
            .map_err(AppError::invalid)?;
        let env = EnvVars::new(request.env).map_err(AppError::invalid)?;
        let billing = match request.billing_method.as_deref().map(str::trim) {
            None | Some("") => match (request.default_billing, principal) {
                (DefaultBilling::ByCaller, Principal::Account(_))
                | (DefaultBilling::Credits, _) => BillingMethod::Credits,
                (DefaultBilling::ByCaller, _) => BillingMethod::Lightning,
            },
            Some("credits") => BillingMethod::Credits,
            Some("lightning") => BillingMethod::Lightning,
            Some(other) => {
                return Err(AppError::Invalid {
                    code: ErrorCode::InvalidBillingMethod,
                    message: format!(
                        "unknown billing_method '{other}'; use 'credits' or 'lightning'"
                    ),
                })
            }
        };
        if tier.needs_gpu {
            return Err(AppError::NoCapacity(format!(
                "tier {tier_name} needs a GPU and this server has none"
            )));
        }
        if billing == BillingMethod::Lightning {
            return self
                .create_lightning_sandbox(
                    principal,
                    SandboxChoices {
                        tier: tier_name,
                        label,
                        network,
                        lifetime,
                        env,
                    },
                    request.prepaid_sats,
                    request.client.as_deref(),
                )
                .await;
        }
        let account_id = match principal {
            Principal::Account(id) => id.clone(),
            Principal::Admin => {
                return Err(AppError::Forbidden(
                    "the admin token manages accounts; create sandboxes with an account's API key".into(),
                ))
            }
            _ => {
                return Err(AppError::Unauthorized(
                    "credits billing needs an API key: send Authorization: Bearer sockt_live_... (or use billing_method 'lightning')".into(),
                ))
            }
        };
        let cents = request
            .initial_credits_cents
            .unwrap_or(self.config.default_credits_cents);
        if cents == 0 || cents > MAX_CREDITS_CENTS {
            return Err(AppError::invalid(format!(
                "initial_credits_cents must be between 1 and {MAX_CREDITS_CENTS}"
            )));
        }
        let amount = Msats::from_cents(cents)
            .ok_or_else(|| AppError::invalid("initial_credits_cents is too large"))?;
        // Counted from here until its `SandboxCreated` is in the view.
        let admitted = self.admit(Some(&account_id))?;

        let sandbox_id = uuid::Uuid::new_v4().to_string();
        let token = new_sandbox_token();
        let now_ms = self.now_ms();
        let transfer_id = domain::transfers::funding_transfer_id(&sandbox_id);
        self.accounts
            .execute(
                &account_id,
                AccountCommand::AllocateCredits {
                    sandbox_id: sandbox_id.clone(),
                    transfer_id: transfer_id.clone(),
                    amount,
                    now_ms,
                },
            )
            .await?;
        let created = self
            .sandboxes
            .execute(
                &sandbox_id,
                SandboxCommand::CreateSandbox {
                    owner: Some(account_id.clone()),
                    tier: tier_name,
                    billing,
                    label,
                    image: self.config.sandbox_image.clone(),
                    token_hash: Some(hash_secret(&token)),
                    initial_funding: Some(Funding {
                        amount,
                        source: FundingSource::Account {
                            account_id: account_id.clone(),
                            transfer_id: Some(transfer_id.clone()),
                        },
                    }),
                    network,
                    runtime: self.runtime.runtime_for(&tier),
                    lifetime,
                    env: sealed_env::seal(&self.config.link_secret, &sandbox_id, &env),
                    now_ms,
                },
            )
            .await;
        drop(admitted);
        if let Err(e) = created {
            self.give_back_allocation(&sandbox_id, &account_id, &transfer_id, amount)
                .await;
            return Err(e.into());
        }
        self.provision_in_background(&sandbox_id, tier.name);
        let view = self
            .read
            .sandbox(&sandbox_id)
            .ok_or_else(|| AppError::Internal("sandbox view missing after create".into()))?;
        Ok((view, token))
    }

    /// Terminate, with their refund, sandboxes paused longer than the
    /// configured time (a leader duty): paused sandboxes hold a container
    /// and their balance forever otherwise. One paused because its balance
    /// ran out goes after the shorter unfunded grace: a cent must not hold
    /// a slot, its memory and its disk for the whole paused time. A
    /// Lightning sandbox without a Lightning Address leaves its sats (a
    /// payment arriving late, say) behind a withdraw link in its status.
    pub(crate) async fn end_long_paused(self: &Arc<Self>) -> usize {
        let now = self.now_ms();
        let mut ended = 0;
        for view in self.read.sandboxes_in(&[SandboxState::Paused]) {
            let Some(limit) = self.paused_limit(view.pause_reason) else {
                continue;
            };
            let limit_ms = i64::try_from(limit.as_millis()).unwrap_or(i64::MAX);
            let expired = view
                .paused_at_ms
                .is_some_and(|at| now.saturating_sub(at) >= limit_ms);
            if !expired {
                continue;
            }
            let address = view.refund_address.clone();
            tracing::info!(sandbox_id = %view.sandbox_id, reason = ?view.pause_reason, "terminating a sandbox paused longer than it may be");
            match self
                .terminate(&Principal::Admin, &view.sandbox_id, address.as_deref())
                .await
            {
                Ok(_) => ended += 1,
                Err(e) => {
                    tracing::error!(sandbox_id = %view.sandbox_id, error = %e, "could not end a long-paused sandbox")
                }
            }
        }
        ended
    }

    /// How long a sandbox paused for `reason` may stay paused.
    fn paused_limit(&self, reason: Option<PauseReason>) -> Option<Duration> {
        let ttl = self.config.paused_ttl;
        if reason != Some(PauseReason::OutOfBalance) {
            return ttl;
        }
        match (ttl, self.config.unfunded_grace) {
            (Some(ttl), Some(grace)) => Some(ttl.min(grace)),
            (ttl, grace) => ttl.or(grace),
        }
    }

    /// Provision the sandbox in a task of its own.
    pub(crate) fn provision_in_background(self: &Arc<Self>, sandbox_id: &str, tier: TierName) {
        let app = self.clone();
        let id = sandbox_id.to_string();
        tokio::spawn(async move { app.provision(&id, Tier::of(tier)).await });
    }

    /// Sandboxes still being created long after their creation whose
    /// provisioning no process here runs (the process that took the create
    /// died): provision them, adopting any container already made.
    pub(crate) fn provision_stalled(self: &Arc<Self>) {
        let now = self.now_ms();
        for view in self
            .read
            .sandboxes_in(&[SandboxState::Creating, SandboxState::Starting])
        {
            let stalled = now - view.updated_at_ms > PROVISION_GRACE_MS;
            if stalled && !self.provisioning.contains(&view.sandbox_id) {
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
        let Some(_provisioning) = self.provisioning.begin(sandbox_id) else {
            return;
        };
        // The policy is the one recorded at create, whoever provisions.
        let sandbox = match self.load_sandbox(sandbox_id).await {
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
        let _guard = self.locks.lock(sandbox_id).await;
        let sandbox = match self.load_sandbox(sandbox_id).await {
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
            .sandboxes
            .execute(
                sandbox_id,
                SandboxCommand::RecordStarted {
                    container_id: container_id.to_string(),
                    now_ms: self.now_ms(),
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
            let _guard = self.locks.lock(sandbox_id).await;
            // Terminated (or failed) meanwhile: nothing left to fail.
            if self
                .load_sandbox(sandbox_id)
                .await
                .map_or(true, |s| s.state.is_ended())
            {
                return false;
            }
            let failed = self
                .sandboxes
                .execute(
                    sandbox_id,
                    SandboxCommand::FailSandbox {
                        reason: reason.to_string(),
                        now_ms: self.now_ms(),
                    },
                )
                .await;
            if let Err(e) = failed {
                tracing::warn!(sandbox_id, error = %e, "could not record the failure");
                return false;
            }
        }
        self.return_credits(sandbox_id).await;
        self.offer_failed_sats(sandbox_id).await;
        true
    }

    /// A failed Lightning sandbox's sats wait behind a withdraw link shown
    /// in its status (terminating it may still send them to an address).
    async fn offer_failed_sats(&self, sandbox_id: &str) {
        let Ok(sandbox) = self.load_sandbox(sandbox_id).await else {
            return;
        };
        let amount = whole_sats(sandbox.balance);
        if sandbox.billing != Some(BillingMethod::Lightning)
            || amount.is_zero()
            || sandbox.withdraw_k1_hash.is_some()
        {
            return;
        }
        if let Err(e) = self.offer_withdraw(sandbox_id, amount).await {
            tracing::warn!(sandbox_id, error = %e, "could not offer a failed sandbox's sats; terminating it offers them again");
        }
    }

    pub async fn pause(
        &self,
        principal: &Principal,
        sandbox_id: &str,
    ) -> Result<SandboxView, AppError> {
        self.authorized_aggregate(principal, sandbox_id).await?;
        self.pause_for(sandbox_id, PauseReason::Requested).await?;
        self.authorized_sandbox(principal, sandbox_id)
    }

    /// Freeze the container, then record the pause (which charges up to now).
    pub(crate) async fn pause_for(
        &self,
        sandbox_id: &str,
        reason: PauseReason,
    ) -> Result<(), AppError> {
        let _guard = self.locks.lock(sandbox_id).await;
        let sandbox = self.load_sandbox(sandbox_id).await?;
        if let (SandboxState::Running, Some(container)) =
            (sandbox.state, sandbox.container_id.as_deref())
        {
            self.runtime.pause(container).await?;
        }
        self.sandboxes
            .execute(
                sandbox_id,
                SandboxCommand::PauseSandbox {
                    reason,
                    now_ms: self.now_ms(),
                },
            )
            .await?;
        Ok(())
    }

    pub async fn resume(
        &self,
        principal: &Principal,
        sandbox_id: &str,
    ) -> Result<SandboxView, AppError> {
        self.authorized_aggregate(principal, sandbox_id).await?;
        self.resume_paused(sandbox_id).await?;
        self.authorized_sandbox(principal, sandbox_id)
    }

    pub(crate) async fn resume_paused(&self, sandbox_id: &str) -> Result<(), AppError> {
        let _guard = self.locks.lock(sandbox_id).await;
        let sandbox = self.load_sandbox(sandbox_id).await?;
        let container = match (sandbox.state, sandbox.container_id.as_deref()) {
            (SandboxState::Paused, Some(container)) if !sandbox.balance.is_zero() => {
                container.to_string()
            }
            // Anything else is decided (and refused or ignored) by the aggregate.
            _ => {
                self.sandboxes
                    .execute(
                        sandbox_id,
                        SandboxCommand::ResumeSandbox {
                            now_ms: self.now_ms(),
                        },
                    )
                    .await?;
                return Ok(());
            }
        };
        self.runtime.resume(&container).await?;
        if let Err(e) = self
            .sandboxes
            .execute(
                sandbox_id,
                SandboxCommand::ResumeSandbox {
                    now_ms: self.now_ms(),
                },
            )
            .await
        {
            let _ = self.runtime.pause(&container).await;
            return Err(e.into());
        }
        Ok(())
    }

    /// Remove the container and everything in it, charge up to now and give
    /// the unused balance back.
    /// Lightning sandboxes pay their unused balance to `lightning_address`,
    /// or offer it behind an LNURL-withdraw link.
    pub async fn terminate(
        self: &Arc<Self>,
        principal: &Principal,
        sandbox_id: &str,
        lightning_address: Option<&str>,
    ) -> Result<(SandboxView, Option<RefundOutcome>), AppError> {
        let sandbox = self.authorized_aggregate(principal, sandbox_id).await?;
        // A failed Lightning sandbox still holding sats: terminating it pays
        // them out (to the address given, or behind a withdraw link).
        let failed_with_sats = sandbox.state == SandboxState::Failed
            && sandbox.billing == Some(BillingMethod::Lightning)
            && sandbox.balance.0 >= 1000
            && sandbox.refund_in_flight.is_none();
        if sandbox.state.is_ended() && !failed_with_sats {
            return Err(AppError::Gone(format!(
                "sandbox is already {}",
                sandbox.state
            )));
        }
        let address = lightning_address.map(str::trim).filter(|a| !a.is_empty());
        if let Some(address) = address {
            let valid = address
                .split_once('@')
                .is_some_and(|(name, host)| !name.is_empty() && !host.is_empty());
            if !valid {
                return Err(AppError::Invalid {
                    code: ErrorCode::InvalidLightningAddress,
                    message: "a Lightning Address looks like name@host".into(),
                });
            }
        }
        if failed_with_sats {
            let refund = self.refund_lightning(sandbox_id, address).await?;
            return Ok((
                self.authorized_sandbox(principal, sandbox_id)?,
                Some(refund),
            ));
        }
        self.running.cancel_sandbox(sandbox_id);
        let container = {
            let _guard = self.locks.lock(sandbox_id).await;
            let sandbox = self.load_sandbox(sandbox_id).await?;
            // Everything in it stops now; billing stops with the record.
            if let Some(container) = sandbox.container_id.as_deref() {
                self.runtime.halt(container).await?;
            }
            self.sandboxes
                .execute(
                    sandbox_id,
                    SandboxCommand::TerminateSandbox {
                        now_ms: self.now_ms(),
                    },
                )
                .await?;
            sandbox.container_id
        };
        // The removal (container, its disk, rules, agent directory) need not
        // hold up the caller; a graceful stop lets it finish, and a crash
        // before it ends is finished by the reconciliation at start
        // (containers of ended sandboxes go).
        if let Some(container) = container {
            let runtime = self.runtime.clone();
            let sandbox = sandbox_id.to_string();
            self.removals.spawn(async move {
                if let Err(e) = runtime.destroy(&container).await {
                    tracing::warn!(sandbox_id = %sandbox, error = %e, "could not remove a terminated sandbox's container; the next start removes it");
                }
            });
        }
        self.return_credits(sandbox_id).await;
        let refund = match sandbox.billing {
            Some(BillingMethod::Lightning) => {
                Some(self.refund_lightning(sandbox_id, address).await?)
            }
            _ => None,
        };
        Ok((self.authorized_sandbox(principal, sandbox_id)?, refund))
    }
}

impl App {
    /// On a graceful stop: wait (at most `within`) for the removals of
    /// terminated sandboxes' containers still under way.
    pub async fn finish_removals(&self, within: std::time::Duration) {
        self.removals.close();
        if tokio::time::timeout(within, self.removals.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "stopping with container removals under way; the next start finishes them"
            );
        }
    }
}

fn validate_label(label: Option<String>) -> Result<Option<String>, AppError> {
    let Some(label) = label
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
    else {
        return Ok(None);
    };
    if label.chars().count() > MAX_LABEL_CHARS || label.chars().any(char::is_control) {
        return Err(AppError::Invalid {
            code: ErrorCode::InvalidLabel,
            message: format!("label must be at most {MAX_LABEL_CHARS} printable characters"),
        });
    }
    Ok(Some(label))
}
