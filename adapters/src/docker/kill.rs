//! Stopping a container's processes: its init killed directly where it
//! can be (`direct_kill`), else by the engine; and whether a killed
//! command was the out-of-memory killer's doing.

use super::errors::{map_err, PathContext};
use super::{direct_kill, DockerRuntime};
use domain::ports::{RuntimeError, SandboxRuntime};

/// How long a directly killed container's processes may take to be gone
/// before the engine is asked to kill it.
pub(super) const DIRECT_KILL_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether `direct_kill` ended the container (else the engine kills it).
pub(super) async fn killed_directly(container_id: &str, pid: i64) -> bool {
    match direct_kill::kill_container_init(container_id, pid, DIRECT_KILL_WAIT).await {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(container_id, error = %e, "killing through the engine");
            false
        }
    }
}

/// The exit code of a process killed by SIGKILL.
pub(super) const KILLED_EXIT: i64 = 137;

/// The `oom_kill` count in a cgroup memory file.
pub(super) fn oom_kills(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
}

impl DockerRuntime {
    /// Whether the kernel's out-of-memory killer struck in the container
    /// since the last time this was asked (its cgroup's `oom_kill` count
    /// grew: memory.events on cgroup v2, memory.oom_control on v1).
    pub(super) async fn memory_ran_out(&self, container: &str) -> bool {
        let mut kills = None;
        for file in [
            "/sys/fs/cgroup/memory.events",
            "/sys/fs/cgroup/memory/memory.oom_control",
        ] {
            if let Ok(content) = self.read_file(container, file, 64 * 1024).await {
                kills = oom_kills(&String::from_utf8_lossy(&content.bytes));
                break;
            }
        }
        let Some(kills) = kills else {
            return false;
        };
        let mut seen = self
            .oom_kills_seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let before = seen.insert(container.to_string(), kills).unwrap_or(0);
        kills > before
    }

    /// SIGKILL every process of the container (not waiting for it to stop).
    pub(super) async fn kill(&self, container: &str) -> Result<(), RuntimeError> {
        let killing = self.kills_first.killing();
        let killed = self.docker.kill_container(container, None).await;
        drop(killing);
        match killed {
            Ok(()) => Ok(()),
            Err(e) => match map_err(e, PathContext::None) {
                RuntimeError::ContainerGone => Ok(()),
                // Not running (stopped, or being removed): nothing runs in it.
                RuntimeError::Failed(m) if m.contains("is not running") => Ok(()),
                // A paused container is killed through its removal.
                RuntimeError::Failed(m) if m.contains("paused") => self.destroy(container).await,
                other => Err(other),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oom_kill_count_is_read_from_either_cgroup_version() {
        assert_eq!(
            oom_kills("low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n"),
            Some(2)
        );
        assert_eq!(
            oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"),
            Some(1)
        );
        assert_eq!(oom_kills("nothing"), None);
    }
}
