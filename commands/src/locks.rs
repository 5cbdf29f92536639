//! One async lock per aggregate id, so a check, its side effect and the
//! command recording it happen without another command in between; and the
//! set of ids a long-running step is under way for, so it is not started
//! twice; and what each client address made, for per-client caps.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

#[derive(Default)]
pub(crate) struct KeyedLocks {
    locks: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
}

impl KeyedLocks {
    pub(crate) async fn lock(&self, key: &str) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            // Drop locks nobody holds or waits for, so the map stays small.
            if locks.len() > 1024 {
                locks.retain(|_, l| Arc::strong_count(l) > 1);
            }
            locks.entry(key.to_string()).or_default().clone()
        };
        lock.lock_owned().await
    }
}

/// Ids a step is under way for in this process.
#[derive(Default)]
pub(crate) struct InFlight {
    ids: Arc<Mutex<HashSet<String>>>,
}

/// Marks an id in flight until dropped.
pub(crate) struct InFlightGuard {
    ids: Arc<Mutex<HashSet<String>>>,
    id: String,
}

impl InFlight {
    /// None when the step is already under way for `id`.
    pub(crate) fn begin(&self, id: &str) -> Option<InFlightGuard> {
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        ids.insert(id.to_string()).then(|| InFlightGuard {
            ids: self.ids.clone(),
            id: id.to_string(),
        })
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(id)
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

/// Ids of things each client address made, for per-client caps (in this
/// process; entries that no longer count are dropped as they are counted).
#[derive(Default)]
pub(crate) struct ByClient {
    ids: Mutex<HashMap<String, Vec<String>>>,
}

impl ByClient {
    pub(crate) fn record(&self, client: &str, id: &str) {
        self.ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(client.to_string())
            .or_default()
            .push(id.to_string());
    }

    /// How many of the client's ids still `count`; forgets the others.
    pub(crate) fn count(&self, client: &str, count: impl Fn(&str) -> bool) -> usize {
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        let Some(list) = ids.get_mut(client) else {
            return 0;
        };
        list.retain(|id| count(id));
        let n = list.len();
        if n == 0 {
            ids.remove(client);
        }
        n
    }
}
