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
const BATCH: i64 = 2_000;
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
    pub async fn at_rest<T>(&self, f: impl FnOnce(i64) -> T) -> T {
        let _delivering = self.delivering.lock().await;
        f(self.position())
    }

    /// Deliver every event committed after the position; returns how many.
    pub async fn catch_up(&self) -> anyhow::Result<usize> {
        let _delivering = self.delivering.lock().await;
        let mut delivered = 0;
        loop {
            let rows = self.rows_after(self.position()).await?;
            let count = rows.len();
            let Some(last) = rows.last().map(|r| r.0) else {
                break;
            };
            self.deliver(rows).await?;
            self.position.store(last, Ordering::SeqCst);
            delivered += count;
            if (count as i64) < BATCH {
                break;
            }
        }
        Ok(delivered)
    }

    async fn rows_after(&self, position: i64) -> Result<Vec<Row>, sqlx::Error> {
        match &self.pool {
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

    /// Hand rows to the subscribers in order, a run of one stream's events per call.
    async fn deliver(&self, rows: Vec<Row>) -> anyhow::Result<()> {
        let mut run: Vec<SerializedEvent> = Vec::new();
        for (
            _,
            aggregate_type,
            aggregate_id,
            sequence,
            event_type,
            event_version,
            payload,
            metadata,
        ) in rows
        {
            let event = SerializedEvent::new(
                aggregate_id,
                usize::try_from(sequence).unwrap_or(0),
                aggregate_type,
                event_type,
                event_version,
                serde_json::from_str(&payload)?,
                serde_json::from_str(&metadata)?,
            );
            let same_stream = run.last().is_some_and(|last| {
                last.aggregate_type == event.aggregate_type
                    && last.aggregate_id == event.aggregate_id
            });
            if !same_stream {
                self.dispatch(std::mem::take(&mut run)).await?;
            }
            run.push(event);
        }
        self.dispatch(run).await
    }

    async fn dispatch(&self, run: Vec<SerializedEvent>) -> anyhow::Result<()> {
        let Some(first) = run.first() else {
            return Ok(());
        };
        let aggregate_id = first.aggregate_id.clone();
        match first.aggregate_type.as_str() {
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

fn envelopes<A: Aggregate>(run: Vec<SerializedEvent>) -> anyhow::Result<Vec<EventEnvelope<A>>> {
    run.into_iter()
        .map(|stored| {
            let stored = domain::upcasting::upcast(stored);
            let metadata: HashMap<String, String> =
                serde_json::from_value(stored.metadata).unwrap_or_default();
            Ok(EventEnvelope {
                aggregate_id: stored.aggregate_id,
                sequence: stored.sequence,
                payload: serde_json::from_value(stored.payload).map_err(|e| {
                    anyhow::anyhow!(
                        "event {} of {} does not load: {e}",
                        stored.sequence,
                        A::TYPE
                    )
                })?,
                metadata,
            })
        })
        .collect()
}
