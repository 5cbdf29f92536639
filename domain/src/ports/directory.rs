//! The account directory port: finds accounts that another process opened in
//! the same store (e.g. `sockt accounts create` while a server runs).

use async_trait::async_trait;

#[async_trait]
pub trait AccountDirectory: Send + Sync {
    /// The id of the account whose API key hashes to `key_hash`, if any.
    async fn account_for_key_hash(&self, key_hash: &str) -> Option<String>;
}
