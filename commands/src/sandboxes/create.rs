//! Creating a sandbox: what a client asks for (tier, billing, label,
//! network, lifetime, environment), checked and admitted, its credits
//! allocated from the account, then provisioned in the background; or a
//! Lightning sandbox awaiting its first payment (`create_lightning`).

use crate::auth::{hash_secret, new_sandbox_token, Principal};
use crate::error::{AppError, ErrorCode};
use crate::request_limits::{MAX_CREDITS_CENTS, MAX_LABEL_CHARS};
use crate::sandboxes::choices::SandboxChoices;
use crate::sandboxes::sealed_env;
use crate::sandboxes::Sandboxes;
use domain::env::EnvVars;
use domain::lifetime::Lifetime;
use domain::network::NetworkPolicy;
use domain::sandbox::{BillingMethod, Funding, FundingSource, SandboxCommand, SandboxState};
use domain::{Msats, Tier, TierName};
use projections::SandboxView;
use std::sync::Arc;
use std::time::Duration;

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

impl Sandboxes {
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
        let mut changes = self.queries.sandbox_events();
        loop {
            match self.queries.view_of(&view.sandbox_id) {
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
                        return self.queries.view_of(&view.sandbox_id).unwrap_or(view)
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
        let admitted = self.provisioning.admit(Some(&account_id))?;

        let sandbox_id = uuid::Uuid::new_v4().to_string();
        let token = new_sandbox_token();
        let now_ms = self.store.now_ms();
        let transfer_id = domain::transfers::funding_transfer_id(&sandbox_id);
        self.billing
            .allocate_credits(&account_id, &sandbox_id, &transfer_id, amount, now_ms)
            .await?;
        let created = self
            .store
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
            self.billing
                .give_back_allocation(&sandbox_id, &account_id, &transfer_id, amount)
                .await;
            return Err(e.into());
        }
        self.provisioning
            .provision_in_background(&sandbox_id, tier.name);
        let view = self
            .queries
            .view_of(&sandbox_id)
            .ok_or_else(|| AppError::Internal("sandbox view missing after create".into()))?;
        Ok((view, token))
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
