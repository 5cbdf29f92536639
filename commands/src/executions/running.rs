//! The executions running in this process: which sandbox each runs in, and
//! the handle that cancels it.

use std::collections::HashMap;
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// Cancellation handles of the executions running in this process.
#[derive(Default)]
pub(crate) struct RunningExecs {
    by_id: Mutex<HashMap<String, (String, CancellationToken)>>,
}

impl RunningExecs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, CancellationToken)>> {
        self.by_id.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn insert(&self, execution_id: &str, sandbox_id: &str) -> CancellationToken {
        let token = CancellationToken::new();
        self.lock().insert(
            execution_id.to_string(),
            (sandbox_id.to_string(), token.clone()),
        );
        token
    }

    pub(crate) fn remove(&self, execution_id: &str) {
        self.lock().remove(execution_id);
    }

    pub(crate) fn cancel(&self, execution_id: &str) -> bool {
        self.lock()
            .get(execution_id)
            .map(|(_, t)| t.cancel())
            .is_some()
    }

    pub(crate) fn contains(&self, execution_id: &str) -> bool {
        self.lock().contains_key(execution_id)
    }

    pub(crate) fn count_for(&self, sandbox_id: &str) -> usize {
        self.lock()
            .values()
            .filter(|(s, _)| s == sandbox_id)
            .count()
    }

    /// Cancel every execution of the sandbox running here; their ids.
    pub(crate) fn cancel_sandbox(&self, sandbox_id: &str) -> Vec<String> {
        let mut cancelled = Vec::new();
        for (execution_id, (s, token)) in self.lock().iter() {
            if s == sandbox_id {
                token.cancel();
                cancelled.push(execution_id.clone());
            }
        }
        cancelled
    }
}
