//! An event store that chains every commit to the one before it (see
//! `domain::chain`), so an auditor can detect edited, deleted or reordered
//! events.

use cqrs_es::persist::{EventStoreAggregateContext, PersistedEventRepository, PersistedEventStore};
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
        }
    }
}

impl<R, A> ChainedStore<R, A>
where
    R: PersistedEventRepository,
    A: Aggregate,
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
        }
    }

    fn cached(&self, aggregate_id: &str, sequence: usize) -> Option<String> {
        let heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
        heads
            .get(aggregate_id)
            .filter(|(s, _)| *s == sequence)
            .map(|(_, h)| h.clone())
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
    A: Aggregate,
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
        self.inner.load_aggregate(aggregate_id).await
    }

    async fn commit(
        &self,
        events: Vec<A::Event>,
        context: Self::AC,
        mut metadata: HashMap<String, String>,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        if events.is_empty() {
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
        let committed = self.inner.commit(events, context, metadata).await?;
        self.heads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(aggregate_id, (first + count - 1, hash));
        Ok(committed)
    }
}
