//! The read side: views built from the event streams, kept in memory, fed in
//! the store's global order and checkpointed with their position (every
//! transport reads only these, through the application's queries), and the
//! auditor's replay of the raw log.

mod accounts;
pub mod audit;
mod executions;
mod ledger;
mod read_model;
mod sandboxes;

pub use accounts::{AccountEntry, AccountView, StatementKind};
pub use executions::ExecutionView;
pub use ledger::{LedgerEntry, LedgerKind};
pub use read_model::{CheckpointError, ReadModel, TimelineEntry, CHECKPOINT_FORMAT};
pub use sandboxes::SandboxView;
