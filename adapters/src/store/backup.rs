//! Backups of a live store, and their restore. For SQLite, `VACUUM INTO`
//! writes a consistent copy of the whole store in one read transaction
//! while the serving process goes on committing (WAL); the copy is then
//! checked page by page. A restore checks that a backup is a whole Sockt
//! store and copies it, the same way, into a data directory that holds no
//! store yet. PostgreSQL stores are backed up and restored with
//! `pg_dump`/`pg_restore` (README): both refuse one, saying so.

use super::StoreLocation;
use anyhow::{bail, Context};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, SqliteConnection};
use std::path::Path;

/// What a backup or a restore copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// Events in the copy.
    pub events: i64,
    /// The copy's size on disk.
    pub bytes: u64,
    /// The store's identity (a restored store keeps it: its server takes
    /// in the same containers).
    pub instance: String,
}

const POSTGRES_REFUSED: &str = "sockt backup and sockt restore copy the embedded SQLite store; for PostgreSQL use pg_dump --format=custom and pg_restore (README, Backups)";

/// Copy the live store at `location` into the new file `destination`.
pub async fn backup(location: &StoreLocation, destination: &Path) -> anyhow::Result<Copied> {
    let StoreLocation::Sqlite(store) = location else {
        bail!(POSTGRES_REFUSED);
    };
    if !store.is_file() {
        bail!("there is no store at {}", store.display());
    }
    refuse_existing(destination)?;
    let mut source = read_only(store).await?;
    copy_into(&mut source, destination).await?;
    check(destination)
        .await
        .with_context(|| format!("checking the backup {}", destination.display()))
}

/// Copy the backup `source` into `location`, which must hold no store.
pub async fn restore(source: &Path, location: &StoreLocation) -> anyhow::Result<Copied> {
    let StoreLocation::Sqlite(store) = location else {
        bail!(POSTGRES_REFUSED);
    };
    check(source)
        .await
        .with_context(|| format!("{} is not a whole Sockt store", source.display()))?;
    if let Some(dir) = store.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating data directory {}", dir.display()))?;
    }
    refuse_existing(store)?;
    let mut backup = read_only(source).await?;
    copy_into(&mut backup, store).await?;
    check(store).await
}

fn refuse_existing(path: &Path) -> anyhow::Result<()> {
    if path.exists() {
        bail!(
            "{} exists already: a backup or a restore never overwrites a store",
            path.display()
        );
    }
    Ok(())
}

async fn read_only(path: &Path) -> anyhow::Result<SqliteConnection> {
    SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .busy_timeout(std::time::Duration::from_secs(10))
        .connect()
        .await
        .with_context(|| format!("opening {}", path.display()))
}

/// `VACUUM INTO` a file that does not exist yet; a copy that failed midway
/// is removed.
async fn copy_into(source: &mut SqliteConnection, destination: &Path) -> anyhow::Result<()> {
    let target = destination
        .to_str()
        .context("the destination's path is not UTF-8")?;
    let copied = sqlx::query("VACUUM INTO ?")
        .bind(target)
        .execute(source)
        .await;
    if let Err(e) = copied {
        let _ = std::fs::remove_file(destination);
        return Err(e).with_context(|| format!("copying the store into {}", destination.display()));
    }
    Ok(())
}

/// A whole Sockt store: every page sound, the schema of one, an identity.
async fn check(path: &Path) -> anyhow::Result<Copied> {
    let mut store = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut store)
        .await?;
    if integrity != "ok" {
        bail!("SQLite's integrity check failed: {integrity}");
    }
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&mut store)
        .await
        .context("it has no event table")?;
    let instance: String = sqlx::query_scalar("SELECT id FROM sockt_instance")
        .fetch_one(&mut store)
        .await
        .context("it has no identity")?;
    Ok(Copied {
        events,
        bytes: std::fs::metadata(path)?.len(),
        instance,
    })
}
