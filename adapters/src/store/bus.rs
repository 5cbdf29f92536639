//! The command bus over a chained, snapshotting event store. One
//! aggregate's commands are decided in turn and committed together: while
//! one commit is on its way to disk, the commands that arrive for the same
//! stream queue (`queues`); the next batch decides each on the state the
//! ones before it left, and commits all their events at once — one write,
//! one disk sync, however many callers. A refused command fails alone.
//! Loading an aggregate for a decision reads the same store.

use super::chained::ChainedStore;
use super::feed::EventFeed;
use super::queues::Queues;
use async_trait::async_trait;
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{EventStoreAggregateContext, PersistedEventRepository};
use cqrs_es::{Aggregate, AggregateError, EventStore};
use domain::ports::CommandBus;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::oneshot;

/// How many events an aggregate is loaded from at most, beyond its snapshot.
pub const SNAPSHOT_EVERY: usize = 100;
/// Tries of a command that lost an optimistic-concurrency race (another
/// process committed to the same stream between its load and its commit).
const CONFLICT_TRIES: usize = 5;

type Outcome<A> = Result<(), AggregateError<<A as Aggregate>::Error>>;

/// A command waiting for its stream's runner.
struct Queued<A: Aggregate> {
    command: A::Command,
    /// Commits of it tried so far.
    tries: usize,
    /// Whether a refusal of it was decided on the stored state.
    refused_on_stored: bool,
    done: oneshot::Sender<Outcome<A>>,
}

impl<A: Aggregate> Queued<A> {
    fn answer(self, outcome: Outcome<A>) {
        // The caller may have gone (its request was dropped); the command
        // stands all the same.
        let _ = self.done.send(outcome);
    }
}

pub(crate) struct StoreBus<R, A>
where
    R: PersistedEventRepository,
    A: Aggregate + Clone,
{
    decider: Arc<Decider<R, A>>,
}

/// What the runners share: the store, the feed and the queues.
struct Decider<R, A>
where
    R: PersistedEventRepository,
    A: Aggregate + Clone,
{
    store: ChainedStore<R, A>,
    feed: Arc<EventFeed>,
    queues: Queues<Queued<A>>,
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
            decider: Arc::new(Decider {
                store,
                feed,
                queues: Queues::new(),
            }),
        }
    }
}

#[async_trait]
impl<R, A> CommandBus<A> for StoreBus<R, A>
where
    R: PersistedEventRepository + 'static,
    A: Aggregate<Services = ()> + Clone + 'static,
    A::Command: Clone + Send + 'static,
    A::Error: Send,
{
    async fn execute(&self, aggregate_id: &str, command: A::Command) -> Outcome<A> {
        let (done, outcome) = oneshot::channel();
        let queued = Queued {
            command,
            tries: 0,
            refused_on_stored: !self.decider.store.is_shared(),
            done,
        };
        if self.decider.queues.push(aggregate_id, queued) {
            // The runner is a task of its own: a caller that goes away
            // leaves the stream's queue served.
            let decider = self.decider.clone();
            let stream = aggregate_id.to_string();
            tokio::spawn(async move { decider.run(&stream).await });
        }
        outcome
            .await
            .unwrap_or_else(|_| Err(unexpected("the command's runner stopped")))
    }

    async fn load(&self, aggregate_id: &str) -> Result<A, AggregateError<A::Error>> {
        let store = &self.decider.store;
        let context = if store.is_shared() {
            store.load_stored(aggregate_id).await?
        } else {
            store.load_aggregate(aggregate_id).await?
        };
        Ok(context.aggregate)
    }
}

/// Ends a stream's runner that stops before its queue is empty (a panic):
/// the callers waiting hear so, and the next command starts a new runner.
struct Abandon<'a, T> {
    queues: &'a Queues<T>,
    stream: &'a str,
    finished: bool,
}

impl<T> Drop for Abandon<'_, T> {
    fn drop(&mut self) {
        if !self.finished {
            self.queues.abandon(self.stream);
        }
    }
}

impl<R, A> Decider<R, A>
where
    R: PersistedEventRepository,
    A: Aggregate<Services = ()> + Clone,
    A::Command: Clone,
{
    /// Serve the stream's queue until it is empty.
    async fn run(&self, stream: &str) {
        let mut guard = Abandon {
            queues: &self.queues,
            stream,
            finished: false,
        };
        let mut carried = Vec::new();
        loop {
            let batch = self.queues.next_batch(stream, carried);
            if batch.is_empty() {
                guard.finished = true;
                return;
            }
            carried = self.decide(stream, batch).await;
        }
    }

    /// Decide each command on the state the ones before it left, commit
    /// the events of all it accepted at once, and answer their callers once
    /// the views hold them. Returns the commands to decide again: those
    /// whose commit lost a race with another process, and refusals to check
    /// against the stored state.
    async fn decide(&self, stream: &str, batch: Vec<Queued<A>>) -> Vec<Queued<A>> {
        let mut context = match self.store.load_aggregate(stream).await {
            Ok(context) => context,
            Err(e) => {
                for queued in batch {
                    queued.answer(Err(copy_error(&e)));
                }
                return Vec::new();
            }
        };
        let mut accepted = Vec::new();
        let mut again = Vec::new();
        let mut events = Vec::new();
        for mut queued in batch {
            let mut decided = context.aggregate.clone();
            let sink = EventSink::default();
            match decided.handle(queued.command.clone(), &(), &sink).await {
                Ok(()) => {
                    events.extend(sink.collect().await);
                    context.aggregate = decided;
                    accepted.push(queued);
                }
                Err(_) if !queued.refused_on_stored => {
                    queued.refused_on_stored = true;
                    again.push(queued);
                }
                Err(refusal) => queued.answer(Err(AggregateError::UserError(refusal))),
            }
        }
        if !again.is_empty() {
            // What this process remembers may be stale: the refusals are
            // decided again on the stored state.
            self.store.forget(stream);
        }
        if accepted.is_empty() {
            return again;
        }
        match self.commit(events, context).await {
            Ok(()) => {
                // Read your own writes: the views hold the commit when the
                // callers hear of it.
                if let Err(e) = self.feed.catch_up().await {
                    tracing::error!(error = %e, "could not deliver committed events to the read model");
                }
                for queued in accepted {
                    queued.answer(Ok(()));
                }
            }
            Err(AggregateError::AggregateConflict) => {
                self.store.forget(stream);
                for mut queued in accepted {
                    queued.tries += 1;
                    if queued.tries < CONFLICT_TRIES {
                        again.push(queued);
                    } else {
                        queued.answer(Err(AggregateError::AggregateConflict));
                    }
                }
            }
            Err(e) => {
                for queued in accepted {
                    queued.answer(Err(copy_error(&e)));
                }
            }
        }
        again
    }

    async fn commit(
        &self,
        events: Vec<A::Event>,
        context: EventStoreAggregateContext<A>,
    ) -> Result<(), AggregateError<A::Error>> {
        self.store
            .commit(events, context, HashMap::new())
            .await
            .map(drop)
    }
}

/// A store error said to every caller of a batch it failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Copied(String);

fn unexpected<E: std::error::Error>(message: &str) -> AggregateError<E> {
    AggregateError::UnexpectedError(Box::new(Copied(message.to_string())))
}

/// The same error for another caller (the store's errors are not `Clone`;
/// a refusal never reaches here).
fn copy_error<E: std::error::Error>(error: &AggregateError<E>) -> AggregateError<E> {
    let copied = || Box::new(Copied(error.to_string()));
    match error {
        AggregateError::AggregateConflict => AggregateError::AggregateConflict,
        AggregateError::DatabaseConnectionError(_) => {
            AggregateError::DatabaseConnectionError(copied())
        }
        AggregateError::DeserializationError(_) => AggregateError::DeserializationError(copied()),
        AggregateError::UserError(_) | AggregateError::UnexpectedError(_) => {
            AggregateError::UnexpectedError(copied())
        }
    }
}
