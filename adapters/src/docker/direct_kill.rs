//! Halting a runc container without waiting on the engine: SIGKILL to the
//! container's init process through a pidfd, then waiting for it to exit.
//! When the init of a PID namespace dies the kernel kills every other
//! process in it, and the init only exits once they are all gone — so when
//! the pidfd reports the exit, nothing of the container runs. The engine's
//! own kill waits for its exit handling (shim, events, storage), hundreds
//! of milliseconds on a busy machine; this takes a few. The engine still
//! removes the container afterwards.
//!
//! The PID comes from the engine (`State.Pid`) and may be stale: it is
//! signalled only through a pidfd opened first and then checked — the
//! process behind the PID must sit in the container's cgroup — so a PID the
//! kernel has given to another process is never signalled.

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::process::{pidfd_open, pidfd_send_signal, Pid, PidfdFlags, Signal};
use std::os::fd::OwnedFd;
use std::time::Duration;

/// Why the engine has to do the kill after all.
#[derive(Debug, thiserror::Error)]
pub enum DirectKillError {
    #[error("no process to signal (PID {0})")]
    NoProcess(i64),
    #[error("PID {0} is not the container's")]
    NotTheContainer(i64),
    #[error("the container's init did not exit within {0:?}")]
    StillRunning(Duration),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Kill every process of container `container_id` (the engine's full id)
/// whose init has host PID `pid`; returns once they are all gone.
pub async fn kill_container_init(
    container_id: &str,
    pid: i64,
    within: Duration,
) -> Result<(), DirectKillError> {
    let target = i32::try_from(pid)
        .ok()
        .filter(|raw| *raw > 1)
        .and_then(Pid::from_raw)
        .ok_or(DirectKillError::NoProcess(pid))?;
    let pidfd: OwnedFd = match pidfd_open(target, PidfdFlags::NONBLOCK) {
        Ok(fd) => fd,
        // Exited and reaped already: nothing of it runs.
        Err(rustix::io::Errno::SRCH) => return Ok(()),
        Err(e) => return Err(std::io::Error::from(e).into()),
    };
    // The pidfd holds the process that had the PID when it was opened; if
    // that one is still the PID's holder now, it is the container's.
    if !in_cgroup_of(pid, container_id) {
        return Err(DirectKillError::NotTheContainer(pid));
    }
    match pidfd_send_signal(&pidfd, Signal::KILL) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => {}
        Err(e) => return Err(std::io::Error::from(e).into()),
    }
    let exited = tokio::task::spawn_blocking(move || exited_within(&pidfd, within))
        .await
        .map_err(std::io::Error::other)??;
    if exited {
        Ok(())
    } else {
        Err(DirectKillError::StillRunning(within))
    }
}

/// Wait until the pidfd's process has exited (a pidfd turns readable
/// then), at most `within`.
fn exited_within(pidfd: &OwnedFd, within: Duration) -> std::io::Result<bool> {
    let timeout = Timespec {
        tv_sec: i64::try_from(within.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(within.subsec_nanos()),
    };
    let mut fds = [PollFd::new(pidfd, PollFlags::IN)];
    loop {
        match poll(&mut fds, Some(&timeout)) {
            Ok(ready) => return Ok(ready > 0),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Whether the process with host PID `pid` belongs to the container's
/// cgroup (cgroupfs `/docker/<id>`, systemd `docker-<id>.scope`, v1 or v2).
fn in_cgroup_of(pid: i64, container_id: &str) -> bool {
    if container_id.len() < 64 || !container_id.chars().all(|c| c.is_ascii_hexdigit()) {
        return false;
    }
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .is_ok_and(|groups| groups.lines().any(|line| line.contains(container_id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOME_CONTAINER: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[tokio::test]
    async fn a_process_outside_the_container_is_never_signalled() {
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep runs");
        let pid = i64::from(sleeper.id());
        let refused = kill_container_init(SOME_CONTAINER, pid, Duration::from_secs(1)).await;
        assert!(
            matches!(refused, Err(DirectKillError::NotTheContainer(p)) if p == pid),
            "{refused:?}"
        );
        assert!(
            sleeper.try_wait().expect("waitable").is_none(),
            "the process still runs"
        );
        let _ = sleeper.kill();
        let _ = sleeper.wait();
    }

    #[tokio::test]
    async fn the_host_init_and_impossible_pids_are_refused() {
        for pid in [0, 1, -5, i64::from(i32::MAX) + 1] {
            let refused = kill_container_init(SOME_CONTAINER, pid, Duration::from_secs(1)).await;
            assert!(
                matches!(refused, Err(DirectKillError::NoProcess(_))),
                "{pid}: {refused:?}"
            );
        }
    }

    #[test]
    fn only_a_full_engine_id_names_a_cgroup() {
        let own = i64::from(std::process::id());
        assert!(!in_cgroup_of(own, ""));
        assert!(!in_cgroup_of(own, "docker"));
        assert!(!in_cgroup_of(own, SOME_CONTAINER));
    }
}
