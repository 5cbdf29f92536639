//! Preview tokens: the owner of a sandbox can let someone without its
//! credentials (a browser, a colleague) reach its proxied ports, and take
//! that back. One token per sandbox at a time; issuing a new one revokes the
//! old; only its hash is recorded, and it opens the proxy alone — never the
//! API.

use crate::aggregates::running_container_of;
use crate::auth::{hash_secret, random_suffix, Principal};
use crate::error::AppError;
use crate::sandboxes::Sandboxes;
use domain::ids::SandboxId;
use domain::sandbox::SandboxCommand;

/// What every preview token starts with.
pub const PREVIEW_TOKEN_PREFIX: &str = "spv_";

/// Who is asking to reach a proxied port.
#[derive(Debug, Clone)]
pub enum ProxyAccess {
    /// The owner (API key) or the sandbox's own token, from a header.
    Principal(Principal),
    /// A preview token.
    Preview(String),
}

impl Sandboxes {
    /// Where the server reaches `port` of the caller's running sandbox.
    async fn sandbox_endpoint(
        &self,
        principal: &Principal,
        sandbox_id: &str,
        port: u16,
    ) -> Result<std::net::SocketAddr, AppError> {
        if port == 0 {
            return Err(AppError::invalid("port must be between 1 and 65535"));
        }
        let sandbox = self.store.authorized(principal, sandbox_id).await?;
        let container = running_container_of(&sandbox, "reach its ports")?;
        Ok(self.runtime.endpoint(&container, port).await?)
    }

    /// Issue a new preview token for the sandbox (shown once), revoking any
    /// earlier one.
    pub async fn issue_preview_token(
        &self,
        principal: &Principal,
        sandbox_id: &SandboxId,
    ) -> Result<String, AppError> {
        self.store.authorized(principal, sandbox_id).await?;
        let token = format!("{PREVIEW_TOKEN_PREFIX}{}", random_suffix(32));
        let _guard = self.store.lock(sandbox_id).await;
        self.store
            .execute(
                sandbox_id,
                SandboxCommand::IssuePreviewToken {
                    token_hash: hash_secret(&token),
                    now_ms: self.store.now_ms(),
                },
            )
            .await?;
        Ok(token)
    }

    /// Revoke the sandbox's preview token (nothing to do when it has none).
    pub async fn revoke_preview_token(
        &self,
        principal: &Principal,
        sandbox_id: &SandboxId,
    ) -> Result<(), AppError> {
        self.store.authorized(principal, sandbox_id).await?;
        let _guard = self.store.lock(sandbox_id).await;
        self.store
            .execute(
                sandbox_id,
                SandboxCommand::RevokePreviewToken {
                    now_ms: self.store.now_ms(),
                },
            )
            .await?;
        Ok(())
    }

    /// The address to dial for `port` of the running sandbox, for `access`;
    /// a wrong or revoked preview token finds no sandbox, as a stranger's
    /// key does.
    pub async fn proxy_target(
        &self,
        access: &ProxyAccess,
        sandbox_id: &SandboxId,
        port: u16,
    ) -> Result<std::net::SocketAddr, AppError> {
        match access {
            ProxyAccess::Principal(principal) => {
                self.sandbox_endpoint(principal, sandbox_id, port).await
            }
            ProxyAccess::Preview(token) => {
                if port == 0 {
                    return Err(AppError::invalid("port must be between 1 and 65535"));
                }
                let sandbox = self.store.load(sandbox_id).await?;
                let presented = hash_secret(token);
                let valid = sandbox
                    .preview_token_hash
                    .as_deref()
                    .is_some_and(|hash| crate::auth::same_secret(hash, &presented));
                if !valid {
                    return Err(AppError::sandbox_not_found());
                }
                let container = running_container_of(&sandbox, "reach its ports")?;
                Ok(self.runtime.endpoint(&container, port).await?)
            }
        }
    }
}
