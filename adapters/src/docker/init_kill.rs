//! Stopping a container without waiting on the engine: SIGKILL to the
//! init process of its PID namespace, sent from the host through a pidfd.
//! When a namespace's init dies the kernel kills every other process in it
//! and reaps them before the init's own exit is reported, so once the pidfd
//! reads as exited nothing of the container runs — no fork can outrun it.
//! The engine notices the exit by itself; its own `kill` waits for it and,
//! under load, takes seconds.
//!
//! Only when the process is provably the container's: the pidfd pins the
//! process (a reused pid cannot be signalled by mistake) and its cgroup
//! must name the container. A server outside the host's PID namespace, a
//! paused container (signals wait until it thaws) or any doubt: `None`,
//! and the caller asks the engine.

use bollard::models::ContainerInspectResponse;
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::process::{pidfd_open, pidfd_send_signal, Pid, PidfdFlags, Signal};
use std::os::fd::OwnedFd;
use std::time::Duration;

/// How long the kernel gets to tear the namespace down.
const EXIT_WAIT: Duration = Duration::from_secs(2);

/// Kill the container `info` describes through its init; `Some(())` once
/// every process in it is gone, `None` when this cannot be done here.
pub(crate) async fn kill_through_init(info: &ContainerInspectResponse) -> Option<()> {
    let id = info.id.as_deref()?;
    let state = info.state.as_ref()?;
    if state.running != Some(true) || state.paused == Some(true) {
        return None;
    }
    let pid = Pid::from_raw(i32::try_from(state.pid?).ok()?)?;
    let pidfd = pidfd_open(pid, PidfdFlags::NONBLOCK).ok()?;
    if !in_container_cgroup(pid, id) {
        return None;
    }
    match pidfd_send_signal(&pidfd, Signal::KILL) {
        Ok(()) => {}
        // Exited already (the pidfd still names it): nothing runs.
        Err(rustix::io::Errno::SRCH) => return Some(()),
        Err(_) => return None,
    }
    tokio::task::spawn_blocking(move || exited_within(&pidfd, EXIT_WAIT))
        .await
        .ok()?
        .then_some(())
}

/// Whether the process's cgroup names the container (cgroupfs and systemd
/// drivers both put its full id in the path).
fn in_container_cgroup(pid: Pid, container_id: &str) -> bool {
    container_id.len() >= 64
        && std::fs::read_to_string(format!("/proc/{}/cgroup", pid.as_raw_nonzero()))
            .is_ok_and(|cgroups| cgroups.lines().any(|line| line.contains(container_id)))
}

/// Whether the pidfd's process exits within `wait` (the pidfd polls as
/// readable once it has).
fn exited_within(pidfd: &OwnedFd, wait: Duration) -> bool {
    let timeout = Timespec {
        tv_sec: wait.as_secs() as i64,
        tv_nsec: i64::from(wait.subsec_nanos()),
    };
    let mut watched = [PollFd::new(pidfd, PollFlags::IN)];
    matches!(poll(&mut watched, Some(&timeout)), Ok(n) if n > 0)
}

#[cfg(test)]
mod tests {
    use super::in_container_cgroup;
    use rustix::process::getpid;

    #[test]
    fn a_process_outside_the_container_is_not_taken_for_it() {
        let id = "a".repeat(64);
        assert!(!in_container_cgroup(getpid(), &id));
        assert!(
            !in_container_cgroup(getpid(), ""),
            "an empty id matches nothing"
        );
    }
}
