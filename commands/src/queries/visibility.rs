//! The read side of the application API: what a caller may see, from the
//! views. Every transport reads through these functions, so the visibility
//! rule (`Principal::may_see`) is applied in one place.

use crate::auth::Principal;
use crate::error::AppError;
use crate::queries::Queries;
use domain::ids::SandboxId;
use projections::{
    AccountEntry, AccountView, ExecutionView, LedgerEntry, SandboxView, TimelineEntry,
};

impl Queries {
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

    pub fn sandbox(
        &self,
        principal: &Principal,
        sandbox_id: &SandboxId,
    ) -> Result<SandboxView, AppError> {
        self.authorized_sandbox(principal, sandbox_id)
    }

    pub fn ledger(
        &self,
        principal: &Principal,
        sandbox_id: &SandboxId,
    ) -> Result<(SandboxView, Vec<LedgerEntry>), AppError> {
        let view = self.authorized_sandbox(principal, sandbox_id)?;
        Ok((view, self.read.ledger(sandbox_id)))
    }

    /// The caller's account and every movement of its credits.
    pub fn account_statement(
        &self,
        principal: &Principal,
    ) -> Result<(AccountView, Vec<AccountEntry>), AppError> {
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

    /// Every sandbox the caller may see, newest first.
    pub fn visible_sandboxes(&self, principal: &Principal) -> Vec<SandboxView> {
        self.read
            .all_sandboxes()
            .into_iter()
            .filter(|v| principal.may_see(v.owner.as_deref(), v.token_hash.as_deref()))
            .collect()
    }

    /// Whether the caller may see the sandbox (false when it does not exist).
    pub fn may_see_sandbox(&self, principal: &Principal, sandbox_id: &SandboxId) -> bool {
        self.authorized_sandbox(principal, sandbox_id).is_ok()
    }

    /// The sandbox's most recent events, oldest first.
    pub fn sandbox_timeline(
        &self,
        principal: &Principal,
        sandbox_id: &SandboxId,
    ) -> Result<Vec<TimelineEntry>, AppError> {
        self.authorized_sandbox(principal, sandbox_id)?;
        Ok(self.read.timeline(sandbox_id))
    }

    /// The sandbox's executions, oldest first.
    pub fn sandbox_executions(
        &self,
        principal: &Principal,
        sandbox_id: &SandboxId,
    ) -> Result<Vec<ExecutionView>, AppError> {
        self.authorized_sandbox(principal, sandbox_id)?;
        Ok(self.read.executions_of(sandbox_id))
    }

    /// The caller's account, or every account for the admin.
    pub fn visible_accounts(&self, principal: &Principal) -> Vec<AccountView> {
        match principal {
            Principal::Admin => self.read.all_accounts(),
            Principal::Account(id) => self.read.account(id).into_iter().collect(),
            _ => Vec::new(),
        }
    }

    /// Sandbox events as they happen (filter with `may_see_sandbox`).
    pub fn sandbox_events(&self) -> tokio::sync::broadcast::Receiver<TimelineEntry> {
        self.read.subscribe()
    }
}
