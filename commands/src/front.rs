//! The application's front: every use case a transport calls, each handed
//! to the service that holds it (`App` adds no rule of its own). A reader
//! following a call goes from here to one service's module, where the
//! method of the same name is documented.

use crate::app::App;
use crate::auth::Principal;
use crate::error::AppError;
use crate::executions::exec::{ExecOptions, ExecPoll};
use crate::executions::processes::ProcessesKilled;
use crate::files::FileRead;
use crate::lightning::refund_outcome::RefundOutcome;
use crate::queries::listing::{SandboxPage, SandboxQuery};
use crate::queries::sandbox_status::SandboxStatus;
use crate::sandboxes::create::CreateSandbox;
use crate::sandboxes::previews::ProxyAccess;
use crate::sandboxes::shells::{OpenShell, RedeemedTicket, TerminalSize};
use domain::ports::FileEntry;
use domain::Msats;
use projections::{
    AccountEntry, AccountView, ExecutionView, LedgerEntry, ReadModel, SandboxView, TimelineEntry,
};
use std::time::Duration;

/// The front of `Queries`: who is calling, and what they may see.
impl App {
    pub async fn principal_for_secret(&self, secret: &str) -> Result<Principal, AppError> {
        self.queries.principal_for_secret(secret).await
    }

    pub fn known_principal(&self, secret: &str) -> Option<Principal> {
        self.queries.known_principal(secret)
    }

    pub fn list_sandboxes(
        &self,
        principal: &Principal,
        query: &SandboxQuery,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<SandboxPage, AppError> {
        self.queries.list_sandboxes(principal, query, cursor, limit)
    }

    pub fn read_model(&self) -> &ReadModel {
        self.queries.read_model()
    }

    pub fn present(&self, view: SandboxView) -> SandboxStatus {
        self.queries.present(view)
    }

    pub fn sandbox(
        &self,
        principal: &Principal,
        sandbox_id: &str,
    ) -> Result<SandboxView, AppError> {
        self.queries.sandbox(principal, sandbox_id)
    }

    pub fn ledger(
        &self,
        principal: &Principal,
        sandbox_id: &str,
    ) -> Result<(SandboxView, Vec<LedgerEntry>), AppError> {
        self.queries.ledger(principal, sandbox_id)
    }

    pub fn account_statement(
        &self,
        principal: &Principal,
    ) -> Result<(AccountView, Vec<AccountEntry>), AppError> {
        self.queries.account_statement(principal)
    }

    pub fn account(&self, principal: &Principal) -> Result<AccountView, AppError> {
        self.queries.account(principal)
    }

    pub fn visible_sandboxes(&self, principal: &Principal) -> Vec<SandboxView> {
        self.queries.visible_sandboxes(principal)
    }

    pub fn may_see_sandbox(&self, principal: &Principal, sandbox_id: &str) -> bool {
        self.queries.may_see_sandbox(principal, sandbox_id)
    }

    pub fn sandbox_timeline(
        &self,
        principal: &Principal,
        sandbox_id: &str,
    ) -> Result<Vec<TimelineEntry>, AppError> {
        self.queries.sandbox_timeline(principal, sandbox_id)
    }

    pub fn sandbox_executions(
        &self,
        principal: &Principal,
        sandbox_id: &str,
    ) -> Result<Vec<ExecutionView>, AppError> {
        self.queries.sandbox_executions(principal, sandbox_id)
    }

    pub fn visible_accounts(&self, principal: &Principal) -> Vec<AccountView> {
        self.queries.visible_accounts(principal)
    }

    pub fn sandbox_events(&self) -> tokio::sync::broadcast::Receiver<TimelineEntry> {
        self.queries.sandbox_events()
    }
}

/// The front of `Sandboxes`: sandboxes.
impl App {
    pub async fn create_sandbox_and_wait(
        &self,
        principal: &Principal,
        request: CreateSandbox,
        wait: Duration,
    ) -> Result<(SandboxView, String), AppError> {
        self.sandboxes
            .create_sandbox_and_wait(principal, request, wait)
            .await
    }

    pub async fn create_sandbox(
        &self,
        principal: &Principal,
        request: CreateSandbox,
    ) -> Result<(SandboxView, String), AppError> {
        self.sandboxes.create_sandbox(principal, request).await
    }

    pub async fn pause(
        &self,
        principal: &Principal,
        sandbox_id: &str,
    ) -> Result<SandboxView, AppError> {
        self.sandboxes.pause(principal, sandbox_id).await
    }

    pub async fn resume(
        &self,
        principal: &Principal,
        sandbox_id: &str,
    ) -> Result<SandboxView, AppError> {
        self.sandboxes.resume(principal, sandbox_id).await
    }

    pub async fn terminate(
        &self,
        principal: &Principal,
        sandbox_id: &str,
        lightning_address: Option<&str>,
    ) -> Result<(SandboxView, Option<RefundOutcome>), AppError> {
        self.sandboxes
            .terminate(principal, sandbox_id, lightning_address)
            .await
    }

    pub async fn finish_removals(&self, within: std::time::Duration) {
        self.sandboxes.finish_removals(within).await
    }

    pub async fn issue_preview_token(
        &self,
        principal: &Principal,
        sandbox_id: &str,
    ) -> Result<String, AppError> {
        self.sandboxes
            .issue_preview_token(principal, sandbox_id)
            .await
    }

    pub async fn revoke_preview_token(
        &self,
        principal: &Principal,
        sandbox_id: &str,
    ) -> Result<(), AppError> {
        self.sandboxes
            .revoke_preview_token(principal, sandbox_id)
            .await
    }

    pub async fn proxy_target(
        &self,
        access: &ProxyAccess,
        sandbox_id: &str,
        port: u16,
    ) -> Result<std::net::SocketAddr, AppError> {
        self.sandboxes.proxy_target(access, sandbox_id, port).await
    }

    pub async fn shell_ticket(
        &self,
        principal: &Principal,
        sandbox_id: &str,
    ) -> Result<String, AppError> {
        self.sandboxes.shell_ticket(principal, sandbox_id).await
    }

    pub async fn redeem_shell_ticket(
        &self,
        sandbox_id: &str,
        ticket: &str,
    ) -> Result<RedeemedTicket, AppError> {
        self.sandboxes.redeem_shell_ticket(sandbox_id, ticket).await
    }

    pub async fn open_shell(
        &self,
        principal: &Principal,
        sandbox_id: &str,
        ticket_nonce: Option<String>,
        size: TerminalSize,
    ) -> Result<OpenShell, AppError> {
        self.sandboxes
            .open_shell(principal, sandbox_id, ticket_nonce, size)
            .await
    }

    pub async fn close_shell(
        &self,
        sandbox_id: &str,
        shell_id: &str,
        container: &str,
        (bytes_in, bytes_out): (u64, u64),
        reason: &str,
    ) {
        self.sandboxes
            .close_shell(
                sandbox_id,
                shell_id,
                container,
                (bytes_in, bytes_out),
                reason,
            )
            .await
    }

    pub async fn extend_balance(
        &self,
        principal: &Principal,
        sandbox_id: &str,
        credits_cents: Option<u64>,
        sats: Option<u64>,
        payer: Option<&Principal>,
    ) -> Result<SandboxView, AppError> {
        self.sandboxes
            .extend_balance(principal, sandbox_id, credits_cents, sats, payer)
            .await
    }
}

/// The front of `Executions`: executions.
impl App {
    pub async fn exec(
        &self,
        principal: &Principal,
        sandbox_id: &str,
        command: &str,
        working_dir: Option<&str>,
        timeout_ms: Option<u64>,
        options: ExecOptions,
    ) -> Result<ExecutionView, AppError> {
        self.executions
            .exec(
                principal,
                sandbox_id,
                command,
                working_dir,
                timeout_ms,
                options,
            )
            .await
    }

    pub async fn poll_execution(
        &self,
        principal: &Principal,
        execution_id: &str,
        offset: Option<usize>,
        wait: Duration,
    ) -> Result<ExecPoll, AppError> {
        self.executions
            .poll_execution(principal, execution_id, offset, wait)
            .await
    }

    pub fn background_timeout_ms(&self) -> u64 {
        self.executions.background_timeout_ms()
    }

    pub async fn exec_and_wait(
        &self,
        principal: &Principal,
        sandbox_id: &str,
        command: &str,
        working_dir: Option<&str>,
        timeout_ms: Option<u64>,
        options: ExecOptions,
    ) -> Result<ExecPoll, AppError> {
        self.executions
            .exec_and_wait(
                principal,
                sandbox_id,
                command,
                working_dir,
                timeout_ms,
                options,
            )
            .await
    }

    pub async fn wait_as_asked(
        &self,
        principal: &Principal,
        execution_id: &str,
        asked: Duration,
    ) -> Result<ExecPoll, AppError> {
        self.executions
            .wait_as_asked(principal, execution_id, asked)
            .await
    }

    pub async fn wait_for_execution(
        &self,
        principal: &Principal,
        execution_id: &str,
        wait: Duration,
    ) -> Result<ExecPoll, AppError> {
        self.executions
            .wait_for_execution(principal, execution_id, wait)
            .await
    }

    pub async fn cancel_execution(
        &self,
        principal: &Principal,
        execution_id: &str,
    ) -> Result<ExecPoll, AppError> {
        self.executions
            .cancel_execution(principal, execution_id)
            .await
    }

    pub async fn kill_processes(
        &self,
        principal: &Principal,
        sandbox_id: &str,
    ) -> Result<ProcessesKilled, AppError> {
        self.executions.kill_processes(principal, sandbox_id).await
    }

    pub async fn write_stdin(
        &self,
        principal: &Principal,
        execution_id: &str,
        bytes: Vec<u8>,
        close: bool,
    ) -> Result<usize, AppError> {
        self.executions
            .write_stdin(principal, execution_id, bytes, close)
            .await
    }
}

/// The front of `Files`: files.
impl App {
    pub async fn write_file(
        &self,
        principal: &Principal,
        sandbox_id: &str,
        path: &str,
        bytes: Vec<u8>,
        create_dirs: bool,
    ) -> Result<(String, u64), AppError> {
        self.files
            .write_file(principal, sandbox_id, path, bytes, create_dirs)
            .await
    }

    pub async fn read_file(
        &self,
        principal: &Principal,
        sandbox_id: &str,
        path: &str,
        max_bytes: Option<u64>,
    ) -> Result<FileRead, AppError> {
        self.files
            .read_file(principal, sandbox_id, path, max_bytes)
            .await
    }

    pub async fn list_files(
        &self,
        principal: &Principal,
        sandbox_id: &str,
        path: &str,
        recursive: bool,
        max_depth: Option<u32>,
    ) -> Result<(String, Vec<FileEntry>), AppError> {
        self.files
            .list_files(principal, sandbox_id, path, recursive, max_depth)
            .await
    }
}

/// The front of `Billing`: accounts.
impl App {
    pub async fn open_account(
        &self,
        name: &str,
        credits_cents: u64,
    ) -> Result<(AccountView, String), AppError> {
        self.billing.open_account(name, credits_cents).await
    }

    pub async fn deposit_credits(
        &self,
        account_id: &str,
        cents: u64,
    ) -> Result<AccountView, AppError> {
        self.billing.deposit_credits(account_id, cents).await
    }
}

/// The front of `Invoices`: Lightning payments in.
impl App {
    pub async fn settle_payment(&self, payment_hash: &str) -> Result<(), AppError> {
        self.invoices.settle_payment(payment_hash).await
    }
}

/// The front of `Payouts`: Lightning payments out (withdraw links).
impl App {
    pub fn withdraw_url(&self, k1: &str) -> String {
        self.payouts.withdraw_url(k1)
    }

    pub async fn withdraw_offer(&self, k1: &str) -> Result<(String, Msats), AppError> {
        self.payouts.withdraw_offer(k1).await
    }

    pub async fn claim_withdraw(&self, k1: &str, bolt11: &str) -> Result<Msats, AppError> {
        self.payouts.claim_withdraw(k1, bolt11).await
    }
}
