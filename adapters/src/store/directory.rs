//! The account directory over the store: finds an account by the hash of its
//! API key, even one another process opened, and catches the feed up so the
//! read model knows it too.

use super::feed::EventFeed;
use super::Pool;
use async_trait::async_trait;
use domain::ports::AccountDirectory;
use std::sync::Arc;

pub struct StoreDirectory {
    pool: Pool,
    feed: Arc<EventFeed>,
}

impl StoreDirectory {
    pub(crate) fn new(pool: Pool, feed: Arc<EventFeed>) -> Self {
        StoreDirectory { pool, feed }
    }

    /// Whether the store answers a query now (readiness).
    pub async fn answers(&self) -> Result<(), sqlx::Error> {
        match &self.pool {
            Pool::Sqlite(p) => sqlx::query("SELECT 1").execute(p).await.map(drop),
            Pool::Postgres(p) => sqlx::query("SELECT 1").execute(p).await.map(drop),
        }
    }

    async fn find(&self, key_hash: &str) -> Result<Option<String>, sqlx::Error> {
        let row: Option<(String,)> = match &self.pool {
            Pool::Sqlite(pool) => sqlx::query_as("SELECT aggregate_id FROM events WHERE aggregate_type = 'Account' AND event_type = 'AccountOpened' AND json_extract(payload, '$.AccountOpened.key_hash') = ?")
                .bind(key_hash)
                .fetch_optional(pool)
                .await?,
            Pool::Postgres(pool) => sqlx::query_as("SELECT aggregate_id FROM events WHERE aggregate_type = 'Account' AND event_type = 'AccountOpened' AND payload->'AccountOpened'->>'key_hash' = $1")
                .bind(key_hash)
                .fetch_optional(pool)
                .await?,
        };
        Ok(row.map(|(id,)| id))
    }
}

#[async_trait]
impl AccountDirectory for StoreDirectory {
    async fn account_for_key_hash(&self, key_hash: &str) -> Option<String> {
        if !key_hash.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        match self.find(key_hash).await {
            Ok(Some(account_id)) => {
                if let Err(e) = self.feed.catch_up().await {
                    tracing::warn!(error = %e, "could not catch up with the store");
                }
                Some(account_id)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, backend = self.pool.backend(), "account lookup failed");
                None
            }
        }
    }
}
