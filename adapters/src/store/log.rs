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
    async fn rows(&self) -> anyhow::Result<Vec<Row>> {
        if let StoreLocation::Sqlite(path) = &self.location {
            if !path.exists() {
                anyhow::bail!("no event store at {}", path.display());
            }
        }
        Ok(match self.location.connect_read_only().await? {
            Pool::Sqlite(pool) => sqlx::query_as("SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata FROM events")
                .fetch_all(&pool)
                .await?,
            Pool::Postgres(pool) => sqlx::query_as("SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload::text, metadata::text FROM events")
                .fetch_all(&pool)
                .await?,
        })
    }
}

#[async_trait]
impl EventLogReader for StoreLog {
    async fn read_all(&self) -> Result<Vec<StoredEvent>, EventLogError> {
        let rows = self
            .rows()
            .await
            .map_err(|e| EventLogError(format!("{e:#}")))?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    aggregate_type,
                    aggregate_id,
                    sequence,
                    event_type,
                    event_version,
                    payload,
                    metadata,
                )| StoredEvent {
                    aggregate_type,
                    aggregate_id,
                    sequence: usize::try_from(sequence).unwrap_or(usize::MAX),
                    event_type,
                    event_version,
                    payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
                    metadata: serde_json::from_str(&metadata).unwrap_or(serde_json::Value::Null),
                },
            )
            .collect())
    }
}
