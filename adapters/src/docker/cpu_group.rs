//! The cgroup Sockt's sandboxes run under, weighted against the host's own
//! processes. Under the engine's cgroupfs driver every container sits in
//! `/docker`, which the kernel weighs like one busy host process: on a
//! machine the engine itself keeps busy (starting and removing containers
//! for fifty looping agents), a sandbox's `true` then waits hundreds of
//! milliseconds for a core. Sockt makes `/sockt`, weighted like `weight`
//! busy host processes, and starts its containers under it; each sandbox is
//! still held to its tier's CPU limit, so the weight only decides who waits
//! when the machine is contended. Under the systemd driver (whose slices
//! systemd weighs), or without the rights to write the cgroup tree, the
//! engine's default group stays, and the server says so.
//!
//! Off by default: the weight favours the sandboxes over the server as
//! well as the engine, so one tenant spinning at its limit slows every
//! other tenant's calls (the hostile suite's CPU-hog test fails at 8).

use bollard::models::{SystemInfoCgroupDriverEnum, SystemInfoCgroupVersionEnum};
use bollard::Docker;
use std::path::Path;

/// The cgroup parent of Sockt's containers (below the hierarchy's root).
pub const PARENT: &str = "/sockt";
/// The weight of one busy host process: cgroup v1 `cpu.shares`.
const V1_SHARES_PER_PROCESS: u64 = 1024;
/// The same on cgroup v2 (`cpu.weight`, at most 10,000).
const V2_WEIGHT_PER_PROCESS: u64 = 100;
const V2_MOST_WEIGHT: u64 = 10_000;

/// Where the weight is written, and what.
#[derive(Debug, PartialEq, Eq)]
struct WeightFile {
    dir: &'static str,
    file: &'static str,
    value: u64,
}

fn weight_file(version: &SystemInfoCgroupVersionEnum, weight: u32) -> WeightFile {
    let weight = u64::from(weight);
    match version {
        SystemInfoCgroupVersionEnum::_2 => WeightFile {
            dir: "/sys/fs/cgroup/sockt",
            file: "cpu.weight",
            value: (weight * V2_WEIGHT_PER_PROCESS).clamp(1, V2_MOST_WEIGHT),
        },
        _ => WeightFile {
            dir: "/sys/fs/cgroup/cpu/sockt",
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
    let target = weight_file(&version, weight);
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
    std::fs::create_dir_all(target.dir)?;
    std::fs::write(
        Path::new(target.dir).join(target.file),
        target.value.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weight_counts_busy_host_processes_in_either_version() {
        assert_eq!(
            weight_file(&SystemInfoCgroupVersionEnum::_1, 8),
            WeightFile {
                dir: "/sys/fs/cgroup/cpu/sockt",
                file: "cpu.shares",
                value: 8192
            }
        );
        assert_eq!(
            weight_file(&SystemInfoCgroupVersionEnum::_2, 8),
            WeightFile {
                dir: "/sys/fs/cgroup/sockt",
                file: "cpu.weight",
                value: 800
            }
        );
        assert_eq!(
            weight_file(&SystemInfoCgroupVersionEnum::_2, 1_000).value,
            10_000,
            "capped at v2's largest weight"
        );
    }
}
