//! The read side: views built from the event streams, kept in memory and
//! rebuilt from the event store on start. REST (and later GraphQL and MCP)
//! read only these.

mod accounts;
mod executions;
mod ledger;
mod read_model;
mod sandboxes;

pub use accounts::AccountView;
pub use executions::ExecutionView;
pub use ledger::{LedgerEntry, LedgerKind};
pub use read_model::ReadModel;
pub use sandboxes::SandboxView;
