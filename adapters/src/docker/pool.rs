//! The warm pool: per tier, containers made and started ahead of demand,
//! so a create takes one (a rename, no engine start) instead of making one.
//! Pooled containers belong to no sandbox — nothing bills them and no view
//! shows them — and are named `sockt-pool-…` until claimed, when they take
//! the sandbox's name `sockt-<sandbox id>` (which is how a restart tells
//! them apart). Refilled in the background within a memory budget counted
//! in the tiers' memory limits; a size of 0 disables a tier's pool.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

/// The name prefix of containers waiting in the pool.
pub const POOL_PREFIX: &str = "sockt-pool-";
/// The label marking a container as made for the pool (its tier).
pub const LABEL_POOL: &str = "sockt.pool";
/// The label naming the pool that made a waiting container: a process
/// takes in only its own pool's containers at start, and removes those of
/// owners no longer alive (`pool_owners`).
pub const LABEL_POOL_OWNER: &str = "sockt.pool_owner";

/// How large the pool is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolConfig {
    /// Containers kept ready, per tier id.
    pub sizes: BTreeMap<String, usize>,
    /// The most memory (sum of the pooled containers' tier limits, MiB) the
    /// pool may hold.
    pub memory_budget_mib: u64,
    /// The image pooled containers run (creates asking for another are made cold).
    pub image: String,
    /// Whose pool this is: the same across restarts of a single-process
    /// store (so a restart after a crash takes its containers in); where
    /// several processes share a store, the process's runner name, so the
    /// others can tell when it died.
    pub owner: String,
}

impl PoolConfig {
    /// Parse `tier=n,tier=n` (or `0`/empty: no pool).
    pub fn parse_sizes(text: &str) -> Result<BTreeMap<String, usize>, String> {
        let text = text.trim();
        if text.is_empty() || text == "0" || text == "off" {
            return Ok(BTreeMap::new());
        }
        text.split(',')
            .map(|pair| {
                let (tier, size) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("'{pair}': expected tier=size"))?;
                let tier: domain::TierName = tier
                    .trim()
                    .parse()
                    .map_err(|e: domain::tier::UnknownTier| e.to_string())?;
                let size = size
                    .trim()
                    .parse()
                    .map_err(|_| format!("'{pair}': the size must be a whole number"))?;
                Ok((tier.as_str().to_string(), size))
            })
            .filter(|entry| !matches!(entry, Ok((_, 0))))
            .collect()
    }
}

/// The pool's containers, ready and being made.
pub(super) struct Pool {
    config: PoolConfig,
    state: Mutex<PoolState>,
    pub(super) wake: std::sync::Arc<tokio::sync::Notify>,
}

#[derive(Default)]
struct PoolState {
    ready: HashMap<String, VecDeque<String>>,
    filling: HashMap<String, usize>,
}

fn memory_of(tier: &str) -> u64 {
    tier.parse::<domain::TierName>()
        .map(|name| domain::Tier::of(name).memory_mib)
        .unwrap_or(u64::MAX)
}

impl Pool {
    pub(super) fn new(config: PoolConfig) -> Pool {
        Pool {
            config,
            state: Mutex::default(),
            wake: std::sync::Arc::new(tokio::sync::Notify::new()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn image(&self) -> &str {
        &self.config.image
    }

    pub(super) fn owner(&self) -> &str {
        &self.config.owner
    }

    pub(super) fn serves(&self, tier: &str) -> bool {
        self.config.sizes.contains_key(tier)
    }

    /// A ready container of the tier, taken out of the pool.
    pub(super) fn take(&self, tier: &str) -> Option<String> {
        let taken = self.state().ready.get_mut(tier)?.pop_front();
        if taken.is_some() {
            self.wake.notify_one();
        }
        taken
    }

    /// Whether the pool wants (another) container of `tier`; if so it is
    /// counted as being made until `made` says how that went.
    pub(super) fn reserve(&self, tier: &str) -> bool {
        let mut state = self.state();
        let size = self.config.sizes.get(tier).copied().unwrap_or(0);
        let held = |state: &PoolState, t: &str| {
            state.ready.get(t).map_or(0, VecDeque::len) + state.filling.get(t).copied().unwrap_or(0)
        };
        if held(&state, tier) >= size {
            return false;
        }
        let committed: u64 = self
            .config
            .sizes
            .keys()
            .map(|t| held(&state, t) as u64 * memory_of(t))
            .sum();
        if committed.saturating_add(memory_of(tier)) > self.config.memory_budget_mib {
            return false;
        }
        *state.filling.entry(tier.to_string()).or_default() += 1;
        true
    }

    /// A container reserved with `reserve` is ready (or could not be made).
    pub(super) fn made(&self, tier: &str, container: Option<String>) {
        let mut state = self.state();
        if let Some(filling) = state.filling.get_mut(tier) {
            *filling = filling.saturating_sub(1);
        }
        if let Some(container) = container {
            state
                .ready
                .entry(tier.to_string())
                .or_default()
                .push_back(container);
        }
    }

    /// Take in a container found waiting at start, if the tier wants it.
    pub(super) fn adopt(&self, tier: &str, container: String) -> bool {
        if !self.reserve(tier) {
            return false;
        }
        self.made(tier, Some(container));
        true
    }

    /// Forget the ready containers (they were removed).
    pub(super) fn forget_ready(&self) {
        self.state().ready.clear();
    }

    /// The tiers, in a stable order.
    pub(super) fn tiers(&self) -> Vec<String> {
        self.config.sizes.keys().cloned().collect()
    }

    /// How many containers are ready per tier.
    pub fn ready(&self) -> BTreeMap<String, usize> {
        self.state()
            .ready
            .iter()
            .map(|(tier, ready)| (tier.clone(), ready.len()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(sizes: &str, budget: u64) -> Pool {
        Pool::new(PoolConfig {
            sizes: PoolConfig::parse_sizes(sizes).unwrap_or_default(),
            memory_budget_mib: budget,
            image: "img".into(),
            owner: "me".into(),
        })
    }

    #[test]
    fn sizes_parse_and_zero_disables() {
        let sizes = PoolConfig::parse_sizes("small=3, nano=0,micro=1").unwrap_or_default();
        assert_eq!(sizes.get("small"), Some(&3));
        assert_eq!(sizes.get("nano"), None, "0 leaves the tier out");
        assert!(PoolConfig::parse_sizes("0").unwrap_or_default().is_empty());
        assert!(PoolConfig::parse_sizes("").unwrap_or_default().is_empty());
        assert!(PoolConfig::parse_sizes("huge=1").is_err());
        assert!(PoolConfig::parse_sizes("small").is_err());
        assert!(PoolConfig::parse_sizes("small=x").is_err());
    }

    #[test]
    fn the_pool_fills_to_its_size_and_hands_out_in_order() {
        let pool = pool("nano=2", 10_000);
        assert!(pool.reserve("nano"));
        assert!(pool.reserve("nano"));
        assert!(!pool.reserve("nano"), "two are being made already");
        pool.made("nano", Some("a".into()));
        pool.made("nano", Some("b".into()));
        assert_eq!(pool.take("nano").as_deref(), Some("a"));
        assert!(pool.reserve("nano"), "taking one makes room");
        pool.made("nano", None);
        assert_eq!(pool.take("nano").as_deref(), Some("b"));
        assert_eq!(pool.take("nano"), None);
        assert_eq!(pool.take("small"), None, "no pool for that tier");
    }

    #[test]
    fn the_memory_budget_caps_the_pool() {
        // nano has 256 MiB: a 600 MiB budget holds two.
        let pool = pool("nano=5", 600);
        assert!(pool.reserve("nano"));
        assert!(pool.reserve("nano"));
        assert!(!pool.reserve("nano"));
        assert!(!pool.adopt("nano", "c".into()));
    }
}
