//! Whose waiting pool containers are whose, and what happens to them when
//! their owner goes: a clean stop removes the process's own; a process that
//! died without stopping (`kill -9`, a lost host) leaves them for the next
//! start of its store (SQLite: the same owner takes them in) or for any
//! live process of the store (PostgreSQL replicas), which removes those of
//! owners no longer alive. A live process's containers are never touched.

use super::{pool, DockerRuntime};
use domain::ports::{Runners, RuntimeError};

/// How often a serving process looks for waiting containers of owners
/// that died.
pub(super) const DEAD_OWNERS_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// A waiting pool container found on the engine.
pub(super) struct Waiting {
    pub(super) id: String,
    pub(super) owner: Option<String>,
}

/// What becomes of a waiting container another process may own.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Fate {
    /// This process's own: its caller decides.
    Mine,
    /// A live process's: left alone.
    Theirs,
    /// Nobody's any more (its owner died, or it names none): removed.
    Orphaned,
}

/// Decide a waiting container's fate from its owner label.
pub(super) async fn fate(owner: Option<&str>, me: &str, runners: &dyn Runners) -> Fate {
    match owner {
        Some(owner) if owner == me => Fate::Mine,
        Some(owner) if runners.is_alive(owner).await => Fate::Theirs,
        _ => Fate::Orphaned,
    }
}

impl DockerRuntime {
    /// The store's containers waiting in a pool (this process's or not).
    pub(super) async fn waiting_containers(&self) -> Result<Vec<Waiting>, RuntimeError> {
        let found = self.list_ours(pool::LABEL_POOL.to_string()).await?;
        Ok(found
            .into_iter()
            .filter(|c| {
                c.names
                    .iter()
                    .flatten()
                    .any(|n| n.trim_start_matches('/').starts_with(pool::POOL_PREFIX))
            })
            .filter_map(|c| {
                let owner = c
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(pool::LABEL_POOL_OWNER))
                    .cloned();
                Some(Waiting { id: c.id?, owner })
            })
            .collect())
    }

    /// Remove the waiting containers whose owner died; returns how many.
    pub(super) async fn remove_orphaned_pool(
        &self,
        runners: &dyn Runners,
    ) -> Result<usize, RuntimeError> {
        let mut removed = 0;
        for waiting in self.waiting_containers().await? {
            if fate(waiting.owner.as_deref(), self.pool.owner(), runners).await == Fate::Orphaned {
                self.remove(&waiting.id).await?;
                removed += 1;
            }
        }
        if removed > 0 {
            tracing::info!(
                removed,
                "removed waiting pool containers of servers that are gone"
            );
        }
        Ok(removed)
    }

    /// On a clean stop: remove every container this process's pool holds
    /// or left on the engine (sandboxes stay; a pool is cheap to refill).
    /// Call it once the refill has stopped.
    pub async fn empty_pool(&self) -> Result<usize, RuntimeError> {
        let mut removed = 0;
        for waiting in self.waiting_containers().await? {
            if waiting.owner.as_deref() == Some(self.pool.owner()) {
                self.remove(&waiting.id).await?;
                removed += 1;
            }
        }
        self.pool.forget_ready();
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Alive(&'static [&'static str]);

    #[async_trait::async_trait]
    impl Runners for Alive {
        fn me(&self) -> &str {
            "me"
        }
        async fn is_alive(&self, runner: &str) -> bool {
            self.0.contains(&runner)
        }
    }

    #[tokio::test]
    async fn only_containers_of_owners_that_died_are_orphaned() {
        let runners = Alive(&["other"]);
        assert_eq!(fate(Some("me"), "me", &runners).await, Fate::Mine);
        assert_eq!(fate(Some("other"), "me", &runners).await, Fate::Theirs);
        assert_eq!(fate(Some("gone"), "me", &runners).await, Fate::Orphaned);
        assert_eq!(fate(None, "me", &runners).await, Fate::Orphaned);
    }
}
