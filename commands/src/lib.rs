//! The application: the `App` every transport calls (REST, MCP, GraphQL)
//! and the use-case services it hands out — sandboxes, executions, files,
//! billing, Lightning invoices and payouts, and the read side (queries) —
//! with the background processes that drive them (the meter, settlement,
//! reconciliation, refund retries).

mod aggregates;
mod app;
mod auth;
mod background;
mod billing;
mod config;
mod error;
mod error_code;
mod executions;
mod files;
mod lightning;
mod locks;
mod queries;
mod request_limits;
mod sandboxes;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
#[cfg(test)]
mod tests;

pub use app::App;
pub use auth::{
    hash_secret, new_api_key, same_secret, Principal, API_KEY_PREFIX, SANDBOX_TOKEN_PREFIX,
};
pub use background::duties::{Duties, Leadership, LEASE_RENEW};
pub use background::meter::Meter;
pub use background::reconcile::ReconcileReport;
pub use billing::Billing;
pub use config::AppConfig;
pub use error::{AppError, ErrorCode};
pub use executions::exec::ExecOptions;
pub use executions::exec::ExecPoll;
pub use executions::output::{omitted_line, OutputChunk, OutputSnapshot};
pub use executions::processes::ProcessesKilled;
pub use executions::stdin::MAX_STDIN_WRITE;
pub use executions::utf8_stream::Utf8Stream;
pub use executions::Executions;
pub use files::Files;
pub use files::{FileRead, FileReadEncoding};
pub use lightning::config::{Lightning, LightningConfig};
pub use lightning::invoices::Invoices;
pub use lightning::link_secret::LinkSecret;
pub use lightning::payouts::Payouts;
pub use lightning::refund_outcome::RefundOutcome;
pub use queries::listing::{SandboxPage, SandboxQuery, MAX_PAGE};
pub use queries::sandbox_status::{SandboxStatus, WarningLevel, WithdrawLink};
pub use queries::Queries;
pub use sandboxes::create::{
    CreateSandbox, DefaultBilling, NetworkRequest, CREATE_WAIT, MAX_CREATE_WAIT,
};
pub use sandboxes::previews::{ProxyAccess, PREVIEW_TOKEN_PREFIX};
pub use sandboxes::shell_billing::{ShellBillingWatch, ShellLook, ShellNotice};
pub use sandboxes::shells::{OpenShell, RedeemedTicket, TerminalSize, SHELL_TICKET_PREFIX};
pub use sandboxes::Sandboxes;
