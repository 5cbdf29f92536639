//! Leadership leases, and the liveness of processes. PostgreSQL: a session
//! advisory lock on a connection of
//! its own — held while that connection lives, released by the server the
//! moment the holder's connection drops (a crash or `kill -9` included), and
//! confirmed with a round trip at every renewal. SQLite: the store serves one
//! process, which holds an exclusive lock on a file beside the database for
//! its whole life; a second server on the same file is refused at start.

use super::StoreLocation;
use async_trait::async_trait;
use domain::ports::{LeadershipLease, Runners, SingleProcess};
use sqlx::{Connection, PgConnection};
use std::fs::File;
use std::path::PathBuf;
use tokio::sync::Mutex;

/// The advisory lock key of the leader ("sockt" + 1).
const LEADER_LOCK: i64 = 7_314_160_002;

pub struct PostgresLease {
    url: String,
    /// The connection holding the lock, while this process leads.
    held: Mutex<Option<PgConnection>>,
}

#[async_trait]
impl LeadershipLease for PostgresLease {
    async fn hold(&self) -> bool {
        let mut held = self.held.lock().await;
        if let Some(connection) = held.as_mut() {
            if sqlx::query("SELECT 1")
                .execute(&mut *connection)
                .await
                .is_ok()
            {
                return true;
            }
            tracing::warn!("lost the connection that holds the leader lease; stepping down");
            *held = None;
        }
        let Ok(mut connection) = PgConnection::connect(&self.url).await else {
            return false;
        };
        let locked: Result<bool, _> = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LEADER_LOCK)
            .fetch_one(&mut connection)
            .await;
        if matches!(locked, Ok(true)) {
            *held = Some(connection);
            true
        } else {
            false
        }
    }
}

/// The one serving process of a SQLite store.
pub struct SqliteLease {
    _lock: File,
}

#[async_trait]
impl LeadershipLease for SqliteLease {
    async fn hold(&self) -> bool {
        true
    }
}

/// Advisory-lock class of the process liveness locks (the second key is a
/// hash of the process's name).
const RUNNER_LOCKS: i32 = 7314;

/// Processes on one PostgreSQL store: each holds a session lock named after
/// itself for its whole life; a process whose lock can be taken is dead (a
/// `kill -9` closes its connection and frees the lock).
pub struct PostgresRunners {
    me: String,
    /// Holds this process's lock.
    _mine: Mutex<PgConnection>,
    /// Probes the others' locks.
    probe: Mutex<PgConnection>,
}

impl PostgresRunners {
    pub async fn connect(url: &str) -> anyhow::Result<PostgresRunners> {
        let me = SingleProcess::new().me().to_string();
        let mut mine = PgConnection::connect(url).await?;
        sqlx::query("SELECT pg_advisory_lock($1, hashtext($2))")
            .bind(RUNNER_LOCKS)
            .bind(&me)
            .execute(&mut mine)
            .await?;
        Ok(PostgresRunners {
            me,
            _mine: Mutex::new(mine),
            probe: Mutex::new(PgConnection::connect(url).await?),
        })
    }
}

#[async_trait]
impl Runners for PostgresRunners {
    fn me(&self) -> &str {
        &self.me
    }

    async fn is_alive(&self, runner: &str) -> bool {
        if runner == self.me {
            return true;
        }
        let mut probe = self.probe.lock().await;
        let taken: Result<bool, _> =
            sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
                .bind(RUNNER_LOCKS)
                .bind(runner)
                .fetch_one(&mut *probe)
                .await;
        match taken {
            Ok(true) => {
                let _ = sqlx::query("SELECT pg_advisory_unlock($1, hashtext($2))")
                    .bind(RUNNER_LOCKS)
                    .bind(runner)
                    .execute(&mut *probe)
                    .await;
                false
            }
            Ok(false) => true,
            // Unsure: do not end another process's work.
            Err(_) => true,
        }
    }
}

impl StoreLocation {
    /// The liveness of the processes serving this store.
    pub async fn runners(&self) -> anyhow::Result<std::sync::Arc<dyn Runners>> {
        Ok(match self {
            StoreLocation::Postgres(url) => {
                std::sync::Arc::new(PostgresRunners::connect(url).await?)
            }
            StoreLocation::Sqlite(_) => std::sync::Arc::new(SingleProcess::new()),
        })
    }
}

/// Why a process may not serve this store.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("another `sockt serve` is using the SQLite store {0}; SQLite serves one process at a time (use PostgreSQL, SOCKT_DATABASE_URL, for several)")]
    SqliteInUse(PathBuf),
    #[error("could not lock {0}: {1}")]
    Io(PathBuf, std::io::Error),
}

impl StoreLocation {
    /// The lease of the serving processes of this store. For SQLite it is
    /// taken now, and refused while another process holds it.
    pub fn leader_lease(&self) -> Result<Box<dyn LeadershipLease>, LeaseError> {
        match self {
            StoreLocation::Postgres(url) => Ok(Box::new(PostgresLease {
                url: url.clone(),
                held: Mutex::new(None),
            })),
            StoreLocation::Sqlite(path) => {
                let lock_path = path.with_extension("db.serve-lock");
                let file =
                    File::create(&lock_path).map_err(|e| LeaseError::Io(lock_path.clone(), e))?;
                match file.try_lock() {
                    Ok(()) => Ok(Box::new(SqliteLease { _lock: file })),
                    Err(std::fs::TryLockError::WouldBlock) => {
                        Err(LeaseError::SqliteInUse(path.clone()))
                    }
                    Err(std::fs::TryLockError::Error(e)) => Err(LeaseError::Io(lock_path, e)),
                }
            }
        }
    }
}
