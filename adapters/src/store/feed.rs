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
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
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
    /// Catch-ups asked for so far (each numbered), and the highest number
    /// a finished catch-up had been asked for before it began reading:
    /// every commit made before that ask has been delivered. Callers that
    /// queue behind a catch-up which began after they asked are done when
    /// it finishes — a burst of commits costs a couple of reads, not one
    /// each.
    asked: AtomicU64,
    covered: AtomicU64,
}

/// An event as the feed reads it: position, aggregate type and id,
/// sequence, event type and version, payload. Without its metadata (the
/// integrity chain's hashes): no subscriber reads it, and it is more than
/// half of what a replay would move (the audit reads the chain from the
/// store itself).
type Row = (i64, String, String, i64, String, String, String);

impl EventFeed {
    pub(crate) fn new(pool: Pool, subscribers: Subscribers, position: i64) -> Self {
        EventFeed {
            pool,
            subscribers,
            delivering: tokio::sync::Mutex::new(()),
            position: AtomicI64::new(position),
            asked: AtomicU64::new(0),
            covered: AtomicU64::new(0),
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

    /// Deliver every event committed before this call (and any after it
    /// that the reads find); returns how many this call delivered (none
    /// when a catch-up that began after it was asked for delivered them).
    /// The next batch is read while this one is delivered (the store's
    /// worker and the subscribers run side by side).
    pub async fn catch_up(&self) -> anyhow::Result<usize> {
        let ask = self.asked.fetch_add(1, Ordering::SeqCst) + 1;
        let _delivering = self.delivering.lock().await;
        if self.covered.load(Ordering::SeqCst) >= ask {
            return Ok(0);
        }
        let asked_before_reading = self.asked.load(Ordering::SeqCst);
        let delivered = self.deliver_all().await?;
        self.covered
            .fetch_max(asked_before_reading, Ordering::SeqCst);
        Ok(delivered)
    }

    /// Read and deliver every event after the position (the caller holds
    /// `delivering`).
    async fn deliver_all(&self) -> anyhow::Result<usize> {
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
            |(_, aggregate_type, aggregate_id, sequence, event_type, event_version, payload)| {
                let sequence = usize::try_from(*sequence).unwrap_or(0);
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
                    metadata: HashMap::new(),
                })
            },
        )
        .collect()
}

/// The stored events after `position`, at most `BATCH`, in order.
async fn rows_after(pool: Pool, position: i64) -> Result<Vec<Row>, sqlx::Error> {
    match &pool {
        Pool::Sqlite(pool) => {
            // In practice SQLite concatenates the rows in the order the
            // subquery gives them; only the aggregate's own ORDER BY
            // promises it, and costs a sort of the whole batch. The cheap
            // batch is checked, and read again in order when it is not.
            match unpack_batch(pool, position, PACKED_AS_SCANNED).await? {
                Err(Unpacking::OutOfOrder) => unpack_batch(pool, position, PACKED_IN_ORDER).await?,
                unpacked => unpacked,
            }
            .map_err(|e| sqlx::Error::Decode(e.to_string().into()))
        }
        Pool::Postgres(pool) => sqlx::query_as("SELECT position, aggregate_type, aggregate_id, sequence, event_type, event_version, payload::text FROM events WHERE position > $1 ORDER BY position LIMIT $2")
            .bind(position)
            .bind(BATCH)
            .fetch_all(pool)
            .await,
    }
}

/// A batch of SQLite rows packed into one (sqlx hands rows over from its
/// SQLite thread one at a time, a wake-up each, which was most of what a
/// replay cost): the events after `?1`, at most `?2`, as [`unpack`] reads
/// them, concatenated with the aggregate's `order` clause.
macro_rules! packed_batch {
    ($order:literal) => {
        concat!(
            "SELECT count(*), group_concat(position || char(31) || aggregate_type || char(31) || aggregate_id || char(31) || sequence || char(31) || event_type || char(31) || event_version || char(31) || payload, char(30)",
            $order,
            ") FROM (SELECT * FROM events WHERE position > ? ORDER BY position LIMIT ?)"
        )
    };
}
/// In the order the subquery scans (checked by `unpack`).
const PACKED_AS_SCANNED: &str = packed_batch!("");
/// In order whatever the query plan.
const PACKED_IN_ORDER: &str = packed_batch!(" ORDER BY position");

async fn unpack_batch(
    pool: &sqlx::SqlitePool,
    position: i64,
    query: &'static str,
) -> Result<Result<Vec<Row>, Unpacking>, sqlx::Error> {
    let (count, packed): (i64, Option<String>) = sqlx::query_as(query)
        .bind(position)
        .bind(BATCH)
        .fetch_one(pool)
        .await?;
    Ok(unpack(count, packed.as_deref().unwrap_or("")))
}

/// Separators of a packed SQLite batch: control characters that JSON text
/// (payloads) and Sockt's identifiers never hold unescaped.
const FIELD: char = '\u{1f}';
const RECORD: char = '\u{1e}';

/// Why a packed batch did not unpack.
#[derive(Debug, PartialEq)]
enum Unpacking {
    /// Whole, but its events not in increasing position.
    OutOfOrder,
    /// Not the batch it should be (a missing event, a field too many).
    Malformed(String),
}

impl std::fmt::Display for Unpacking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unpacking::OutOfOrder => f.write_str("a batch's events came out of order"),
            Unpacking::Malformed(why) => f.write_str(why),
        }
    }
}

/// The rows of a packed batch, checked whole: `count` records of seven
/// fields each, in increasing position.
fn unpack(count: i64, packed: &str) -> Result<Vec<Row>, Unpacking> {
    let records: Vec<&str> = if packed.is_empty() {
        Vec::new()
    } else {
        packed.split(RECORD).collect()
    };
    if records.len() as i64 != count {
        return Err(Unpacking::Malformed(format!(
            "a batch of {count} events unpacked into {} records",
            records.len()
        )));
    }
    let mut rows: Vec<Row> = Vec::with_capacity(records.len());
    for record in records {
        let fields: Vec<&str> = record.split(FIELD).collect();
        let [position, aggregate_type, aggregate_id, sequence, event_type, event_version, payload] =
            fields[..]
        else {
            return Err(Unpacking::Malformed(format!(
                "an event unpacked into {} fields",
                fields.len()
            )));
        };
        let number = |text: &str| {
            text.parse::<i64>().map_err(|e| {
                Unpacking::Malformed(format!("an event's position or sequence '{text}': {e}"))
            })
        };
        let position = number(position)?;
        if rows.last().is_some_and(|last| last.0 >= position) {
            return Err(Unpacking::OutOfOrder);
        }
        rows.push((
            position,
            aggregate_type.to_string(),
            aggregate_id.to_string(),
            number(sequence)?,
            event_type.to_string(),
            event_version.to_string(),
            payload.to_string(),
        ));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(records: &[[&str; 7]]) -> String {
        records
            .iter()
            .map(|r| r.join(&FIELD.to_string()))
            .collect::<Vec<_>>()
            .join(&RECORD.to_string())
    }

    #[test]
    fn a_packed_batch_unpacks_into_its_rows() {
        let text = packed(&[
            [
                "7",
                "Sandbox",
                "s-1",
                "1",
                "SandboxCreated",
                "1.1",
                r#"{"a":"x\ny"}"#,
            ],
            [
                "9",
                "Account",
                "a-1",
                "4",
                "CreditsAllocated",
                "1.0",
                r#"{"k":"v"}"#,
            ],
        ]);
        let rows = unpack(2, &text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0],
            (
                7,
                "Sandbox".into(),
                "s-1".into(),
                1,
                "SandboxCreated".into(),
                "1.1".into(),
                r#"{"a":"x\ny"}"#.into(),
            )
        );
        assert_eq!((rows[1].0, rows[1].3), (9, 4));
        assert!(unpack(0, "").unwrap().is_empty());
    }

    #[test]
    fn a_batch_that_does_not_unpack_whole_is_refused() {
        let one = packed(&[["7", "Sandbox", "s-1", "1", "E", "1.0", "{}"]]);
        // An event missing from the packing (a NULL column drops it).
        assert!(unpack(2, &one).is_err());
        // A field too few or too many.
        assert!(unpack(1, &one.replacen(&FIELD.to_string(), "", 1)).is_err());
        assert!(unpack(1, &format!("{one}{FIELD}extra")).is_err());
        // Out of order, or a position that is no number.
        let swapped = packed(&[
            ["9", "Sandbox", "s-1", "2", "E", "1.0", "{}"],
            ["7", "Sandbox", "s-1", "1", "E", "1.0", "{}"],
        ]);
        assert_eq!(unpack(2, &swapped), Err(Unpacking::OutOfOrder));
        assert!(unpack(1, &one.replacen('7', "x", 1)).is_err());
    }
}
