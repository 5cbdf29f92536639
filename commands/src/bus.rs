//! Command dispatch as a trait object, so the application does not care which
//! event store (SQLite or PostgreSQL) the framework behind it uses.

use async_trait::async_trait;
use cqrs_es::{Aggregate, AggregateError, CqrsFramework, EventStore};
use std::sync::Arc;

#[async_trait]
pub trait CommandBus<A: Aggregate>: Send + Sync {
    async fn execute(
        &self,
        aggregate_id: &str,
        command: A::Command,
    ) -> Result<(), AggregateError<A::Error>>;
}

#[async_trait]
impl<A, ES> CommandBus<A> for CqrsFramework<A, ES>
where
    A: Aggregate + 'static,
    A::Command: Send + 'static,
    ES: EventStore<A> + 'static,
    ES::AC: Send,
{
    async fn execute(
        &self,
        aggregate_id: &str,
        command: A::Command,
    ) -> Result<(), AggregateError<A::Error>> {
        CqrsFramework::execute(self, aggregate_id, command).await
    }
}

pub type SharedBus<A> = Arc<dyn CommandBus<A>>;
