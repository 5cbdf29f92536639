//! Creating a Lightning sandbox: it is made unpaid (holding no room), with
//! an invoice for its prepaid sats, and starts once that is paid.

use crate::auth::{hash_secret, new_sandbox_token, Principal};
use crate::error::AppError;
use crate::sandboxes::choices::SandboxChoices;
use crate::sandboxes::sealed_env;
use crate::sandboxes::Sandboxes;
use domain::sandbox::{BillingMethod, SandboxCommand};
use projections::SandboxView;
use std::sync::Arc;

impl Sandboxes {
    /// Create an anonymous (or account-owned) sandbox that starts once its
    /// invoice for `prepaid_sats` is paid. Returns the view with the pending
    /// invoice, and the sandbox token.
    pub(crate) async fn create_lightning_sandbox(
        self: &Arc<Self>,
        principal: &Principal,
        choices: SandboxChoices,
        prepaid_sats: Option<u64>,
        client: Option<&str>,
    ) -> Result<(SandboxView, String), AppError> {
        let SandboxChoices {
            tier,
            label,
            network,
            lifetime,
            env,
        } = choices;
        let amount = self.invoices.check_sats(prepaid_sats)?;
        self.ensure_room_for_unpaid(client)?;
        let owner = match principal {
            Principal::Account(id) => Some(id.clone()),
            Principal::Admin => {
                return Err(AppError::Forbidden(
                    "the admin token manages accounts; it does not own sandboxes".into(),
                ))
            }
            Principal::Anonymous | Principal::SandboxToken(_) => None,
        };
        // An unpaid sandbox holds no room: the check only turns creates
        // away while the server is full (a paid one may still queue).
        drop(self.provisioning.admit(None)?);
        let sandbox_id = uuid::Uuid::new_v4().to_string();
        let token = new_sandbox_token();
        let env = sealed_env::seal(&self.config.link_secret, &sandbox_id, &env);
        let create = SandboxCommand::CreateSandbox {
            owner,
            tier,
            billing: BillingMethod::Lightning,
            label,
            image: self.config.sandbox_image.clone(),
            token_hash: Some(hash_secret(&token)),
            initial_funding: None,
            network,
            runtime: self.runtime.runtime_for(&domain::Tier::of(tier)),
            lifetime,
            env,
            now_ms: self.store.now_ms(),
        };
        self.store.execute(&sandbox_id, create).await?;
        if let Some(client) = client {
            self.unpaid_by_client.record(client, &sandbox_id);
        }
        if let Err(e) = self.invoices.issue_invoice(&sandbox_id, amount).await {
            self.provisioning
                .fail(&sandbox_id, &format!("no invoice could be issued: {e}"))
                .await;
            return Err(e);
        }
        let view = self
            .queries
            .view_of(&sandbox_id)
            .ok_or_else(|| AppError::Internal("sandbox view missing after create".into()))?;
        Ok((view, token))
    }
}
