//! The application API: one function per use case, called by every transport.
//! Handlers hold no rules; this module and the aggregates do.

use crate::auth::{
    hash_secret, new_api_key, new_sandbox_token, Principal, API_KEY_PREFIX, SANDBOX_TOKEN_PREFIX,
};
use crate::config::AppConfig;
use crate::error::AppError;
use crate::exec_output::{OutputSnapshot, OutputStore};
use crate::executions::RunningExecs;
use crate::locks::{InFlight, KeyedLocks};
use domain::account::{Account, AccountCommand};
use domain::ports::{AccountDirectory, Clock, SandboxSpec, SharedBus, SharedRuntime};
use domain::sandbox::{
    BillingMethod, Funding, FundingSource, PauseReason, Sandbox, SandboxCommand, SandboxState,
};
use domain::{Msats, Tier, TierName};
use projections::{AccountView, ExecutionView, LedgerEntry, ReadModel, SandboxView};
use std::sync::Arc;

/// Largest credit allocation in one request, in cents.
const MAX_CREDITS_CENTS: u64 = 100_000_000;
const MAX_LABEL_CHARS: usize = 128;
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
}

/// An execution as a poll sees it.
#[derive(Debug, Clone)]
pub struct ExecPoll {
    pub execution: ExecutionView,
    pub output: OutputSnapshot,
    pub sandbox: SandboxView,
}

pub struct App {
    pub(crate) directory: Option<Arc<dyn AccountDirectory>>,
    pub(crate) lightning: Option<crate::lightning::Lightning>,
    pub(crate) sandboxes: SharedBus<Sandbox>,
    pub(crate) accounts: SharedBus<Account>,
    pub(crate) read: ReadModel,
    pub(crate) runtime: SharedRuntime,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: AppConfig,
    pub(crate) locks: KeyedLocks,
    /// Sandboxes this process is provisioning right now.
    pub(crate) provisioning: InFlight,
    pub(crate) outputs: OutputStore,
    pub(crate) running: RunningExecs,
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
            running: RunningExecs::default(),
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

    /// The same application, also billing in sats over Lightning.
    pub fn with_lightning(self: Arc<Self>, lightning: crate::lightning::Lightning) -> Arc<App> {
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

    /// The sandbox, if it exists and the caller may see it; otherwise 404.
    pub(crate) fn authorized_sandbox(
        &self,
        principal: &Principal,
        sandbox_id: &str,
    ) -> Result<SandboxView, AppError> {
        let view = self
            .read
            .sandbox(sandbox_id)
            .ok_or_else(AppError::sandbox_not_found)?;
        if principal.may_see(view.owner.as_deref(), view.token_hash.as_deref()) {
            Ok(view)
        } else {
            Err(AppError::sandbox_not_found())
        }
    }

    // ---- accounts -------------------------------------------------------

    /// Open an account with an initial deposit; returns its id and API key
    /// (the only time the key is shown).
    pub async fn open_account(
        &self,
        name: &str,
        credits_cents: u64,
    ) -> Result<(AccountView, String), AppError> {
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_LABEL_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(AppError::invalid(format!(
                "name must be 1 to {MAX_LABEL_CHARS} printable characters"
            )));
        }
        if credits_cents > MAX_CREDITS_CENTS {
            return Err(AppError::invalid(format!(
                "credits_cents must be at most {MAX_CREDITS_CENTS}"
            )));
        }
        let account_id = uuid::Uuid::new_v4().to_string();
        let key = new_api_key();
        let now_ms = self.now_ms();
        self.accounts
            .execute(
                &account_id,
                AccountCommand::OpenAccount {
                    name: name.to_string(),
                    key_hash: hash_secret(&key),
                    now_ms,
                },
            )
            .await?;
        if credits_cents > 0 {
            self.accounts
                .execute(
                    &account_id,
                    AccountCommand::DepositCredits {
                        cents: credits_cents,
                        now_ms,
                    },
                )
                .await?;
        }
        let view = self
            .read
            .account(&account_id)
            .ok_or_else(|| AppError::Internal("account view missing after open".into()))?;
        Ok((view, key))
    }

    pub async fn deposit_credits(
        &self,
        account_id: &str,
        cents: u64,
    ) -> Result<AccountView, AppError> {
        if cents == 0 || cents > MAX_CREDITS_CENTS {
            return Err(AppError::invalid(format!(
                "credits_cents must be between 1 and {MAX_CREDITS_CENTS}"
            )));
        }
        let _guard = self.locks.lock(account_id).await;
        self.accounts
            .execute(
                account_id,
                AccountCommand::DepositCredits {
                    cents,
                    now_ms: self.now_ms(),
                },
            )
            .await?;
        self.read
            .account(account_id)
            .ok_or_else(|| AppError::NotFound {
                code: "account_not_found",
                message: "no such account".into(),
            })
    }

    /// The caller's account and every movement of its credits.
    pub fn account_statement(
        &self,
        principal: &Principal,
    ) -> Result<(AccountView, Vec<projections::AccountEntry>), AppError> {
        let account = self.account(principal)?;
        let entries = self.read.account_statement(&account.account_id);
        Ok((account, entries))
    }

    pub fn account(&self, principal: &Principal) -> Result<AccountView, AppError> {
        let id = principal
            .account_id()
            .ok_or_else(|| AppError::Unauthorized("an API key is required".into()))?;
        self.read
            .account(id)
            .ok_or_else(|| AppError::Unauthorized("unknown account".into()))
    }

    // ---- sandboxes ------------------------------------------------------

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
                    code: "invalid_tier",
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
        let billing = match request.billing_method.as_deref().map(str::trim) {
            None | Some("") | Some("credits") => BillingMethod::Credits,
            Some("lightning") => BillingMethod::Lightning,
            Some(other) => {
                return Err(AppError::Invalid {
                    code: "invalid_billing_method",
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
                .create_lightning_sandbox(principal, tier_name, label, request.prepaid_sats)
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
        self.ensure_capacity()?;

        let sandbox_id = uuid::Uuid::new_v4().to_string();
        let token = new_sandbox_token();
        let now_ms = self.now_ms();
        {
            let _guard = self.locks.lock(&account_id).await;
            self.accounts
                .execute(
                    &account_id,
                    AccountCommand::AllocateCredits {
                        sandbox_id: sandbox_id.clone(),
                        amount,
                        now_ms,
                    },
                )
                .await?;
        }
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
                        },
                    }),
                    now_ms,
                },
            )
            .await;
        if let Err(e) = created {
            // Give the allocation back; the sandbox never existed.
            let _ = self
                .accounts
                .execute(
                    &account_id,
                    AccountCommand::ReturnCredits {
                        sandbox_id,
                        amount,
                        now_ms,
                    },
                )
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

    pub(crate) fn ensure_capacity(&self) -> Result<(), AppError> {
        if self.read.live_sandbox_count() >= self.config.max_live_sandboxes {
            return Err(AppError::NoCapacity(
                "the server is at its sandbox limit; retry later".into(),
            ));
        }
        Ok(())
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
        let spec = SandboxSpec {
            sandbox_id: sandbox_id.to_string(),
            image: self.config.sandbox_image.clone(),
            tier,
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

    /// Mark a sandbox failed and give its unused credits back.
    pub(crate) async fn fail(&self, sandbox_id: &str, reason: &str) {
        {
            let _guard = self.locks.lock(sandbox_id).await;
            // Terminated (or failed) meanwhile: nothing left to fail.
            if self
                .load_sandbox(sandbox_id)
                .await
                .map_or(true, |s| s.state.is_ended())
            {
                return;
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
            }
        }
        self.return_credits(sandbox_id).await;
    }

    /// Hand credits a sandbox refunded back to its account (idempotent).
    pub(crate) async fn return_credits(&self, sandbox_id: &str) {
        let Ok(sandbox) = self.load_sandbox(sandbox_id).await else {
            return;
        };
        let (Some(owner), Some(BillingMethod::Credits)) =
            (sandbox.owner.as_deref(), sandbox.billing)
        else {
            return;
        };
        if sandbox.refunded.is_zero() {
            return;
        }
        let _guard = self.locks.lock(owner).await;
        let returned = self
            .accounts
            .execute(
                owner,
                AccountCommand::ReturnCredits {
                    sandbox_id: sandbox_id.to_string(),
                    amount: sandbox.refunded,
                    now_ms: self.now_ms(),
                },
            )
            .await;
        if let Err(e) = returned {
            tracing::error!(sandbox_id, error = %e, "could not return credits; the next start retries");
        }
    }

    pub fn sandbox(
        &self,
        principal: &Principal,
        sandbox_id: &str,
    ) -> Result<SandboxView, AppError> {
        self.authorized_sandbox(principal, sandbox_id)
    }

    pub fn ledger(
        &self,
        principal: &Principal,
        sandbox_id: &str,
    ) -> Result<(SandboxView, Vec<LedgerEntry>), AppError> {
        let view = self.authorized_sandbox(principal, sandbox_id)?;
        Ok((view, self.read.ledger(sandbox_id)))
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
    ) -> Result<(SandboxView, Option<crate::lightning::RefundOutcome>), AppError> {
        let sandbox = self.authorized_aggregate(principal, sandbox_id).await?;
        if sandbox.state.is_ended() {
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
                    code: "invalid_lightning_address",
                    message: "a Lightning Address looks like name@host".into(),
                });
            }
        }
        self.running.cancel_sandbox(sandbox_id);
        {
            let _guard = self.locks.lock(sandbox_id).await;
            let sandbox = self.load_sandbox(sandbox_id).await?;
            if let Some(container) = sandbox.container_id.as_deref() {
                self.runtime.destroy(container).await?;
            }
            self.sandboxes
                .execute(
                    sandbox_id,
                    SandboxCommand::TerminateSandbox {
                        now_ms: self.now_ms(),
                    },
                )
                .await?;
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

    /// Add money to a sandbox: credits from the caller's account (sats come
    /// with Lightning billing). A sandbox paused for lack of balance resumes.
    pub async fn extend_balance(
        self: &Arc<Self>,
        principal: &Principal,
        sandbox_id: &str,
        credits_cents: Option<u64>,
        sats: Option<u64>,
    ) -> Result<SandboxView, AppError> {
        let sandbox = self.authorized_aggregate(principal, sandbox_id).await?;
        if sandbox.state.is_ended() {
            return Err(AppError::Gone(format!("sandbox is {}", sandbox.state)));
        }
        let billing = sandbox.billing.unwrap_or(BillingMethod::Credits);
        let cents = match (credits_cents, sats, billing) {
            (Some(cents), None, BillingMethod::Credits) => cents,
            (None, Some(sats), BillingMethod::Lightning) => {
                let amount = self.check_sats(Some(sats))?;
                self.issue_invoice(sandbox_id, amount).await?;
                return self.authorized_sandbox(principal, sandbox_id);
            }
            (_, _, BillingMethod::Credits) => {
                return Err(AppError::invalid(
                    "send credits_cents to add credits to a credits sandbox",
                ))
            }
            (_, _, BillingMethod::Lightning) => {
                return Err(AppError::invalid(
                    "send sats to get a top-up invoice for a Lightning sandbox",
                ))
            }
        };
        if cents == 0 || cents > MAX_CREDITS_CENTS {
            return Err(AppError::invalid(format!(
                "credits_cents must be between 1 and {MAX_CREDITS_CENTS}"
            )));
        }
        let owner = match (principal, sandbox.owner.as_deref()) {
            (Principal::Account(caller), Some(owner)) if caller == owner => owner.to_string(),
            _ => {
                return Err(AppError::Forbidden(
                    "only the owning account's API key can add credits".into(),
                ))
            }
        };
        let amount = Msats::from_cents(cents)
            .ok_or_else(|| AppError::invalid("credits_cents is too large"))?;
        let now_ms = self.now_ms();
        {
            let _guard = self.locks.lock(&owner).await;
            self.accounts
                .execute(
                    &owner,
                    AccountCommand::AllocateCredits {
                        sandbox_id: sandbox_id.to_string(),
                        amount,
                        now_ms,
                    },
                )
                .await?;
        }
        let extended = {
            let _guard = self.locks.lock(sandbox_id).await;
            self.sandboxes
                .execute(
                    sandbox_id,
                    SandboxCommand::ExtendBalance {
                        funding: Funding {
                            amount,
                            source: FundingSource::Account {
                                account_id: owner.clone(),
                            },
                        },
                        now_ms,
                    },
                )
                .await
        };
        if let Err(e) = extended {
            let _guard = self.locks.lock(&owner).await;
            let refund_id = format!("{sandbox_id}:topup:{now_ms}");
            let _ = self
                .accounts
                .execute(
                    &owner,
                    AccountCommand::ReturnCredits {
                        sandbox_id: refund_id,
                        amount,
                        now_ms,
                    },
                )
                .await;
            return Err(e.into());
        }
        let after = self.load_sandbox(sandbox_id).await?;
        if after.state == SandboxState::Paused
            && after.pause_reason == Some(PauseReason::OutOfBalance)
        {
            self.resume_paused(sandbox_id).await?;
        }
        self.authorized_sandbox(principal, sandbox_id)
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
            code: "invalid_label",
            message: format!("label must be at most {MAX_LABEL_CHARS} printable characters"),
        });
    }
    Ok(Some(label))
}
