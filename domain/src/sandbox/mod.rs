//! The `Sandbox` aggregate: one sandbox's lifecycle and its money.
//!
//! Invariant kept by every handler: `paid_in = charged + refunded + reserved + balance`
//! and charges cover only milliseconds in which the sandbox was running.
//!
//! One stream, handled by concern: `state` holds what the aggregate remembers
//! and hands each command and event to `lifecycle`, `executions`,
//! `shells_previews`, `funding` (invoices and charging too) or `refunds`;
//! their tests sit in `tests/`, one file per concern.

mod command;
mod error;
mod event;
mod executions;
mod funding;
mod lifecycle;
mod lifecycle_state;
mod refunds;
mod shells_previews;
mod state;
#[cfg(test)]
mod tests;

pub use command::{Funding, SandboxCommand};
pub use error::SandboxError;
pub use event::{
    BillingMethod, FundingSource, PauseReason, RefundDestination, RefundTarget, SandboxEvent,
};
pub use state::{RefundInFlight, Sandbox, SandboxState};
