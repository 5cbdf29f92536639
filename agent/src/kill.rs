//! Killing an execution's whole process tree: every process whose
//! environment carries the execution's marker, with its process group and
//! its session (children that cleared their environment or started a
//! group of their own). Never the agent's own group, session or PID 1.

use rustix::process::{getpgrp, getpid, getsid, kill_process, kill_process_group, Pid, Signal};

/// The process group and session a `/proc/<pid>/stat` line names.
fn group_and_session(stat: &str) -> Option<(i32, i32)> {
    // The command name may hold spaces and parentheses: fields start after
    // the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // state, ppid, pgrp, session
    let pgrp = fields.nth(2)?.parse().ok()?;
    let session = fields.next()?.parse().ok()?;
    Some((pgrp, session))
}

struct Process {
    pid: i32,
    group: i32,
    session: i32,
    marked: bool,
}

fn processes(marker: &str) -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let pid: i32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (group, session) = group_and_session(&stat)?;
            let marked = std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|b| *b == 0).any(|v| v == marker.as_bytes()))
                .unwrap_or(false);
            Some(Process {
                pid,
                group,
                session,
                marked,
            })
        })
        .collect()
}

pub fn kill_marked(marker: &str) {
    let own_pid = getpid().as_raw_nonzero().get();
    let own_group = getpgrp().as_raw_nonzero().get();
    let own_session = getsid(None).map(|s| s.as_raw_nonzero().get()).unwrap_or(0);
    let spared = |id: i32| id <= 1 || id == own_pid || id == own_group || id == own_session;
    // Three rounds: a process may fork while the first round kills.
    for _ in 0..3 {
        let all = processes(marker);
        let groups: Vec<i32> = all.iter().filter(|p| p.marked).map(|p| p.group).collect();
        let sessions: Vec<i32> = all.iter().filter(|p| p.marked).map(|p| p.session).collect();
        for process in &all {
            let doomed = process.marked
                || (groups.contains(&process.group) && !spared(process.group))
                || (sessions.contains(&process.session) && !spared(process.session));
            if doomed && !spared(process.pid) {
                if let Some(pid) = Pid::from_raw(process.pid) {
                    let _ = kill_process(pid, Signal::KILL);
                }
            }
        }
        for group in groups {
            if let Some(group) = Pid::from_raw(group).filter(|g| !spared(g.as_raw_nonzero().get()))
            {
                let _ = kill_process_group(group, Signal::KILL);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::group_and_session;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let line = "4242 (a (b) c) S 1 4242 4200 0 -1 4194560";
        assert_eq!(group_and_session(line), Some((4242, 4200)));
        assert_eq!(group_and_session("garbage"), None);
    }
}
