//! The write side: the application API every transport calls (REST, MCP,
//! GraphQL), command dispatch, the executions it runs, the meter
//! that charges running time, Lightning billing, and start-up reconciliation.

mod aggregates;
mod app;
mod auth;
mod config;
mod duties;
mod error;
mod exec_output;
mod executions;
mod files;
mod lightning;
mod locks;
mod meter;
mod reconcile;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
#[cfg(test)]
mod tests;

pub use app::{App, CreateSandbox, ExecPoll};
pub use auth::{hash_secret, new_api_key, Principal, API_KEY_PREFIX};
pub use config::AppConfig;
pub use duties::{Duties, Leadership, LEASE_RENEW};
pub use error::AppError;
pub use exec_output::{OutputChunk, OutputSnapshot};
pub use files::{FileRead, FileReadEncoding};
pub use lightning::{Lightning, LightningConfig, RefundOutcome};
pub use meter::Meter;
pub use reconcile::ReconcileReport;
