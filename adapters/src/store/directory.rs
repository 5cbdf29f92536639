//! The account directory over the store: finds an account by the hash of its
//! API key, even one another process opened, and replays its stream to a
//! subscriber (the read model) so reads see it too.

use super::{Pool, StoreLocation};
use async_trait::async_trait;
use cqrs_es::persist::QueryReplay;
use domain::account::Account;
use domain::ports::AccountDirectory;
use postgres_es::PostgresEventRepository;
use sqlite_es::SqliteEventRepository;
use std::sync::Arc;

pub struct StoreDirectory {
    pool: Pool,
    subscriber: super::SharedQuery<Account>,
}

impl StoreDirectory {
    pub(crate) fn new(pool: Pool, subscriber: Arc<dyn cqrs_es::Query<Account>>) -> Self {
        StoreDirectory {
            pool,
            subscriber: super::SharedQuery(subscriber),
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

    async fn replay(&self, account_id: &str) -> bool {
        let replayed = match &self.pool {
            Pool::Sqlite(pool) => {
                QueryReplay::<_, _, Account>::new(
                    SqliteEventRepository::new(pool.clone()),
                    self.subscriber.clone(),
                )
                .with_upcasters(domain::upcasting::upcasters())
                .replay(account_id)
                .await
            }
            Pool::Postgres(pool) => {
                QueryReplay::<_, _, Account>::new(
                    PostgresEventRepository::new(pool.clone()),
                    self.subscriber.clone(),
                )
                .with_upcasters(domain::upcasting::upcasters())
                .replay(account_id)
                .await
            }
        };
        replayed.is_ok()
    }
}

#[async_trait]
impl AccountDirectory for StoreDirectory {
    async fn account_for_key_hash(&self, key_hash: &str) -> Option<String> {
        if !key_hash.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        match self.find(key_hash).await {
            Ok(Some(account_id)) => self.replay(&account_id).await.then_some(account_id),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, backend = self.pool.backend(), "account lookup failed");
                None
            }
        }
    }
}

impl StoreLocation {
    /// The directory of accounts in this store.
    pub async fn directory(
        &self,
        subscriber: Arc<dyn cqrs_es::Query<Account>>,
    ) -> anyhow::Result<StoreDirectory> {
        Ok(StoreDirectory::new(self.connect(2).await?, subscriber))
    }
}
