//! The event log reader over the store: every stored row as it is, for the
//! auditor.

use super::{Pool, StoreLocation};
use async_trait::async_trait;
use domain::ports::{EventLogError, EventLogReader, StoredEvent};

pub struct StoreLog {
    location: StoreLocation,
}

impl StoreLocation {
    /// A reader of every stored event (opened read-only per read).
    pub fn log(&self) -> StoreLog {
        StoreLog {
            location: self.clone(),
        }
    }
}

type Row = (String, String, i64, String, String, String, String);

impl StoreLog {
    async fn rows(&self) -> Result<Vec<Row>, EventLogError> {
        if let StoreLocation::Sqlite(path) = &self.location {
            if !path.exists() {
                return Err(EventLogError::Missing(path.display().to_string()));
            }
        }
        let unreadable = |e: &dyn std::fmt::Display| EventLogError::Unreadable(format!("{e:#}"));
        let pool = self
            .location
            .connect_read_only()
            .await
            .map_err(|e| unreadable(&e))?;
        let rows = match pool {
            Pool::Sqlite(pool) => sqlx::query_as("SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata FROM events")
                .fetch_all(&pool)
                .await,
            Pool::Postgres(pool) => sqlx::query_as("SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload::text, metadata::text FROM events")
                .fetch_all(&pool)
                .await,
        };
        rows.map_err(|e| unreadable(&e))
    }
}

/// One row as the event it stores; a row whose JSON does not parse is
/// damage, reported, never read as an empty event.
fn stored_event(row: Row) -> Result<StoredEvent, EventLogError> {
    let (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) =
        row;
    let json = |text: &str| {
        serde_json::from_str(text).map_err(|e| EventLogError::Corrupt {
            aggregate_type: aggregate_type.clone(),
            aggregate_id: aggregate_id.clone(),
            sequence,
            reason: format!("it is not JSON ({e})"),
        })
    };
    let payload = json(&payload)?;
    let metadata = json(&metadata)?;
    Ok(StoredEvent {
        sequence: usize::try_from(sequence).map_err(|_| EventLogError::Corrupt {
            aggregate_type: aggregate_type.clone(),
            aggregate_id: aggregate_id.clone(),
            sequence,
            reason: "its sequence is negative".into(),
        })?,
        aggregate_type,
        aggregate_id,
        event_type,
        event_version,
        payload,
        metadata,
    })
}

#[async_trait]
impl EventLogReader for StoreLog {
    async fn read_all(&self) -> Result<Vec<StoredEvent>, EventLogError> {
        self.rows().await?.into_iter().map(stored_event).collect()
    }
}
