//! An in-memory event store behind the command-bus port: cqrs-es's
//! `MemStore`, with the read model as its query, so views stay current.
//! As the port promises, one stream's commands are decided in turn.

use async_trait::async_trait;
use cqrs_es::mem_store::MemStore;
use cqrs_es::{Aggregate, AggregateError, CqrsFramework, DomainEvent, EventStore, Query};
use domain::chain::{commit_hash, ChainedEvent, GENESIS, HASH_KEY, PREV_KEY};
use domain::ports::{CommandBus, StoredEvent};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub struct MemBus<A: Aggregate> {
    store: MemStore<A>,
    cqrs: CqrsFramework<A, MemStore<A>>,
    /// Every stream a command was sent to (the store cannot list them).
    streams: Mutex<BTreeSet<String>>,
    /// One stream's commands wait for each other.
    turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Commits fail (as a store whose disk is full would) while set.
    refusing: AtomicBool,
    /// How long each commit takes (a slow disk), in milliseconds.
    commit_ms: AtomicU64,
}

impl<A: Aggregate<Services = ()> + Clone + 'static> MemBus<A> {
    pub fn new(query: impl Query<A> + 'static) -> MemBus<A> {
        let store = MemStore::default();
        MemBus {
            cqrs: CqrsFramework::new(store.clone(), vec![Box::new(query)], ()),
            store,
            streams: Mutex::default(),
            turns: Mutex::default(),
            refusing: AtomicBool::new(false),
            commit_ms: AtomicU64::new(0),
        }
    }
}

impl<A: Aggregate> MemBus<A> {
    /// Make every commit take `ms` milliseconds before it is written.
    pub fn slow_commits(&self, ms: u64) {
        self.commit_ms.store(ms, Ordering::SeqCst);
    }

    /// Make every commit fail (the store is broken), or work again.
    pub fn refuse_commits(&self, refuse: bool) {
        self.refusing.store(refuse, Ordering::SeqCst);
    }

    /// Every stored event as the event log would give it to the auditor,
    /// each event chained as its own commit.
    pub async fn stored_events(&self) -> Vec<StoredEvent> {
        let ids: Vec<String> = self
            .streams
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .cloned()
            .collect();
        let mut stored = Vec::new();
        for aggregate_id in &ids {
            let envelopes = self
                .store
                .load_events(aggregate_id)
                .await
                .unwrap_or_default();
            let mut prev = GENESIS.to_string();
            for envelope in envelopes {
                let event_type = envelope.payload.event_type();
                let event_version = envelope.payload.event_version();
                let payload = serde_json::to_value(&envelope.payload).unwrap_or_default();
                let hash = commit_hash(
                    &prev,
                    A::TYPE,
                    aggregate_id,
                    &[ChainedEvent {
                        sequence: envelope.sequence,
                        event_type: &event_type,
                        event_version: &event_version,
                        payload: &payload,
                    }],
                );
                let metadata = serde_json::json!({ PREV_KEY: prev, HASH_KEY: hash });
                prev = hash;
                stored.push(StoredEvent {
                    aggregate_type: A::TYPE.to_string(),
                    aggregate_id: aggregate_id.clone(),
                    sequence: envelope.sequence,
                    event_type,
                    event_version,
                    payload,
                    metadata,
                });
            }
        }
        stored
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
        let turn = self
            .turns
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(aggregate_id.to_string())
            .or_default()
            .clone();
        let _turn = turn.lock().await;
        if self.refusing.load(Ordering::SeqCst) {
            return Err(AggregateError::UnexpectedError(Box::new(
                std::io::Error::other("the store refused the commit"),
            )));
        }
        let delay = self.commit_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        self.streams
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(aggregate_id.to_string());
        self.cqrs.execute(aggregate_id, command).await
    }

    async fn load(&self, aggregate_id: &str) -> Result<A, AggregateError<A::Error>> {
        Ok(self.store.load_aggregate(aggregate_id).await?.aggregate)
    }
}
