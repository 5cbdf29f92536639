//! Accounts: opening one (its API key is shown once) and depositing credits.

use crate::auth::{hash_secret, new_api_key};
use crate::billing::Billing;
use crate::error::AppError;
use crate::request_limits::{MAX_CREDITS_CENTS, MAX_LABEL_CHARS};
use domain::account::AccountCommand;
use domain::ids::AccountId;
use projections::AccountView;

impl Billing {
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
        let now_ms = self.store.now_ms();
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
            .queries
            .account_view(&account_id)
            .ok_or_else(|| AppError::Internal("account view missing after open".into()))?;
        Ok((view, key))
    }

    pub async fn deposit_credits(
        &self,
        account_id: &AccountId,
        cents: u64,
    ) -> Result<AccountView, AppError> {
        if cents == 0 || cents > MAX_CREDITS_CENTS {
            return Err(AppError::invalid(format!(
                "credits_cents must be between 1 and {MAX_CREDITS_CENTS}"
            )));
        }
        self.accounts
            .execute(
                account_id,
                AccountCommand::DepositCredits {
                    cents,
                    now_ms: self.store.now_ms(),
                },
            )
            .await?;
        self.queries
            .account_view(account_id)
            .ok_or_else(AppError::account_not_found)
    }
}
