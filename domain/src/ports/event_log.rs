//! The event log reader port: every stored event exactly as persisted, for
//! the auditor, which must not trust the projections or the aggregates.

use async_trait::async_trait;

/// One stored event as persisted, with its raw payload and metadata.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: usize,
    pub event_type: String,
    pub event_version: String,
    pub payload: serde_json::Value,
    pub metadata: serde_json::Value,
}

/// Why the log could not be read in full.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventLogError {
    /// There is no store where one was named (a data dir without one).
    #[error("reading the event log: no event store at {0}")]
    Missing(String),
    /// The store is there but could not be opened or queried.
    #[error("reading the event log: {0}")]
    Unreadable(String),
    /// A stored event cannot be read (its payload or metadata is not JSON,
    /// its sequence is negative): the log is damaged, and an audit of it
    /// cannot pass.
    #[error("reading the event log: event {sequence} of {aggregate_type} {aggregate_id} is damaged: {reason}")]
    Corrupt {
        aggregate_type: String,
        aggregate_id: String,
        sequence: i64,
        reason: String,
    },
}

#[async_trait]
pub trait EventLogReader: Send + Sync {
    /// Every event of every stream, in no particular order across streams.
    async fn read_all(&self) -> Result<Vec<StoredEvent>, EventLogError>;
}

impl StoredEvent {
    /// The payload in today's shape (after the upcasters), ready to deserialize.
    pub fn current_payload(&self) -> serde_json::Value {
        crate::upcasting::upcast(cqrs_es::persist::SerializedEvent::new(
            self.aggregate_id.clone(),
            self.sequence,
            self.aggregate_type.clone(),
            self.event_type.clone(),
            self.event_version.clone(),
            self.payload.clone(),
            self.metadata.clone(),
        ))
        .payload
    }
}
