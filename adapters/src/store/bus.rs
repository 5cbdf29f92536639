//! The command bus over a chained, snapshotting event store: cqrs-es runs the
//! commands; loading an aggregate for a decision reads the same store.

use super::chained::ChainedStore;
use async_trait::async_trait;
use cqrs_es::persist::PersistedEventRepository;
use cqrs_es::{Aggregate, AggregateError, CqrsFramework, EventStore, Query};
use domain::ports::CommandBus;

/// How many events an aggregate is loaded from at most, beyond its snapshot.
pub const SNAPSHOT_EVERY: usize = 100;

pub(crate) struct StoreBus<R, A>
where
    R: PersistedEventRepository,
    A: Aggregate,
{
    store: ChainedStore<R, A>,
    cqrs: CqrsFramework<A, ChainedStore<R, A>>,
}

impl<R, A> StoreBus<R, A>
where
    R: PersistedEventRepository + 'static,
    A: Aggregate<Services = ()> + 'static,
{
    /// Commands over `repo`'s store; `subscribers` see every committed event.
    pub(crate) fn new(repo: impl Fn() -> R, subscribers: Vec<Box<dyn Query<A>>>) -> Self {
        let store = ChainedStore::new(repo, SNAPSHOT_EVERY);
        StoreBus {
            cqrs: CqrsFramework::new(store.clone(), subscribers, ()),
            store,
        }
    }
}

#[async_trait]
impl<R, A> CommandBus<A> for StoreBus<R, A>
where
    R: PersistedEventRepository + 'static,
    A: Aggregate + 'static,
    A::Command: Send + 'static,
{
    async fn execute(
        &self,
        aggregate_id: &str,
        command: A::Command,
    ) -> Result<(), AggregateError<A::Error>> {
        self.cqrs.execute(aggregate_id, command).await
    }

    async fn load(&self, aggregate_id: &str) -> Result<A, AggregateError<A::Error>> {
        Ok(self.store.load_aggregate(aggregate_id).await?.aggregate)
    }
}
