//! The runners port: which processes are alive. An execution is run by the
//! process that started it (its output lives there); a process that becomes
//! the leader ends the executions whose process died, and only those.

use async_trait::async_trait;

#[async_trait]
pub trait Runners: Send + Sync {
    /// This process's name, recorded on what it runs.
    fn me(&self) -> &str;
    /// Whether the process named `runner` is alive.
    async fn is_alive(&self, runner: &str) -> bool;
}

/// One process serving the store (SQLite, tests): only this one is alive.
pub struct SingleProcess {
    me: String,
}

impl SingleProcess {
    pub fn new() -> SingleProcess {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        SingleProcess {
            me: format!("{}-{started:x}", std::process::id()),
        }
    }
}

impl Default for SingleProcess {
    fn default() -> Self {
        SingleProcess::new()
    }
}

#[async_trait]
impl Runners for SingleProcess {
    fn me(&self) -> &str {
        &self.me
    }

    async fn is_alive(&self, runner: &str) -> bool {
        runner == self.me
    }
}
