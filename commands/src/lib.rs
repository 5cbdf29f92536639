//! The write side: the application API every transport calls (REST, MCP,
//! GraphQL), command dispatch, the executions it runs, the meter
//! that charges running time, Lightning billing, and start-up reconciliation.

mod accounts;
mod admission;
mod admission_counts;
mod aggregates;
mod app;
mod auth;
mod billing;
mod config;
mod duties;
mod error;
mod error_code;
mod exec_output;
mod executions;
mod files;
mod gateway_limits;
mod lifetimes;
mod lightning;
mod lightning_config;
mod link_secret;
mod listing;
mod locks;
mod meter;
mod payout;
mod payouts;
mod presentation;
mod previews;
mod processes;
mod queries;
mod queue;
mod reconcile;
mod refund_outcome;
mod request_limits;
mod running_execs;
mod sandbox_choices;
mod sandbox_status;
mod sandboxes;
mod sealed_env;
mod settlement;
mod shell_billing;
mod shells;
mod stdin;
mod stdin_pipes;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
#[cfg(test)]
mod tests;
mod utf8_stream;
mod whole_sats;
mod withdraw_links;

pub use app::App;
pub use auth::{
    hash_secret, new_api_key, same_secret, Principal, API_KEY_PREFIX, SANDBOX_TOKEN_PREFIX,
};
pub use config::AppConfig;
pub use duties::{Duties, Leadership, LEASE_RENEW};
pub use error::{AppError, ErrorCode};
pub use exec_output::{omitted_line, OutputChunk, OutputSnapshot};
pub use executions::ExecOptions;
pub use executions::ExecPoll;
pub use files::{FileRead, FileReadEncoding};
pub use lightning_config::{Lightning, LightningConfig};
pub use link_secret::LinkSecret;
pub use listing::{SandboxPage, SandboxQuery, MAX_PAGE};
pub use meter::Meter;
pub use previews::{ProxyAccess, PREVIEW_TOKEN_PREFIX};
pub use processes::ProcessesKilled;
pub use reconcile::ReconcileReport;
pub use refund_outcome::RefundOutcome;
pub use sandbox_status::{SandboxStatus, WarningLevel, WithdrawLink};
pub use sandboxes::{CreateSandbox, DefaultBilling, NetworkRequest, CREATE_WAIT, MAX_CREATE_WAIT};
pub use shell_billing::{ShellBillingWatch, ShellLook, ShellNotice};
pub use shells::{OpenShell, RedeemedTicket, TerminalSize, SHELL_TICKET_PREFIX};
pub use stdin::MAX_STDIN_WRITE;
pub use utf8_stream::Utf8Stream;
