//! Read-model checkpoints in the store: the serialized state of a read model
//! and the global position it is at. Any process may write one (the newest
//! position wins); a starting process loads it and catches up from there.

use super::{Pool, StoreLocation};

/// A read model's state at a global position.
pub struct Checkpoint {
    pub position: i64,
    pub payload: String,
}

pub struct Checkpoints {
    pool: Pool,
}

impl StoreLocation {
    pub async fn checkpoints(&self) -> anyhow::Result<Checkpoints> {
        Ok(Checkpoints {
            pool: self.connect(2).await?,
        })
    }
}

impl Checkpoints {
    /// The checkpoint called `name`, if one was written.
    pub async fn load(&self, name: &str) -> anyhow::Result<Option<Checkpoint>> {
        let row: Option<(i64, String)> = match &self.pool {
            Pool::Sqlite(pool) => {
                sqlx::query_as(
                    "SELECT position, payload FROM projection_checkpoints WHERE name = ?",
                )
                .bind(name)
                .fetch_optional(pool)
                .await?
            }
            Pool::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT position, payload FROM projection_checkpoints WHERE name = $1",
                )
                .bind(name)
                .fetch_optional(pool)
                .await?
            }
        };
        Ok(row.map(|(position, payload)| Checkpoint { position, payload }))
    }

    /// Store a checkpoint unless one at a later position is there already.
    pub async fn save(
        &self,
        name: &str,
        checkpoint: &Checkpoint,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        match &self.pool {
            Pool::Sqlite(pool) => {
                sqlx::query("INSERT INTO projection_checkpoints (name, position, payload, written_ms) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position, payload = excluded.payload, written_ms = excluded.written_ms WHERE excluded.position > projection_checkpoints.position")
                    .bind(name)
                    .bind(checkpoint.position)
                    .bind(&checkpoint.payload)
                    .bind(now_ms)
                    .execute(pool)
                    .await?;
            }
            Pool::Postgres(pool) => {
                sqlx::query("INSERT INTO projection_checkpoints (name, position, payload, written_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET position = excluded.position, payload = excluded.payload, written_ms = excluded.written_ms WHERE excluded.position > projection_checkpoints.position")
                    .bind(name)
                    .bind(checkpoint.position)
                    .bind(&checkpoint.payload)
                    .bind(now_ms)
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }
}
