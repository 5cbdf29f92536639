//! An in-memory event store behind the command-bus port: cqrs-es's
//! `MemStore`, with the read model as its query, so views stay current.

use async_trait::async_trait;
use cqrs_es::mem_store::MemStore;
use cqrs_es::{Aggregate, AggregateError, CqrsFramework, EventStore, Query};
use domain::ports::CommandBus;

pub struct MemBus<A: Aggregate> {
    store: MemStore<A>,
    cqrs: CqrsFramework<A, MemStore<A>>,
}

impl<A: Aggregate<Services = ()> + Clone + 'static> MemBus<A> {
    pub fn new(query: impl Query<A> + 'static) -> MemBus<A> {
        let store = MemStore::default();
        MemBus {
            cqrs: CqrsFramework::new(store.clone(), vec![Box::new(query)], ()),
            store,
        }
    }
}

#[async_trait]
impl<A> CommandBus<A> for MemBus<A>
where
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
