//! The event store: SQLite (a file in the data directory, the embedded
//! default) or PostgreSQL, with the project's own migrations. Opening it
//! replays every stored event into the read model.

use crate::chained::ChainedStore;
use anyhow::Context;
use commands::SharedBus;
use cqrs_es::persist::{PersistedEventRepository, PersistedEventStore, QueryReplay};
use cqrs_es::{Aggregate, CqrsFramework, Query};
use domain::account::Account;
use domain::sandbox::Sandbox;
use postgres_es::PostgresEventRepository;
use projections::ReadModel;
use sqlite_es::SqliteEventRepository;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where the events live.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    /// A SQLite file, created on first use.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

impl StoreLocation {
    /// PostgreSQL when a URL is given, else `events.db` in the data directory.
    pub fn choose(database_url: Option<&str>, data_dir: &Path) -> StoreLocation {
        match database_url.filter(|u| !u.trim().is_empty()) {
            Some(url) => StoreLocation::Postgres(url.to_string()),
            None => StoreLocation::Sqlite(data_dir.join("events.db")),
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            StoreLocation::Sqlite(_) => "sqlite",
            StoreLocation::Postgres(_) => "postgres",
        }
    }
}

/// The command buses of both aggregates and the read model they feed.
#[derive(Clone)]
pub struct EventStores {
    pub sandboxes: SharedBus<Sandbox>,
    pub accounts: SharedBus<Account>,
    pub read: ReadModel,
    pub backend: &'static str,
    /// Events replayed into the read model on open.
    pub replayed: usize,
    /// This store's identity, made on first open.
    pub instance_id: String,
}

/// Counts replayed events for the start-up log line.
struct Counting<Q>(Q, Arc<std::sync::atomic::AtomicUsize>);

#[async_trait::async_trait]
impl<A: Aggregate, Q: Query<A>> Query<A> for Counting<Q> {
    async fn dispatch(&self, id: &str, events: &[cqrs_es::EventEnvelope<A>]) {
        self.1
            .fetch_add(events.len(), std::sync::atomic::Ordering::Relaxed);
        self.0.dispatch(id, events).await;
    }
}

async fn replay<R, A>(
    repo: R,
    read: &ReadModel,
    counter: &Arc<std::sync::atomic::AtomicUsize>,
) -> anyhow::Result<()>
where
    R: PersistedEventRepository,
    A: Aggregate,
    ReadModel: Query<A>,
{
    QueryReplay::new(repo, Counting(read.clone(), counter.clone()))
        .replay_all()
        .await
        .map_err(|e| anyhow::anyhow!("replaying {} events: {e}", A::TYPE))
}

fn framework<R, A>(repo: R, read: &ReadModel) -> Arc<CqrsFramework<A, ChainedStore<R, A>>>
where
    R: PersistedEventRepository + 'static,
    A: Aggregate<Services = ()> + 'static,
    ReadModel: Query<A>,
{
    let store = ChainedStore::new(PersistedEventStore::new_event_store(repo));
    Arc::new(CqrsFramework::new(store, vec![Box::new(read.clone())], ()))
}

/// Replay both aggregates' streams into the read model, then build their
/// command buses, each over its own repository from `repository`.
async fn assemble<R>(
    repository: impl Fn() -> R,
    read: &ReadModel,
    counter: &Arc<std::sync::atomic::AtomicUsize>,
) -> anyhow::Result<(SharedBus<Sandbox>, SharedBus<Account>)>
where
    R: PersistedEventRepository + 'static,
{
    replay::<_, Sandbox>(repository(), read, counter).await?;
    replay::<_, Account>(repository(), read, counter).await?;
    Ok((
        framework::<_, Sandbox>(repository(), read),
        framework::<_, Account>(repository(), read),
    ))
}

/// Open (creating and migrating as needed) the store and replay it.
pub async fn open(location: &StoreLocation) -> anyhow::Result<EventStores> {
    let read = ReadModel::new();
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let instance_id: String;
    let (sandboxes, accounts): (SharedBus<Sandbox>, SharedBus<Account>) = match location {
        StoreLocation::Sqlite(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating data directory {}", dir.display()))?;
            }
            let options = SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await
                .with_context(|| format!("opening SQLite event store {}", path.display()))?;
            sqlx::migrate!("migrations/sqlite")
                .run(&pool)
                .await
                .context("migrating the SQLite event store")?;
            sqlx::query("INSERT INTO sockt_instance (id) SELECT ? WHERE NOT EXISTS (SELECT 1 FROM sockt_instance)")
                .bind(new_instance_id())
                .execute(&pool)
                .await?;
            instance_id = sqlx::query_scalar("SELECT id FROM sockt_instance")
                .fetch_one(&pool)
                .await?;
            assemble(|| SqliteEventRepository::new(pool.clone()), &read, &counter).await?
        }
        StoreLocation::Postgres(url) => {
            let pool = PgPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await
                .context("connecting to the PostgreSQL event store (check SOCKT_DATABASE_URL)")?;
            sqlx::migrate!("migrations/postgres")
                .run(&pool)
                .await
                .context("migrating the PostgreSQL event store")?;
            sqlx::query("INSERT INTO sockt_instance (id) SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM sockt_instance) ON CONFLICT DO NOTHING")
                .bind(new_instance_id())
                .execute(&pool)
                .await?;
            instance_id = sqlx::query_scalar("SELECT id FROM sockt_instance")
                .fetch_one(&pool)
                .await?;
            assemble(
                || PostgresEventRepository::new(pool.clone()),
                &read,
                &counter,
            )
            .await?
        }
    };
    Ok(EventStores {
        sandboxes,
        accounts,
        read,
        backend: location.backend(),
        replayed: counter.load(std::sync::atomic::Ordering::Relaxed),
        instance_id,
    })
}

fn new_instance_id() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", nanos, std::process::id())
}

/// Finds accounts that another process wrote to the same store.
pub struct StoreDirectory {
    location: StoreLocation,
    pool: DirectoryPool,
    read: ReadModel,
}

enum DirectoryPool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl StoreDirectory {
    pub async fn connect(
        location: &StoreLocation,
        read: ReadModel,
    ) -> anyhow::Result<StoreDirectory> {
        let pool = match location {
            StoreLocation::Sqlite(path) => DirectoryPool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(2)
                    .connect_with(
                        SqliteConnectOptions::new()
                            .filename(path)
                            .busy_timeout(Duration::from_secs(10)),
                    )
                    .await?,
            ),
            StoreLocation::Postgres(url) => {
                DirectoryPool::Postgres(PgPoolOptions::new().max_connections(2).connect(url).await?)
            }
        };
        Ok(StoreDirectory {
            location: location.clone(),
            pool,
            read,
        })
    }
}

#[async_trait::async_trait]
impl commands::AccountDirectory for StoreDirectory {
    async fn load_by_key_hash(&self, key_hash: &str) -> bool {
        if !key_hash.chars().all(|c| c.is_ascii_hexdigit()) {
            return false;
        }
        let found: Result<Option<(String,)>, sqlx::Error> = match &self.pool {
            DirectoryPool::Sqlite(pool) => sqlx::query_as("SELECT aggregate_id FROM events WHERE aggregate_type = 'Account' AND event_type = 'AccountOpened' AND json_extract(payload, '$.AccountOpened.key_hash') = ?")
                .bind(key_hash)
                .fetch_optional(pool)
                .await,
            DirectoryPool::Postgres(pool) => sqlx::query_as("SELECT aggregate_id FROM events WHERE aggregate_type = 'Account' AND event_type = 'AccountOpened' AND payload->'AccountOpened'->>'key_hash' = $1")
                .bind(key_hash)
                .fetch_optional(pool)
                .await,
        };
        let account_id = match found {
            Ok(Some((id,))) => id,
            Ok(None) => return false,
            Err(e) => {
                tracing::error!(error = %e, backend = self.location.backend(), "account lookup failed");
                return false;
            }
        };
        let replayed = match &self.pool {
            DirectoryPool::Sqlite(pool) => {
                QueryReplay::<_, _, Account>::new(
                    SqliteEventRepository::new(pool.clone()),
                    self.read.clone(),
                )
                .replay(&account_id)
                .await
            }
            DirectoryPool::Postgres(pool) => {
                QueryReplay::<_, _, Account>::new(
                    PostgresEventRepository::new(pool.clone()),
                    self.read.clone(),
                )
                .replay(&account_id)
                .await
            }
        };
        replayed.is_ok()
    }
}

/// Every stored event, straight from the store (for the auditor).
pub async fn read_all(
    location: &StoreLocation,
) -> anyhow::Result<Vec<projections::audit::StoredEvent>> {
    type Row = (String, String, i64, String, String, String, String);
    let rows: Vec<Row> = match location {
        StoreLocation::Sqlite(path) => {
            if !path.exists() {
                anyhow::bail!("no event store at {}", path.display());
            }
            let options = SqliteConnectOptions::new().filename(path).read_only(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await?;
            sqlx::query_as("SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata FROM events")
                .fetch_all(&pool)
                .await?
        }
        StoreLocation::Postgres(url) => {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect(url)
                .await
                .context("connecting to PostgreSQL")?;
            sqlx::query_as("SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload::text, metadata::text FROM events")
                .fetch_all(&pool)
                .await?
        }
    };
    rows.into_iter()
        .map(
            |(
                aggregate_type,
                aggregate_id,
                sequence,
                event_type,
                event_version,
                payload,
                metadata,
            )| {
                Ok(projections::audit::StoredEvent {
                    aggregate_type,
                    aggregate_id,
                    sequence: usize::try_from(sequence).unwrap_or(usize::MAX),
                    event_type,
                    event_version,
                    payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
                    metadata: serde_json::from_str(&metadata).unwrap_or(serde_json::Value::Null),
                })
            },
        )
        .collect()
}
