//! The event store as the write side sees it: execute a command against an
//! aggregate (load, decide, commit under an optimistic version check) and load
//! an aggregate's current state to decide from. Which store (SQLite or
//! PostgreSQL) sits behind it is the adapters' business.

use async_trait::async_trait;
use cqrs_es::{Aggregate, AggregateError};
use std::sync::Arc;

#[async_trait]
pub trait CommandBus<A: Aggregate>: Send + Sync {
    /// Load the aggregate, let it decide on `command`, and commit its events.
    /// One stream's commands are decided one after another, each on the
    /// state the one before it left (callers need no lock of their own);
    /// an implementation may commit several of them together.
    async fn execute(
        &self,
        aggregate_id: &str,
        command: A::Command,
    ) -> Result<(), AggregateError<A::Error>>;

    /// The aggregate's current state (from its latest snapshot plus the events
    /// after it); the default state when the stream does not exist.
    async fn load(&self, aggregate_id: &str) -> Result<A, AggregateError<A::Error>>;
}

pub type SharedBus<A> = Arc<dyn CommandBus<A>>;
