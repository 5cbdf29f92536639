//! Sockt's cgroups, weighted against the host's own processes. Under the
//! engine's cgroupfs driver every container sits in `/docker`, which the
//! kernel weighs like one busy host process, and a server started from a
//! shell is one more: on a machine the engine itself keeps busy (starting
//! and removing containers for fifty looping agents), a sandbox's `true`
//! and the API call that ran it each wait for a core behind the engine's
//! dozen threads. Sockt makes `/sockt` for its containers and moves the
//! server into `/sockt-server`, each weighted like `weight` busy host
//! processes. Both together: weighting the sandboxes alone favours them
//! over the server, so one tenant spinning at its limit slowed every other
//! tenant's calls. Each sandbox is still held to its tier's CPU limit, so
//! the weights only decide who waits when the machine is contended.
//!
//! The sandboxes' group needs the engine's cgroupfs driver (systemd weighs
//! its own slices); the server moves only out of the root group — one a
//! supervisor placed (a systemd unit, a container) stays where it is,
//! weighted there. Without the rights to write the cgroup tree, everything
//! stays where it was, and the server says so.

use bollard::models::{SystemInfoCgroupDriverEnum, SystemInfoCgroupVersionEnum};
use bollard::Docker;
use std::path::Path;

/// The cgroup parent of Sockt's containers (below the hierarchy's root).
pub const PARENT: &str = "/sockt";
/// The cgroup the server moves itself into from the root group.
pub const SERVER_GROUP: &str = "/sockt-server";
/// The cgroup `sockt bench` moves its load generator into (and the `wrk`
/// and `docker` it runs), weighted like the server: a client on the same
/// small machine as the engine otherwise measures its own wait for a core.
pub const BENCH_GROUP: &str = "/sockt-bench";
/// Each group's weight unless configured, in busy host processes: enough
/// that the engine's threads, busy starting and removing containers, no
/// longer hold up sandboxes' commands and the calls that run them.
pub const DEFAULT_WEIGHT: u32 = 8;
/// The weight of one busy host process: cgroup v1 `cpu.shares`.
const V1_SHARES_PER_PROCESS: u64 = 1024;
/// The same on cgroup v2 (`cpu.weight`, at most 10,000).
const V2_WEIGHT_PER_PROCESS: u64 = 100;
const V2_MOST_WEIGHT: u64 = 10_000;

/// Where the weight of a group is written, and what.
#[derive(Debug, PartialEq, Eq)]
struct WeightFile {
    dir: String,
    file: &'static str,
    value: u64,
}

fn weight_file(version: &SystemInfoCgroupVersionEnum, group: &str, weight: u32) -> WeightFile {
    let weight = u64::from(weight);
    match version {
        SystemInfoCgroupVersionEnum::_2 => WeightFile {
            dir: format!("/sys/fs/cgroup{group}"),
            file: "cpu.weight",
            value: (weight * V2_WEIGHT_PER_PROCESS).clamp(1, V2_MOST_WEIGHT),
        },
        _ => WeightFile {
            dir: format!("/sys/fs/cgroup/cpu{group}"),
            file: "cpu.shares",
            value: (weight * V1_SHARES_PER_PROCESS).max(2),
        },
    }
}

/// Make Sockt's weighted group; the cgroup parent to start containers
/// under, or None (the engine's default) where that cannot be done.
pub async fn prepare(docker: &Docker, weight: u32) -> Option<String> {
    if weight == 0 {
        return None;
    }
    let info = match docker.info().await {
        Ok(info) => info,
        Err(e) => {
            tracing::warn!(error = %e, "cannot tell the engine's cgroup driver; sandboxes stay in its default group");
            return None;
        }
    };
    if info.cgroup_driver != Some(SystemInfoCgroupDriverEnum::CGROUPFS) {
        tracing::info!(driver = ?info.cgroup_driver, "sandboxes stay in the engine's default cgroup (only the cgroupfs driver's groups are weighted by Sockt)");
        return None;
    }
    let version = info
        .cgroup_version
        .unwrap_or(SystemInfoCgroupVersionEnum::_1);
    let target = weight_file(&version, PARENT, weight);
    let written = tokio::task::spawn_blocking(move || write_weight(&version, &target)).await;
    match written {
        Ok(Ok(())) => Some(PARENT.to_string()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot weight Sockt's cgroup; sandboxes stay in the engine's default group");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot weight Sockt's cgroup");
            None
        }
    }
}

fn write_weight(version: &SystemInfoCgroupVersionEnum, target: &WeightFile) -> std::io::Result<()> {
    if *version == SystemInfoCgroupVersionEnum::_2 {
        // The root must hand the cpu controller down (the engine's own
        // groups need the same; writing it again changes nothing).
        std::fs::write("/sys/fs/cgroup/cgroup.subtree_control", "+cpu")?;
    }
    std::fs::create_dir_all(&target.dir)?;
    std::fs::write(
        Path::new(&target.dir).join(target.file),
        target.value.to_string(),
    )
}

/// Move this process from the root group into `group` (`SERVER_GROUP`,
/// `BENCH_GROUP`), weighted like `weight` busy host processes. Returns the
/// group it runs in after, and whether it moved; an error where the tree
/// cannot be written.
pub fn place_self(group: &str, weight: u32) -> std::io::Result<(String, bool)> {
    let own = own_cpu_group()?;
    if weight == 0 || own != "/" {
        return Ok((own, false));
    }
    let version = host_version();
    let target = weight_file(&version, group, weight);
    write_weight(&version, &target)?;
    std::fs::write(
        Path::new(&target.dir).join("cgroup.procs"),
        std::process::id().to_string(),
    )?;
    Ok((group.to_string(), true))
}

/// The cgroup whose CPU weight applies to this process ("/": the root).
pub fn own_cpu_group() -> std::io::Result<String> {
    let own = std::fs::read_to_string("/proc/self/cgroup")?;
    Ok(cpu_group_of(&own, &host_version())
        .unwrap_or("/")
        .to_string())
}

/// The host's cgroup version, from its mounted hierarchy.
fn host_version() -> SystemInfoCgroupVersionEnum {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        SystemInfoCgroupVersionEnum::_2
    } else {
        SystemInfoCgroupVersionEnum::_1
    }
}

/// The group whose CPU weight applies to a process, from its
/// `/proc/<pid>/cgroup`: the unified hierarchy's on v2, the `cpu`
/// controller's on v1.
fn cpu_group_of<'a>(
    proc_cgroup: &'a str,
    version: &SystemInfoCgroupVersionEnum,
) -> Option<&'a str> {
    proc_cgroup.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let cpu = match version {
            SystemInfoCgroupVersionEnum::_2 => controllers.is_empty(),
            _ => controllers.split(',').any(|c| c == "cpu"),
        };
        cpu.then_some(path)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weight_counts_busy_host_processes_in_either_version() {
        assert_eq!(
            weight_file(&SystemInfoCgroupVersionEnum::_1, PARENT, 8),
            WeightFile {
                dir: "/sys/fs/cgroup/cpu/sockt".into(),
                file: "cpu.shares",
                value: 8192
            }
        );
        assert_eq!(
            weight_file(&SystemInfoCgroupVersionEnum::_2, SERVER_GROUP, 8),
            WeightFile {
                dir: "/sys/fs/cgroup/sockt-server".into(),
                file: "cpu.weight",
                value: 800
            }
        );
        assert_eq!(
            weight_file(&SystemInfoCgroupVersionEnum::_2, PARENT, 1_000).value,
            10_000,
            "capped at v2's largest weight"
        );
    }

    #[test]
    fn a_process_cpu_group_is_read_from_its_proc_file() {
        let v1 = "9:name=systemd:/user.slice\n2:cpuacct:/\n1:cpu,cpuacct:/docker/ab12\n";
        assert_eq!(
            cpu_group_of(v1, &SystemInfoCgroupVersionEnum::_1),
            Some("/docker/ab12")
        );
        let v1_root = "3:cpuset:/\n1:cpu:/\n";
        assert_eq!(
            cpu_group_of(v1_root, &SystemInfoCgroupVersionEnum::_1),
            Some("/")
        );
        let v2 = "0::/system.slice/sockt.service\n";
        assert_eq!(
            cpu_group_of(v2, &SystemInfoCgroupVersionEnum::_2),
            Some("/system.slice/sockt.service")
        );
        assert_eq!(cpu_group_of("", &SystemInfoCgroupVersionEnum::_2), None);
    }
}
