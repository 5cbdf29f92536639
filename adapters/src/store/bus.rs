//! The command bus over a chained, snapshotting event store: cqrs-es runs the
//! commands; loading an aggregate for a decision reads the same store.

use super::chained::ChainedStore;
use super::feed::EventFeed;
use async_trait::async_trait;
use cqrs_es::persist::PersistedEventRepository;
use cqrs_es::{Aggregate, AggregateError, CqrsFramework, EventStore};
use domain::ports::CommandBus;
use std::sync::Arc;

/// How many events an aggregate is loaded from at most, beyond its snapshot.
pub const SNAPSHOT_EVERY: usize = 100;
/// Tries of a command that lost an optimistic-concurrency race (another
/// process committed to the same stream between its load and its commit).
const CONFLICT_TRIES: usize = 5;

pub(crate) struct StoreBus<R, A>
where
    R: PersistedEventRepository,
    A: Aggregate + Clone,
{
    store: ChainedStore<R, A>,
    cqrs: CqrsFramework<A, ChainedStore<R, A>>,
    feed: Arc<EventFeed>,
}

/// Who commits to an aggregate type's streams. Either way a command
/// decides on the state this process remembers (no store read); with
/// several writers that state may be stale, so a commit on it is refused
/// (and run again on the stored state), a refusal is checked once against
/// the stored state, and `load` reads the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Writers {
    /// This process alone: what it remembers is the stream's state.
    OnlyThisProcess,
    /// Other processes too (`sockt accounts`, other servers of a store).
    Several,
}

impl<R, A> StoreBus<R, A>
where
    R: PersistedEventRepository + 'static,
    A: Aggregate<Services = ()> + Clone + 'static,
{
    /// Commands over `repo`'s store; after each, `feed` delivers what it committed.
    pub(crate) fn new(repo: impl Fn() -> R, feed: Arc<EventFeed>, writers: Writers) -> Self {
        let store = ChainedStore::new(repo, SNAPSHOT_EVERY).remembering_states();
        let store = match writers {
            Writers::OnlyThisProcess => store,
            Writers::Several => store.shared_with_other_writers(),
        };
        StoreBus {
            cqrs: CqrsFramework::new(store.clone(), Vec::new(), ()),
            store,
            feed,
        }
    }
}

#[async_trait]
impl<R, A> CommandBus<A> for StoreBus<R, A>
where
    R: PersistedEventRepository + 'static,
    A: Aggregate + Clone + 'static,
    A::Command: Clone + Send + 'static,
{
    async fn execute(
        &self,
        aggregate_id: &str,
        command: A::Command,
    ) -> Result<(), AggregateError<A::Error>> {
        let mut tries = 1;
        // Whether a refusal was decided on the stored state.
        let mut refused_on_stored = !self.store.is_shared();
        loop {
            match self.cqrs.execute(aggregate_id, command.clone()).await {
                Err(AggregateError::AggregateConflict) if tries < CONFLICT_TRIES => tries += 1,
                Err(AggregateError::UserError(_)) if !refused_on_stored => {
                    self.store.forget(aggregate_id);
                    refused_on_stored = true;
                }
                Err(e) => return Err(e),
                Ok(()) => break,
            }
        }
        // Read your own writes: the views include this commit when we return.
        if let Err(e) = self.feed.catch_up().await {
            tracing::error!(error = %e, "could not deliver committed events to the read model");
        }
        Ok(())
    }

    async fn load(&self, aggregate_id: &str) -> Result<A, AggregateError<A::Error>> {
        let context = if self.store.is_shared() {
            self.store.load_stored(aggregate_id).await?
        } else {
            self.store.load_aggregate(aggregate_id).await?
        };
        Ok(context.aggregate)
    }
}
