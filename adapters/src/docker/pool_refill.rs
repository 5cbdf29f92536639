//! The warm pool kept filled: containers a previous run left taken in,
//! new ones made in the quiet between commands, and one claimed for a
//! sandbox whose spec it fits.

use super::containers::Purpose;
use super::errors::{self, map_err, PathContext};
use super::pool_owners::{self, Fate};
use super::{agent, pool, DockerRuntime};
use bollard::models::ContainerSummaryStateEnum;
use domain::network::NetworkPolicy;
use domain::ports::{Runners, RuntimeError, SandboxRuntime, SandboxSpec};
use std::sync::Arc;

/// Pool containers made at the same time (in the quiet; one at a time
/// while sandboxes are busy).
pub(super) const POOL_FILL_PARALLEL: usize = 4;
/// The refill makes a container once sandboxes have been left alone this
/// long, or after waiting at most `REFILL_YIELD_AT_MOST` for that.
pub(super) const REFILL_QUIET: std::time::Duration = std::time::Duration::from_millis(200);
pub(super) const REFILL_YIELD_AT_MOST: std::time::Duration = std::time::Duration::from_secs(2);

/// Refill the pool whenever it has room, a few containers at a time, until
/// the runtime is dropped.
pub(super) async fn keep_pool_filled(runtime: std::sync::Weak<DockerRuntime>) {
    loop {
        let Some(strong) = runtime.upgrade() else {
            return;
        };
        let mut making = tokio::task::JoinSet::new();
        // After a failure, finish what is under way and wait before retrying.
        let mut failed = false;
        loop {
            for tier in strong.pool.tiers() {
                while !failed && making.len() < POOL_FILL_PARALLEL && strong.pool.reserve(&tier) {
                    // A burst of commands goes first; under a steady load
                    // the pool still refills, one container at a time.
                    let calm = strong
                        .activity
                        .quiet(REFILL_QUIET, REFILL_YIELD_AT_MOST)
                        .await;
                    while let Some(done) = making.try_join_next() {
                        failed |= !matches!(done, Ok(true));
                    }
                    if failed || (!calm && !making.is_empty()) {
                        strong.pool.made(&tier, None);
                        break;
                    }
                    let maker = strong.clone();
                    let tier = tier.clone();
                    making.spawn(async move {
                        let made = maker.make_pooled(&tier).await;
                        if let Err(e) = &made {
                            tracing::warn!(tier, error = %e, "could not make a pooled container");
                        }
                        let ok = made.is_ok();
                        maker.pool.made(&tier, made.ok());
                        ok
                    });
                }
            }
            match making.join_next().await {
                None => break,
                Some(done) => failed |= !matches!(done, Ok(true)),
            }
        }
        let wake = strong.pool.wake.clone();
        drop(strong);
        // Also look again now and then: a failed make is retried.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), wake.notified()).await;
    }
}

/// Now and then, remove waiting containers of this store's processes that
/// died (replicas of a shared store outlive each other), until the
/// runtime is dropped.
async fn keep_removing_orphans(runtime: std::sync::Weak<DockerRuntime>, runners: Arc<dyn Runners>) {
    loop {
        tokio::time::sleep(pool_owners::DEAD_OWNERS_EVERY).await;
        let Some(strong) = runtime.upgrade() else {
            return;
        };
        if let Err(e) = strong.remove_orphaned_pool(runners.as_ref()).await {
            tracing::warn!(error = %e, "could not look for pool containers of servers that are gone");
        }
    }
}

impl DockerRuntime {
    /// Take in the pooled containers a previous run of this pool left
    /// (removing those the pool no longer wants, and those of owners that
    /// died), then keep the pool filled in the background until `shutdown`
    /// (or the runtime is dropped), looking for dead owners' containers now
    /// and then.
    pub async fn start_pool(
        self: &Arc<Self>,
        shutdown: tokio_util::sync::CancellationToken,
        runners: Arc<dyn Runners>,
    ) -> Result<(), RuntimeError> {
        let found = self.list_ours(pool::LABEL_POOL.to_string()).await?;
        for container in found {
            let waiting = container
                .names
                .iter()
                .flatten()
                .any(|n| n.trim_start_matches('/').starts_with(pool::POOL_PREFIX));
            let Some(id) = container.id.clone() else {
                continue;
            };
            if !waiting {
                continue;
            }
            let label = |name: &str| container.labels.as_ref().and_then(|l| l.get(name));
            let owner = label(pool::LABEL_POOL_OWNER).map(String::as_str);
            match pool_owners::fate(owner, self.pool.owner(), runners.as_ref()).await {
                Fate::Theirs => continue,
                Fate::Orphaned => {
                    self.destroy(&id).await?;
                    continue;
                }
                Fate::Mine => {}
            }
            let tier = label(pool::LABEL_POOL).cloned().unwrap_or_default();
            let build = label(agent::LABEL_AGENT_BUILD);
            let usable = container.state == Some(ContainerSummaryStateEnum::RUNNING)
                && container.image.as_deref() == Some(self.pool.image())
                && build.map(String::as_str) == self.agents.as_ref().map(|a| a.build());
            if !(usable && self.pool.adopt(&tier, id.clone())) {
                self.destroy(&id).await?;
            }
        }
        let weak = Arc::downgrade(self);
        let sweeper = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = keep_pool_filled(weak) => {}
                _ = keep_removing_orphans(sweeper, runners) => {}
            }
        });
        Ok(())
    }

    /// A container for the pool, of the tier's runtime, open network and
    /// no environment of its own.
    pub(super) async fn make_pooled(&self, tier: &str) -> Result<String, RuntimeError> {
        let tier = domain::Tier::of(
            tier.parse()
                .map_err(|e: domain::tier::UnknownTier| RuntimeError::Failed(e.to_string()))?,
        );
        let spec = SandboxSpec {
            sandbox_id: String::new(),
            image: self.pool.image().to_string(),
            runtime: self.runtime_for(&tier),
            tier,
            network: NetworkPolicy::default(),
            env: domain::env::EnvVars::default(),
        };
        self.create_container(&spec, Purpose::Pool).await
    }

    /// Give the sandbox a container from the pool, if one waits that fits
    /// the spec exactly: it takes the sandbox's name (which makes the claim
    /// atomic: a second claim for the same sandbox finds the name taken and
    /// adopts the first).
    pub(super) async fn claim_pooled(
        &self,
        spec: &SandboxSpec,
    ) -> Option<Result<String, RuntimeError>> {
        let tier = spec.tier.name.as_str();
        let fits = self.pool.serves(tier)
            && spec.env.is_empty()
            && spec.network.is_open()
            && spec.image == self.pool.image()
            && spec.runtime == self.runtime_for(&spec.tier);
        if !fits {
            return None;
        }
        let name = format!("sockt-{}", spec.sandbox_id);
        while let Some(container) = self.pool.take(tier) {
            if !self.still_waiting(&container).await {
                let _ = self.destroy(&container).await;
                continue;
            }
            let rename = bollard::query_parameters::RenameContainerOptionsBuilder::new()
                .name(&name)
                .build();
            return Some(
                match self.docker.rename_container(&container, rename).await {
                    Ok(()) => Ok(container),
                    Err(e)
                        if e.to_string().contains("already in use")
                            || errors::is_name_conflict(&e) =>
                    {
                        let _ = self.destroy(&container).await;
                        self.adopt(&name).await
                    }
                    Err(e) => {
                        let _ = self.destroy(&container).await;
                        Err(map_err(e, PathContext::None))
                    }
                },
            );
        }
        None
    }

    /// Whether a pooled container still runs, unclaimed.
    pub(super) async fn still_waiting(&self, container: &str) -> bool {
        let Ok(info) = self.docker.inspect_container(container, None).await else {
            return false;
        };
        let unclaimed = info
            .name
            .as_deref()
            .is_some_and(|n| n.trim_start_matches('/').starts_with(pool::POOL_PREFIX));
        unclaimed
            && info
                .state
                .is_some_and(|state| state.running == Some(true) && state.paused != Some(true))
    }
}
