//! The read side: views built from the event streams, kept in memory and
//! rebuilt from the event store on start (REST and MCP read only these), and
//! the auditor's replay of the raw log.

mod accounts;
pub mod audit;
mod executions;
mod ledger;
mod read_model;
mod sandboxes;

pub use accounts::{AccountEntry, AccountView};
pub use executions::ExecutionView;
pub use ledger::{LedgerEntry, LedgerKind};
pub use read_model::{ReadModel, TimelineEntry};
pub use sandboxes::SandboxView;
