//! Group commit for the SQLite store. SQLite writes one transaction at a
//! time and syncs each to disk, so many sandboxes charged (or many commands
//! committed) at once would queue for one fsync each. Here every commit goes
//! to one writer task; the commits that arrive while a batch is being written
//! go to disk together in the next one — one transaction, one sync — each in
//! a savepoint of its own, so one that loses an optimistic-concurrency race
//! (or fails otherwise) fails alone and the rest of its batch lands. Readers
//! never wait on the writer: reads go straight to the pool (WAL mode).
//!
//! The rows written are exactly the ones `sqlite-es` writes (its reads serve
//! this store). PostgreSQL needs none of this: its WAL writer already
//! flushes concurrent commits together.

use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use cqrs_es::Aggregate;
use serde_json::Value;
use sqlite_es::SqliteEventRepository;
use sqlx::{SqliteConnection, SqlitePool};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The most commits written in one transaction.
const MAX_BATCH: usize = 256;

const INSERT_EVENT: &str = "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)";
const INSERT_SNAPSHOT: &str = "INSERT INTO snapshots (aggregate_type, aggregate_id, last_sequence, current_snapshot, payload) VALUES (?, ?, ?, ?, ?)";
const UPDATE_SNAPSHOT: &str = "UPDATE snapshots SET last_sequence = ?, payload = ?, current_snapshot = ? WHERE aggregate_type = ? AND aggregate_id = ? AND current_snapshot = ?";

/// One aggregate's commit on its way to the writer.
struct Commit {
    aggregate_type: &'static str,
    events: Vec<SerializedEvent>,
    /// (aggregate id, aggregate, snapshot number), as cqrs-es hands it over.
    snapshot: Option<(String, Value, usize)>,
    done: oneshot::Sender<Result<(), PersistenceError>>,
}

/// How much batching happened: commits written and the transactions they took.
#[derive(Debug, Default)]
pub struct CommitStats {
    pub commits: AtomicU64,
    pub batches: AtomicU64,
}

/// The queue to the writer; cheap to clone (one writer per store).
#[derive(Clone)]
pub(crate) struct GroupCommitter {
    queue: mpsc::UnboundedSender<Commit>,
    pub(crate) stats: Arc<CommitStats>,
}

impl GroupCommitter {
    /// Start the writer on `pool` (it runs until every clone is dropped).
    pub(crate) fn start(pool: SqlitePool) -> GroupCommitter {
        let (queue, commits) = mpsc::unbounded_channel();
        let stats = Arc::new(CommitStats::default());
        tokio::spawn(write_batches(pool, commits, stats.clone()));
        GroupCommitter { queue, stats }
    }

    async fn commit(
        &self,
        aggregate_type: &'static str,
        events: &[SerializedEvent],
        snapshot: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        let (done, outcome) = oneshot::channel();
        let commit = Commit {
            aggregate_type,
            events: events.to_vec(),
            snapshot,
            done,
        };
        if self.queue.send(commit).is_err() {
            return Err(writer_gone());
        }
        outcome.await.unwrap_or_else(|_| Err(writer_gone()))
    }
}

fn writer_gone() -> PersistenceError {
    PersistenceError::ConnectionError("the store's writer has stopped".into())
}

/// A repository whose reads are sqlite-es's and whose writes are grouped.
pub(crate) struct GroupCommitRepository {
    reads: SqliteEventRepository,
    writer: GroupCommitter,
}

impl GroupCommitRepository {
    pub(crate) fn new(pool: SqlitePool, writer: GroupCommitter) -> Self {
        GroupCommitRepository {
            reads: SqliteEventRepository::new(pool),
            writer,
        }
    }
}

impl PersistedEventRepository for GroupCommitRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.reads.get_events::<A>(aggregate_id).await
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.reads
            .get_last_events::<A>(aggregate_id, last_sequence)
            .await
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        self.reads.get_snapshot::<A>(aggregate_id).await
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        self.writer.commit(A::TYPE, events, snapshot_update).await
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        self.reads.stream_events::<A>(aggregate_id).await
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        self.reads.stream_all_events::<A>().await
    }
}

/// The writer: take what is queued (up to a batch), write it in one
/// transaction, answer each commit, repeat.
async fn write_batches(
    pool: SqlitePool,
    mut queue: mpsc::UnboundedReceiver<Commit>,
    stats: Arc<CommitStats>,
) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(commit) => batch.push(commit),
                Err(_) => break,
            }
        }
        let outcomes = write_batch(&pool, &batch).await;
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats
            .commits
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        for (commit, outcome) in batch.into_iter().zip(outcomes) {
            let _ = commit.done.send(outcome);
        }
    }
}

/// Write a batch; one outcome per commit, in order.
async fn write_batch(pool: &SqlitePool, batch: &[Commit]) -> Vec<Result<(), PersistenceError>> {
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(e) => return all_failed(batch.len(), &e),
    };
    match write_in_transaction(&mut conn, batch).await {
        Ok(outcomes) => outcomes,
        Err(e) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            all_failed(batch.len(), &e)
        }
    }
}

/// The batch in one transaction, each commit in a savepoint; an error
/// here fails the whole batch (the caller rolls back).
async fn write_in_transaction(
    conn: &mut SqliteConnection,
    batch: &[Commit],
) -> Result<Vec<Result<(), PersistenceError>>, sqlx::Error> {
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    if let [only] = batch {
        // Alone in its batch: its failure is the transaction's.
        let outcome = write_commit(conn, only).await;
        let end = if outcome.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        sqlx::query(end).execute(&mut *conn).await?;
        return Ok(vec![outcome]);
    }
    let mut outcomes = Vec::with_capacity(batch.len());
    for commit in batch {
        sqlx::query("SAVEPOINT one_commit")
            .execute(&mut *conn)
            .await?;
        let outcome = write_commit(conn, commit).await;
        if outcome.is_err() {
            sqlx::query("ROLLBACK TO SAVEPOINT one_commit")
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query("RELEASE SAVEPOINT one_commit")
            .execute(&mut *conn)
            .await?;
        outcomes.push(outcome);
    }
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    Ok(outcomes)
}

fn all_failed(count: usize, error: &sqlx::Error) -> Vec<Result<(), PersistenceError>> {
    (0..count).map(|_| Err(persistence_error(error))).collect()
}

/// One aggregate's events and snapshot, as sqlite-es writes them.
async fn write_commit(
    conn: &mut SqliteConnection,
    commit: &Commit,
) -> Result<(), PersistenceError> {
    let mut last_sequence = 0;
    for event in &commit.events {
        last_sequence = event.sequence;
        sqlx::query(INSERT_EVENT)
            .bind(commit.aggregate_type)
            .bind(event.aggregate_id.as_str())
            .bind(event.sequence as i64)
            .bind(event.event_type.as_str())
            .bind(event.event_version.as_str())
            .bind(&event.payload)
            .bind(&event.metadata)
            .execute(&mut *conn)
            .await
            .map_err(|e| persistence_error(&e))?;
    }
    let Some((aggregate_id, aggregate, snapshot)) = &commit.snapshot else {
        return Ok(());
    };
    if *snapshot == 1 {
        sqlx::query(INSERT_SNAPSHOT)
            .bind(commit.aggregate_type)
            .bind(aggregate_id.as_str())
            .bind(last_sequence as i64)
            .bind(*snapshot as i64)
            .bind(aggregate)
            .execute(&mut *conn)
            .await
            .map_err(|e| persistence_error(&e))?;
        return Ok(());
    }
    let updated = sqlx::query(UPDATE_SNAPSHOT)
        .bind(last_sequence as i64)
        .bind(aggregate)
        .bind(*snapshot as i64)
        .bind(commit.aggregate_type)
        .bind(aggregate_id.as_str())
        .bind(snapshot.saturating_sub(1) as i64)
        .execute(&mut *conn)
        .await
        .map_err(|e| persistence_error(&e))?;
    // Another writer moved the snapshot on: this commit lost the race (and,
    // unlike a plain sqlite-es commit, leaves no events behind).
    if updated.rows_affected() == 1 {
        Ok(())
    } else {
        Err(PersistenceError::OptimisticLockError)
    }
}

/// A database error as cqrs-es understands it: a taken (aggregate,
/// sequence) is a lost optimistic-concurrency race.
fn persistence_error(error: &sqlx::Error) -> PersistenceError {
    match error {
        sqlx::Error::Database(db)
            if matches!(db.code().as_deref(), Some("1555") | Some("2067")) =>
        {
            PersistenceError::OptimisticLockError
        }
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            PersistenceError::ConnectionError(error.to_string().into())
        }
        _ => PersistenceError::UnknownError(error.to_string().into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn store() -> (SqlitePool, GroupCommitter, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("sockt-group-commit-{}", uuid::Uuid::new_v4()));
        let location = super::super::StoreLocation::Sqlite(dir.join("events.db"));
        let Ok(super::super::Pool::Sqlite(pool)) = location.connect(4).await else {
            panic!("a SQLite pool");
        };
        super::super::migrate(&super::super::Pool::Sqlite(pool.clone()))
            .await
            .expect("migrated");
        let writer = GroupCommitter::start(pool.clone());
        (pool, writer, dir)
    }

    fn event(aggregate_id: &str, sequence: usize) -> SerializedEvent {
        SerializedEvent::new(
            aggregate_id.to_string(),
            sequence,
            "Test".to_string(),
            "Happened".to_string(),
            "1.0".to_string(),
            json!({ "n": sequence }),
            json!({}),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_commits_share_transactions_and_a_lost_race_fails_alone() {
        let (pool, writer, dir) = store().await;
        writer
            .commit("Test", &[event("taken", 1)], None)
            .await
            .expect("first commit");
        // 200 commits at once, one of them to a sequence already taken.
        let commits = (0..200).map(|i| {
            let writer = writer.clone();
            async move {
                let id = if i == 100 {
                    "taken".to_string()
                } else {
                    format!("agg-{i}")
                };
                writer
                    .commit("Test", &[event(&id, 1), event(&id, 2)], None)
                    .await
            }
        });
        let outcomes = futures::future::join_all(commits).await;
        for (i, outcome) in outcomes.iter().enumerate() {
            if i == 100 {
                assert!(
                    matches!(outcome, Err(PersistenceError::OptimisticLockError)),
                    "{outcome:?}"
                );
            } else {
                assert!(outcome.is_ok(), "commit {i}: {outcome:?}");
            }
        }
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(&pool)
            .await
            .expect("counted");
        assert_eq!(stored, 1 + 199 * 2, "the lost race left nothing behind");
        let positions: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT position) FROM events")
            .fetch_one(&pool)
            .await
            .expect("counted");
        assert_eq!(positions, stored, "every event has its own global position");
        let commits = writer.stats.commits.load(Ordering::Relaxed);
        let batches = writer.stats.batches.load(Ordering::Relaxed);
        assert_eq!(commits, 201);
        assert!(
            batches < 100,
            "{commits} commits took {batches} transactions"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn snapshots_are_inserted_then_moved_on_and_a_stale_one_conflicts() {
        let (pool, writer, dir) = store().await;
        let snapshot = |n: usize| Some(("agg".to_string(), json!({ "snapshot": n }), n));
        writer
            .commit("Test", &[event("agg", 1)], snapshot(1))
            .await
            .expect("inserted");
        writer
            .commit("Test", &[event("agg", 2)], snapshot(2))
            .await
            .expect("moved on");
        let stale = writer.commit("Test", &[event("agg", 3)], snapshot(2)).await;
        assert!(
            matches!(stale, Err(PersistenceError::OptimisticLockError)),
            "{stale:?}"
        );
        let (last, current): (i64, i64) = sqlx::query_as(
            "SELECT last_sequence, current_snapshot FROM snapshots WHERE aggregate_id = 'agg'",
        )
        .fetch_one(&pool)
        .await
        .expect("a snapshot");
        assert_eq!((last, current), (2, 2));
        let events: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE aggregate_id = 'agg'")
                .fetch_one(&pool)
                .await
                .expect("counted");
        assert_eq!(events, 2, "the stale commit's event was rolled back");
        let _ = std::fs::remove_dir_all(dir);
    }
}
