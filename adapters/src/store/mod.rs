//! The event store: SQLite (a file in the data directory, the embedded
//! default) or PostgreSQL, with the project's own migrations, hash-chained
//! commits, aggregate snapshots and a global order that a catch-up feed
//! follows to keep the subscribers the caller hands in (the read model)
//! current; what they are is the composition root's business.

pub mod backup;
mod bus;
mod chained;
mod checkpoints;
mod directory;
mod feed;
mod group_commit;
mod lease;
mod log;
mod queues;
mod states;

pub use bus::SNAPSHOT_EVERY;
pub use checkpoints::{Checkpoint, Checkpoints};
pub use directory::StoreDirectory;
pub use feed::EventFeed;
pub use group_commit::CommitStats;
pub use lease::LeaseError;
pub use log::StoreLog;

use anyhow::Context;
use bus::{StoreBus, Writers};
use cqrs_es::Query;
use domain::account::Account;
use domain::ports::SharedBus;
use domain::sandbox::Sandbox;
use group_commit::{GroupCommitRepository, GroupCommitter};
use postgres_es::PostgresEventRepository;
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

/// Who hears about events: every stored one, in the store's global order,
/// whichever process committed it.
#[derive(Clone)]
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
    /// Events delivered to the subscribers on open.
    pub replayed: usize,
    /// How long delivering them took.
    pub replay_time: std::time::Duration,
    /// This store's identity, made on first open.
    pub instance_id: String,
    /// The secret LNURL-withdraw links derive from, made on first open.
    pub link_secret: String,
    /// Accounts by API key hash, whichever process opened them.
    pub directory: Arc<StoreDirectory>,
    /// Keeps the subscribers following the store (run it for other processes' commits).
    pub feed: Arc<EventFeed>,
    /// Commits and the transactions they took (SQLite's group commit; none on PostgreSQL).
    pub commit_stats: Option<Arc<CommitStats>>,
}

/// Open (creating and migrating as needed) the store and deliver every
/// stored event after global position `from` (0: all of them) to
/// `subscribers`, which from then on hear of every commit.
pub async fn open(
    location: &StoreLocation,
    subscribers: Subscribers,
    from: i64,
) -> anyhow::Result<EventStores> {
    let pool = location.connect(8).await?;
    let identity = migrate(&pool).await?;
    let feed = Arc::new(EventFeed::new(pool.clone(), subscribers, from));
    let replay_started = std::time::Instant::now();
    let replayed = feed.catch_up().await?;
    let replay_time = replay_started.elapsed();
    let (sandboxes, accounts, commit_stats): (SharedBus<Sandbox>, SharedBus<Account>, _) =
        match &pool {
            Pool::Sqlite(p) => {
                // Both aggregates' commits go through one writer, together.
                let writer = GroupCommitter::start(p.clone());
                let stats = writer.stats.clone();
                let repo = || GroupCommitRepository::new(p.clone(), writer.clone());
                (
                    // This server is the only writer of sandboxes (the
                    // store's lease); accounts are also written by `sockt
                    // accounts` beside it.
                    Arc::new(StoreBus::new(repo, feed.clone(), Writers::OnlyThisProcess)),
                    Arc::new(StoreBus::new(repo, feed.clone(), Writers::Several)),
                    Some(stats),
                )
            }
            Pool::Postgres(p) => {
                let repo = || PostgresEventRepository::new(p.clone());
                (
                    Arc::new(StoreBus::new(repo, feed.clone(), Writers::Several)),
                    Arc::new(StoreBus::new(repo, feed.clone(), Writers::Several)),
                    None,
                )
            }
        };
    Ok(EventStores {
        sandboxes,
        accounts,
        backend: location.backend(),
        replayed,
        replay_time,
        instance_id: identity.id,
        link_secret: identity.link_secret,
        directory: Arc::new(StoreDirectory::new(pool, feed.clone())),
        feed,
        commit_stats,
    })
}

/// Create or bring the store's schema up to date (also done by `open`).
pub async fn prepare(location: &StoreLocation) -> anyhow::Result<()> {
    migrate(&location.connect(1).await?).await.map(drop)
}

/// What a store is: its identity and its link secret (both made once).
struct Identity {
    id: String,
    link_secret: String,
}

/// Bring the schema up to date; returns the store's identity.
async fn migrate(pool: &Pool) -> anyhow::Result<Identity> {
    match pool {
        Pool::Sqlite(pool) => sqlx::migrate!("migrations/sqlite")
            .run(pool)
            .await
            .context("migrating the SQLite event store")?,
        Pool::Postgres(pool) => sqlx::migrate!("migrations/postgres")
            .run(pool)
            .await
            .context("migrating the PostgreSQL event store")?,
    }
    // Written once: a store already made is only read, so opening one a
    // live server writes waits for none of its commits.
    if let Some(identity) = made_identity(pool).await? {
        return Ok(identity);
    }
    let secret = hex::encode(rand::random::<[u8; 32]>());
    match pool {
        Pool::Sqlite(pool) => {
            sqlx::query("INSERT INTO sockt_instance (id) SELECT ? WHERE NOT EXISTS (SELECT 1 FROM sockt_instance)")
                .bind(new_instance_id())
                .execute(pool)
                .await?;
            sqlx::query("UPDATE sockt_instance SET link_secret = ? WHERE link_secret IS NULL")
                .bind(&secret)
                .execute(pool)
                .await?;
        }
        Pool::Postgres(pool) => {
            sqlx::query("INSERT INTO sockt_instance (id) SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM sockt_instance) ON CONFLICT DO NOTHING")
                .bind(new_instance_id())
                .execute(pool)
                .await?;
            sqlx::query("UPDATE sockt_instance SET link_secret = $1 WHERE link_secret IS NULL")
                .bind(&secret)
                .execute(pool)
                .await?;
        }
    }
    made_identity(pool)
        .await?
        .context("the store's identity was not recorded")
}

/// The store's identity, once made.
async fn made_identity(pool: &Pool) -> anyhow::Result<Option<Identity>> {
    const MADE: &str = "SELECT id, link_secret FROM sockt_instance WHERE link_secret IS NOT NULL";
    let made: Option<(String, String)> = match pool {
        Pool::Sqlite(pool) => sqlx::query_as(MADE).fetch_optional(pool).await?,
        Pool::Postgres(pool) => sqlx::query_as(MADE).fetch_optional(pool).await?,
    };
    Ok(made.map(|(id, link_secret)| Identity { id, link_secret }))
}

fn new_instance_id() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", nanos, std::process::id())
}
