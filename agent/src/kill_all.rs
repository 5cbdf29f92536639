//! Stopping every process of the sandbox but the agent (background servers
//! left running, a fork bomb): SIGKILL to every process `/proc` lists other
//! than the agent and PID 1 (the container's init, which the kernel shields
//! from its namespace anyway), and to their process groups — the kernel
//! signals a group at once, children forked during the sweep included —
//! sweep after sweep until none is left to signal, bounded in time.

use rustix::process::{getpgrp, getpid, kill_process, kill_process_group, Pid, Signal};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Longest the sweeps go on (the sandbox's process limit caps what there is
/// to kill, so they end far sooner).
const SWEEP_FOR: Duration = Duration::from_secs(5);

/// The process group a `/proc/<pid>/stat` line names, unless the process
/// has ended (a zombie waiting for its parent, or dead).
fn live_group(stat: &str) -> Option<i32> {
    // The command name may hold spaces and parentheses: fields start after
    // the last ')'.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    // ppid, then pgrp
    fields.nth(1)?.parse().ok()
}

/// Every live process but `spared`: (pid, group).
fn others(spared: i32) -> Vec<(i32, i32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let pid: i32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            if pid <= 1 || pid == spared {
                return None;
            }
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            Some((pid, live_group(&stat)?))
        })
        .collect()
}

/// Kill every process but the agent and PID 1; how many were killed.
pub fn kill_all() -> u32 {
    let own_pid = getpid().as_raw_nonzero().get();
    let own_group = getpgrp().as_raw_nonzero().get();
    let deadline = Instant::now() + SWEEP_FOR;
    let mut killed = HashSet::new();
    loop {
        let mut signalled = false;
        let mut groups = HashSet::new();
        for (pid, group) in others(own_pid) {
            // One the agent may not signal (another user's) stays, and does
            // not keep the sweeps going.
            if Pid::from_raw(pid).is_some_and(|p| kill_process(p, Signal::KILL).is_ok()) {
                signalled = true;
                killed.insert(pid);
            }
            if group > 1 && group != own_group {
                groups.insert(group);
            }
        }
        for group in groups.into_iter().filter_map(Pid::from_raw) {
            let _ = kill_process_group(group, Signal::KILL);
        }
        if !signalled || Instant::now() >= deadline {
            break;
        }
        // The killed take a moment to exit.
        std::thread::sleep(Duration::from_millis(2));
    }
    u32::try_from(killed.len()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::live_group;

    #[test]
    fn ended_processes_are_not_counted_and_odd_names_parse() {
        assert_eq!(
            live_group("4242 (a (b) c) S 1 4240 4200 0 -1 4194560"),
            Some(4240)
        );
        assert_eq!(live_group("4243 (bash) Z 1 4243 4200 0 -1"), None);
        assert_eq!(live_group("garbage"), None);
    }
}
