//! An event store that chains every commit to the one before it (see
//! `domain::chain`), so an auditor can detect edited, deleted or reordered
//! events; snapshots each aggregate every `snapshot_every` events; and may
//! keep each aggregate's latest state (`states`).
//!
//! Commits are written here, not by cqrs-es's snapshot store: that one
//! builds a snapshot by applying the commit's events again to a state that
//! command handling has already applied them to, and stops at the multiple
//! of `snapshot_every` while recording the commit's last sequence — a
//! commit of several events across that multiple left a snapshot without
//! its later events, which every load after it then missed.

use super::states::States;
use cqrs_es::persist::{
    EventStoreAggregateContext, PersistedEventRepository, PersistedEventStore, PersistenceError,
    SerializedEvent,
};
use cqrs_es::{Aggregate, AggregateError, DomainEvent, EventEnvelope, EventStore};
use domain::chain::{commit_hash, ChainedEvent, GENESIS, HASH_KEY, PREV_KEY};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Cheap to clone: clones share the store and the cache of stream heads.
pub struct ChainedStore<R, A>
where
    R: PersistedEventRepository,
    A: Aggregate,
{
    inner: Arc<PersistedEventStore<R, A>>,
    /// Last known (sequence, chain hash) per stream.
    heads: Arc<Mutex<HashMap<String, (usize, String)>>>,
    /// Reads the newest event of a stream without loading the others.
    repo: Arc<R>,
    /// Each stream's latest state known to this process, when kept.
    states: Option<Arc<States<A>>>,
    /// Other processes commit to these streams too: a kept state may be stale.
    shared: bool,
    snapshot_every: usize,
}

impl<R, A> Clone for ChainedStore<R, A>
where
    R: PersistedEventRepository,
    A: Aggregate,
{
    fn clone(&self) -> Self {
        ChainedStore {
            inner: self.inner.clone(),
            heads: self.heads.clone(),
            repo: self.repo.clone(),
            states: self.states.clone(),
            shared: self.shared,
            snapshot_every: self.snapshot_every,
        }
    }
}

/// Whether a commit of `count` events after `current_sequence` is followed
/// by a snapshot: when it reaches or crosses a multiple of `every`.
pub(crate) fn snapshot_due(every: usize, current_sequence: usize, count: usize) -> bool {
    let every = every.max(1);
    count > 0 && (current_sequence + count) / every > current_sequence / every
}

impl<R, A> ChainedStore<R, A>
where
    R: PersistedEventRepository,
    A: Aggregate + Clone,
{
    /// A store that keeps a snapshot of each aggregate every
    /// `snapshot_every` events, so loading one costs at most that many events.
    pub fn new(repo: impl Fn() -> R, snapshot_every: usize) -> Self {
        ChainedStore {
            inner: Arc::new(
                PersistedEventStore::new_snapshot_store(repo(), snapshot_every)
                    .with_upcasters(domain::upcasting::upcasters()),
            ),
            heads: Arc::new(Mutex::new(HashMap::new())),
            repo: Arc::new(repo()),
            states: None,
            shared: false,
            snapshot_every: snapshot_every.max(1),
        }
    }

    /// Keep each aggregate's latest state in memory, as this process last
    /// loaded or committed it. Where other processes write the same streams
    /// too, a kept state may be stale: a commit decided on it is refused by
    /// the store (its sequence is taken), which forgets it.
    pub fn remembering_states(mut self) -> Self {
        self.states = Some(Arc::new(States::new()));
        self
    }

    /// Other processes commit to these streams too: a decision to record
    /// nothing, which no commit checks, is checked against the store.
    pub fn shared_with_other_writers(mut self) -> Self {
        self.shared = true;
        self
    }

    /// Whether other processes commit to these streams too.
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// The stream as the store has it now (remembered from here on).
    pub async fn load_stored(
        &self,
        aggregate_id: &str,
    ) -> Result<EventStoreAggregateContext<A>, AggregateError<A::Error>> {
        let context = self.inner.load_aggregate(aggregate_id).await?;
        if let Some(states) = &self.states {
            states.loaded(&context);
        }
        Ok(context)
    }

    /// Drop what is remembered of the stream: the next load reads the store.
    pub fn forget(&self, aggregate_id: &str) {
        if let Some(states) = &self.states {
            states.forget(aggregate_id);
        }
    }

    fn cached(&self, aggregate_id: &str, sequence: usize) -> Option<String> {
        let heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
        heads
            .get(aggregate_id)
            .filter(|(s, _)| *s == sequence)
            .map(|(_, h)| h.clone())
    }

    /// Refuse (as a lost race) a decision made on a state the store has
    /// moved past: the state is forgotten and the command runs again.
    async fn check_current(
        &self,
        context: &EventStoreAggregateContext<A>,
    ) -> Result<(), AggregateError<A::Error>> {
        let later = self
            .repo
            .get_last_events::<A>(&context.aggregate_id, context.current_sequence)
            .await?;
        if later.iter().any(|e| e.sequence > context.current_sequence) {
            self.forget(&context.aggregate_id);
            return Err(AggregateError::AggregateConflict);
        }
        Ok(())
    }

    /// The chain hash of the stream's last commit, at `sequence`.
    async fn head(
        &self,
        aggregate_id: &str,
        sequence: usize,
    ) -> Result<String, AggregateError<A::Error>> {
        if sequence == 0 {
            return Ok(GENESIS.to_string());
        }
        if let Some(hash) = self.cached(aggregate_id, sequence) {
            return Ok(hash);
        }
        // Only the newest event: the stream may be long.
        let newest = self
            .repo
            .get_last_events::<A>(aggregate_id, sequence - 1)
            .await?;
        Ok(newest
            .iter()
            .find(|e| e.sequence == sequence)
            .and_then(|e| e.metadata.get(HASH_KEY))
            .and_then(|h| h.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| GENESIS.to_string()))
    }
}

impl<R, A> EventStore<A> for ChainedStore<R, A>
where
    R: PersistedEventRepository,
    A: Aggregate + Clone,
{
    type AC = EventStoreAggregateContext<A>;

    async fn load_events(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        self.inner.load_events(aggregate_id).await
    }

    async fn load_aggregate(
        &self,
        aggregate_id: &str,
    ) -> Result<Self::AC, AggregateError<A::Error>> {
        let Some(states) = &self.states else {
            return self.inner.load_aggregate(aggregate_id).await;
        };
        match states.get(aggregate_id) {
            Some(known) => Ok(known),
            None => self.load_stored(aggregate_id).await,
        }
    }

    async fn commit(
        &self,
        events: Vec<A::Event>,
        context: Self::AC,
        mut metadata: HashMap<String, String>,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        if events.is_empty() {
            if self.shared && self.states.is_some() {
                self.check_current(&context).await?;
            }
            return self.inner.commit(events, context, metadata).await;
        }
        let aggregate_id = context.aggregate_id.clone();
        let first = context.current_sequence + 1;
        let prev = self.head(&aggregate_id, context.current_sequence).await?;
        let described: Vec<(String, String, serde_json::Value)> = events
            .iter()
            .map(|e| Ok((e.event_type(), e.event_version(), serde_json::to_value(e)?)))
            .collect::<Result<_, serde_json::Error>>()
            .map_err(|e| AggregateError::UnexpectedError(Box::new(e)))?;
        let chained: Vec<ChainedEvent<'_>> = described
            .iter()
            .enumerate()
            .map(|(i, (t, v, p))| ChainedEvent {
                sequence: first + i,
                event_type: t,
                event_version: v,
                payload: p,
            })
            .collect();
        let hash = commit_hash(&prev, A::TYPE, &aggregate_id, &chained);
        metadata.insert(PREV_KEY.to_string(), prev);
        metadata.insert(HASH_KEY.to_string(), hash.clone());
        let count = events.len();
        let envelopes: Vec<EventEnvelope<A>> = events
            .into_iter()
            .zip(first..)
            .map(|(payload, sequence)| EventEnvelope {
                aggregate_id: aggregate_id.clone(),
                sequence,
                payload,
                metadata: metadata.clone(),
            })
            .collect();
        let serialized = envelopes
            .iter()
            .map(SerializedEvent::try_from)
            .collect::<Result<Vec<_>, PersistenceError>>()?;
        // Command handling has applied the events to the loaded state: that
        // is the state after this commit, the snapshot's when one is due.
        let snapshot_version = snapshot_due(self.snapshot_every, context.current_sequence, count)
            .then(|| context.current_snapshot.map_or(1, |version| version + 1));
        let snapshot = match snapshot_version {
            Some(version) => Some((
                aggregate_id.clone(),
                serde_json::to_value(&context.aggregate)
                    .map_err(|e| AggregateError::UnexpectedError(Box::new(e)))?,
                version,
            )),
            None => None,
        };
        if let Err(e) = self.repo.persist::<A>(&serialized, snapshot).await {
            if let Some(states) = &self.states {
                states.forget(&aggregate_id);
            }
            return Err(e.into());
        }
        if let Some(states) = &self.states {
            states.remember(EventStoreAggregateContext {
                aggregate_id: aggregate_id.clone(),
                aggregate: context.aggregate,
                current_sequence: context.current_sequence + count,
                current_snapshot: snapshot_version.or(context.current_snapshot),
            });
        }
        self.heads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(aggregate_id, (first + count - 1, hash));
        Ok(envelopes)
    }
}
