//! The `Sandbox` aggregate: one sandbox's lifecycle and its money.
//!
//! Invariant kept by every handler: `paid_in = charged + refunded + reserved + balance`
//! and charges cover only milliseconds in which the sandbox was running.

mod command;
mod error;
mod event;
mod state;
#[cfg(test)]
mod tests;

pub use command::{Funding, SandboxCommand};
pub use error::SandboxError;
pub use event::{
    BillingMethod, FundingSource, PauseReason, RefundDestination, RefundTarget, SandboxEvent,
};
pub use state::{RefundInFlight, Sandbox, SandboxState};
