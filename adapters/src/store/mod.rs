//! The event store: SQLite (a file in the data directory, the embedded
//! default) or PostgreSQL, with the project's own migrations, hash-chained
//! commits and aggregate snapshots. Opening it replays every stored event to
//! the subscribers the caller hands in (the read model); what they are is the
//! composition root's business.

mod bus;
mod chained;
mod directory;
mod log;

pub use bus::SNAPSHOT_EVERY;
pub use directory::StoreDirectory;
pub use log::StoreLog;

use anyhow::Context;
use bus::StoreBus;
use cqrs_es::persist::{PersistedEventRepository, QueryReplay};
use cqrs_es::{Aggregate, EventEnvelope, Query};
use domain::account::Account;
use domain::ports::SharedBus;
use domain::sandbox::Sandbox;
use postgres_es::PostgresEventRepository;
use sqlite_es::SqliteEventRepository;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// A connection pool to either backend.
#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Pool {
    pub(crate) fn backend(&self) -> &'static str {
        match self {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }
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

    /// A pool of at most `connections`, creating the SQLite file if needed.
    pub(crate) async fn connect(&self, connections: u32) -> anyhow::Result<Pool> {
        Ok(match self {
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
                Pool::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(connections)
                        .connect_with(options)
                        .await
                        .with_context(|| {
                            format!("opening SQLite event store {}", path.display())
                        })?,
                )
            }
            StoreLocation::Postgres(url) => Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await
                    .context(
                        "connecting to the PostgreSQL event store (check SOCKT_DATABASE_URL)",
                    )?,
            ),
        })
    }

    /// One connection that never writes (the auditor's).
    pub(crate) async fn connect_read_only(&self) -> anyhow::Result<Pool> {
        Ok(match self {
            StoreLocation::Sqlite(path) => Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(SqliteConnectOptions::new().filename(path).read_only(true))
                    .await?,
            ),
            StoreLocation::Postgres(url) => Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(1)
                    .connect(url)
                    .await
                    .context("connecting to PostgreSQL")?,
            ),
        })
    }
}

/// Who hears about events: on open, every stored one (replayed); afterwards,
/// every one committed through this process's buses.
pub struct Subscribers {
    pub sandboxes: Arc<dyn Query<Sandbox>>,
    pub accounts: Arc<dyn Query<Account>>,
}

/// The command buses of both aggregates.
#[derive(Clone)]
pub struct EventStores {
    pub sandboxes: SharedBus<Sandbox>,
    pub accounts: SharedBus<Account>,
    pub backend: &'static str,
    /// Events replayed to the subscribers on open.
    pub replayed: usize,
    /// This store's identity, made on first open.
    pub instance_id: String,
}

/// A shared query handed to cqrs-es, which wants owned ones.
pub(crate) struct SharedQuery<A: Aggregate>(pub(crate) Arc<dyn Query<A>>);

impl<A: Aggregate> Clone for SharedQuery<A> {
    fn clone(&self) -> Self {
        SharedQuery(self.0.clone())
    }
}

#[async_trait::async_trait]
impl<A: Aggregate> Query<A> for SharedQuery<A> {
    async fn dispatch(&self, id: &str, events: &[EventEnvelope<A>]) {
        self.0.dispatch(id, events).await;
    }
}

/// Counts replayed events for the start-up log line.
struct Counting<A: Aggregate>(SharedQuery<A>, Arc<AtomicUsize>);

#[async_trait::async_trait]
impl<A: Aggregate> Query<A> for Counting<A> {
    async fn dispatch(&self, id: &str, events: &[EventEnvelope<A>]) {
        self.1.fetch_add(events.len(), Ordering::Relaxed);
        self.0.dispatch(id, events).await;
    }
}

async fn replay<R, A>(
    repo: R,
    subscriber: &Arc<dyn Query<A>>,
    counter: &Arc<AtomicUsize>,
) -> anyhow::Result<()>
where
    R: PersistedEventRepository,
    A: Aggregate,
{
    QueryReplay::new(
        repo,
        Counting(SharedQuery(subscriber.clone()), counter.clone()),
    )
    .with_upcasters(domain::upcasting::upcasters())
    .replay_all()
    .await
    .map_err(|e| anyhow::anyhow!("replaying {} events: {e}", A::TYPE))
}

/// Replay both aggregates' streams to the subscribers, then build their
/// command buses, each over its own repository from `repository`.
async fn assemble<R>(
    repository: impl Fn() -> R + Copy,
    subscribers: &Subscribers,
    counter: &Arc<AtomicUsize>,
) -> anyhow::Result<(SharedBus<Sandbox>, SharedBus<Account>)>
where
    R: PersistedEventRepository + 'static,
{
    replay::<_, Sandbox>(repository(), &subscribers.sandboxes, counter).await?;
    replay::<_, Account>(repository(), &subscribers.accounts, counter).await?;
    Ok((
        Arc::new(StoreBus::<_, Sandbox>::new(
            repository,
            vec![Box::new(SharedQuery(subscribers.sandboxes.clone()))],
        )),
        Arc::new(StoreBus::<_, Account>::new(
            repository,
            vec![Box::new(SharedQuery(subscribers.accounts.clone()))],
        )),
    ))
}

/// Open (creating and migrating as needed) the store and replay it to `subscribers`.
pub async fn open(
    location: &StoreLocation,
    subscribers: &Subscribers,
) -> anyhow::Result<EventStores> {
    let counter = Arc::new(AtomicUsize::new(0));
    let pool = location.connect(8).await?;
    let instance_id = migrate(&pool).await?;
    let (sandboxes, accounts) = match &pool {
        Pool::Sqlite(pool) => {
            assemble(
                || SqliteEventRepository::new(pool.clone()),
                subscribers,
                &counter,
            )
            .await?
        }
        Pool::Postgres(pool) => {
            assemble(
                || PostgresEventRepository::new(pool.clone()),
                subscribers,
                &counter,
            )
            .await?
        }
    };
    Ok(EventStores {
        sandboxes,
        accounts,
        backend: location.backend(),
        replayed: counter.load(Ordering::Relaxed),
        instance_id,
    })
}

/// Bring the schema up to date; returns the store's identity (made once).
async fn migrate(pool: &Pool) -> anyhow::Result<String> {
    Ok(match pool {
        Pool::Sqlite(pool) => {
            sqlx::migrate!("migrations/sqlite")
                .run(pool)
                .await
                .context("migrating the SQLite event store")?;
            sqlx::query("INSERT INTO sockt_instance (id) SELECT ? WHERE NOT EXISTS (SELECT 1 FROM sockt_instance)")
                .bind(new_instance_id())
                .execute(pool)
                .await?;
            sqlx::query_scalar("SELECT id FROM sockt_instance")
                .fetch_one(pool)
                .await?
        }
        Pool::Postgres(pool) => {
            sqlx::migrate!("migrations/postgres")
                .run(pool)
                .await
                .context("migrating the PostgreSQL event store")?;
            sqlx::query("INSERT INTO sockt_instance (id) SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM sockt_instance) ON CONFLICT DO NOTHING")
                .bind(new_instance_id())
                .execute(pool)
                .await?;
            sqlx::query_scalar("SELECT id FROM sockt_instance")
                .fetch_one(pool)
                .await?
        }
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
