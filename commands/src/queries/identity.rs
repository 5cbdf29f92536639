//! Who a caller is: the principal a bearer secret stands for.

use crate::auth::{hash_secret, Principal, API_KEY_PREFIX, SANDBOX_TOKEN_PREFIX};
use crate::error::AppError;
use crate::queries::Queries;

impl Queries {
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
