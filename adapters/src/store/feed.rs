//! The catch-up subscription: delivers every event to the subscribers (the
//! read model) in the store's global order, exactly once per process, from a
//! remembered position. It catches up after each of this process's commits
//! (so a caller reads its own writes), when PostgreSQL notifies a commit by
//! another process, and at least every poll interval (SQLite, or a missed
//! notification).

use super::{Pool, Subscribers};
use cqrs_es::persist::SerializedEvent;
use cqrs_es::{Aggregate, EventEnvelope};
use domain::account::Account;
use domain::sandbox::Sandbox;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Rows read per query while catching up.
const BATCH: i64 = 5_000;
/// The longest another process's commit stays unseen.
const POLL: Duration = Duration::from_millis(250);

pub struct EventFeed {
    pool: Pool,
    subscribers: Subscribers,
    /// Held while delivering, so events reach subscribers one batch at a time, in order.
    delivering: tokio::sync::Mutex<()>,
    /// Global position of the last event delivered.
    position: AtomicI64,
}

type Row = (i64, String, String, i64, String, String, String, String);

impl EventFeed {
    pub(crate) fn new(pool: Pool, subscribers: Subscribers, position: i64) -> Self {
        EventFeed {
            pool,
            subscribers,
            delivering: tokio::sync::Mutex::new(()),
            position: AtomicI64::new(position),
        }
    }

    /// Global position of the last event delivered.
    pub fn position(&self) -> i64 {
        self.position.load(Ordering::SeqCst)
    }

    /// Run `f` while no event is being delivered, with the position the
    /// subscribers are at (for a consistent checkpoint of their state).
    pub async fn at_rest<T, F: std::future::Future<Output = T>>(
        &self,
        f: impl FnOnce(i64) -> F,
    ) -> T {
        let _delivering = self.delivering.lock().await;
        f(self.position()).await
    }

    /// Deliver every event committed after the position; returns how many.
    /// The next batch is read while this one is delivered (the store's
    /// worker and the subscribers run side by side).
    pub async fn catch_up(&self) -> anyhow::Result<usize> {
        let _delivering = self.delivering.lock().await;
        let mut delivered = 0;
        let mut reading = Some(tokio::spawn(rows_after(self.pool.clone(), self.position())));
        while let Some(read) = reading.take() {
            let rows = read.await??;
            let count = rows.len();
            let Some(last) = rows.last().map(|r| r.0) else {
                break;
            };
            if count as i64 == BATCH {
                reading = Some(tokio::spawn(rows_after(self.pool.clone(), last)));
            }
            self.deliver(rows).await?;
            self.position.store(last, Ordering::SeqCst);
            delivered += count;
        }
        Ok(delivered)
    }
    /// Hand rows to the subscribers in order, a run of one stream's events per call.
    async fn deliver(&self, rows: Vec<Row>) -> anyhow::Result<()> {
        let mut start = 0;
        while start < rows.len() {
            let (kind, id) = (&rows[start].1, &rows[start].2);
            let end = rows[start..]
                .iter()
                .position(|r| &r.1 != kind || &r.2 != id)
                .map_or(rows.len(), |n| start + n);
            self.dispatch(&rows[start..end]).await?;
            start = end;
        }
        Ok(())
    }

    /// One stream's run of rows, decoded and handed to its subscriber.
    async fn dispatch(&self, run: &[Row]) -> anyhow::Result<()> {
        let Some(first) = run.first() else {
            return Ok(());
        };
        let aggregate_id = first.2.clone();
        match first.1.as_str() {
            Sandbox::TYPE => {
                let events = envelopes::<Sandbox>(run)?;
                self.subscribers
                    .sandboxes
                    .dispatch(&aggregate_id, &events)
                    .await;
            }
            Account::TYPE => {
                let events = envelopes::<Account>(run)?;
                self.subscribers
                    .accounts
                    .dispatch(&aggregate_id, &events)
                    .await;
            }
            other => tracing::warn!(
                aggregate_type = other,
                "skipping events of an unknown aggregate type"
            ),
        }
        Ok(())
    }

    /// Catch up whenever a commit may have happened, until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut listener = match &self.pool {
            Pool::Postgres(pool) => listen(pool).await,
            Pool::Sqlite(_) => None,
        };
        loop {
            if let Err(e) = self.catch_up().await {
                tracing::error!(error = %e, "could not read new events from the store");
            }
            let notified = async {
                match listener.as_mut() {
                    Some(listener) => {
                        if listener.recv().await.is_err() {
                            tokio::time::sleep(POLL).await;
                        }
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = notified => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
}

async fn listen(pool: &sqlx::PgPool) -> Option<sqlx::postgres::PgListener> {
    let mut listener = match sqlx::postgres::PgListener::connect_with(pool).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::warn!(error = %e, "no LISTEN connection; following the store by polling");
            return None;
        }
    };
    match listener.listen("sockt_events").await {
        Ok(()) => Some(listener),
        Err(e) => {
            tracing::warn!(error = %e, "LISTEN failed; following the store by polling");
            None
        }
    }
}

/// Decode stored rows into events: straight from their JSON when their
/// version is current, through the upcasters otherwise.
fn envelopes<A: Aggregate>(run: &[Row]) -> anyhow::Result<Vec<EventEnvelope<A>>> {
    run.iter()
        .map(
            |(
                _,
                aggregate_type,
                aggregate_id,
                sequence,
                event_type,
                event_version,
                payload,
                metadata,
            )| {
                let sequence = usize::try_from(*sequence).unwrap_or(0);
                let metadata: HashMap<String, String> =
                    serde_json::from_str(metadata).unwrap_or_default();
                let loaded = if domain::upcasting::needs_upcast(event_type, event_version) {
                    let stored = domain::upcasting::upcast(SerializedEvent::new(
                        aggregate_id.clone(),
                        sequence,
                        aggregate_type.clone(),
                        event_type.clone(),
                        event_version.clone(),
                        serde_json::from_str(payload)?,
                        serde_json::Value::Null,
                    ));
                    serde_json::from_value(stored.payload)
                } else {
                    serde_json::from_str(payload)
                };
                Ok(EventEnvelope {
                    aggregate_id: aggregate_id.clone(),
                    sequence,
                    payload: loaded.map_err(|e| {
                        anyhow::anyhow!("event {sequence} of {} does not load: {e}", A::TYPE)
                    })?,
                    metadata,
                })
            },
        )
        .collect()
}

/// The stored events after `position`, at most `BATCH`, in order.
async fn rows_after(pool: Pool, position: i64) -> Result<Vec<Row>, sqlx::Error> {
    match &pool {
        Pool::Sqlite(pool) => sqlx::query_as("SELECT position, aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata FROM events WHERE position > ? ORDER BY position LIMIT ?")
            .bind(position)
            .bind(BATCH)
            .fetch_all(pool)
            .await,
        Pool::Postgres(pool) => sqlx::query_as("SELECT position, aggregate_type, aggregate_id, sequence, event_type, event_version, payload::text, metadata::text FROM events WHERE position > $1 ORDER BY position LIMIT $2")
            .bind(position)
            .bind(BATCH)
            .fetch_all(pool)
            .await,
    }
}
