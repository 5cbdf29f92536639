//! The baselines, measured in the same run as Sockt: the same operations
//! with the `docker` CLI (what a script would do; each call pays the CLI's
//! own start-up, on the engine's default bridge) and with the engine's API
//! directly through bollard (what Sockt itself could at best do through the
//! engine), both on the engine's default bridge — its cheapest network
//! (sandboxes get routed links of Sockt's own; on a user-defined network
//! the engine would pay for an embedded DNS server per start). Containers are
//! hardened like sandboxes: read-only root, no capabilities,
//! no-new-privileges, init, the tier's CPU, memory and pids — but home and
//! /tmp are anonymous volumes, not tmpfs: the engine's archive API (and so
//! `docker cp`) refuses every path of a read-only container except volumes.

use anyhow::{bail, Context};
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    DownloadFromContainerOptionsBuilder, RemoveContainerOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use bollard::Docker;
use domain::Tier;
use futures::StreamExt;
use std::process::Command;

/// The writable places, as anonymous volumes.
const WRITABLE: [&str; 2] = ["/home/sandbox", "/tmp"];

/// The `docker` CLI.
pub mod cli {
    use super::*;

    pub fn docker(args: &[&str]) -> anyhow::Result<String> {
        let output = Command::new("docker")
            .args(args)
            .output()
            .context("running the docker CLI")?;
        if !output.status.success() {
            bail!(
                "docker {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    /// `docker run -d` of a hardened container; its id.
    pub fn run(image: &str, tier: &Tier) -> anyhow::Result<String> {
        let cpus = format!("{}", tier.millicpus as f64 / 1000.0);
        let memory = format!("{}m", tier.memory_mib);
        let pids = tier.pids.to_string();
        docker(&[
            "run",
            "-d",
            "--read-only",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges:true",
            "--user",
            "sandbox",
            "-v",
            WRITABLE[0],
            "-v",
            WRITABLE[1],
            "--init",
            "--cpus",
            &cpus,
            "--memory",
            &memory,
            "--pids-limit",
            &pids,
            image,
            "sleep",
            "infinity",
        ])
    }

    pub fn exec_true(container: &str) -> anyhow::Result<()> {
        docker(&["exec", "-u", "sandbox", container, "true"]).map(|_| ())
    }

    pub fn remove(container: &str) -> anyhow::Result<()> {
        docker(&["rm", "-f", "-v", container]).map(|_| ())
    }
}

/// The engine's API, through bollard.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    image: String,
}

impl Engine {
    pub async fn connect(image: &str) -> anyhow::Result<Engine> {
        let docker = Docker::connect_with_local_defaults()?
            .negotiate_version()
            .await?;
        Ok(Engine {
            docker,
            image: image.to_string(),
        })
    }

    /// Create and start a hardened container; its id.
    pub async fn run(&self, tier: &Tier) -> anyhow::Result<String> {
        let memory = (tier.memory_mib as i64) << 20;
        let body = ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: Some(vec!["sleep".into(), "infinity".into()]),
            user: Some("sandbox".into()),
            volumes: Some(WRITABLE.iter().map(|p| p.to_string()).collect()),
            host_config: Some(HostConfig {
                nano_cpus: Some(tier.millicpus as i64 * 1_000_000),
                memory: Some(memory),
                memory_swap: Some(memory),
                pids_limit: Some(tier.pids as i64),
                cap_drop: Some(vec!["ALL".into()]),
                security_opt: Some(vec!["no-new-privileges:true".into()]),
                readonly_rootfs: Some(true),
                init: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(
                None::<bollard::query_parameters::CreateContainerOptions>,
                body,
            )
            .await?;
        self.docker.start_container(&created.id, None).await?;
        Ok(created.id)
    }

    /// Run a command as the sandbox user to its end; its exit code.
    pub async fn exec(&self, container: &str, cmd: &[&str]) -> anyhow::Result<i64> {
        let exec = self
            .docker
            .create_exec(
                container,
                CreateExecOptions {
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    user: Some("sandbox".to_string()),
                    cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                    ..Default::default()
                },
            )
            .await?;
        if let StartExecResults::Attached { mut output, .. } =
            self.docker.start_exec(&exec.id, None).await?
        {
            while output.next().await.is_some() {}
        }
        Ok(self
            .docker
            .inspect_exec(&exec.id)
            .await?
            .exit_code
            .unwrap_or(-1))
    }

    /// Write `payload` to the home and read it back, through the archive API.
    pub async fn write_and_read(&self, container: &str, payload: &[u8]) -> anyhow::Result<()> {
        let options = UploadToContainerOptionsBuilder::new()
            .path("/home/sandbox")
            .build();
        self.docker
            .upload_to_container(
                container,
                Some(options),
                bollard::body_full(tar_of("bench.bin", payload).into()),
            )
            .await?;
        let options = DownloadFromContainerOptionsBuilder::new()
            .path("/home/sandbox/bench.bin")
            .build();
        let mut archive = Vec::new();
        let mut stream = self
            .docker
            .download_from_container(container, Some(options));
        while let Some(chunk) = stream.next().await {
            archive.extend_from_slice(&chunk?);
        }
        if archive.len() < payload.len() {
            bail!("read back {} bytes of archive", archive.len());
        }
        Ok(())
    }

    pub async fn remove(&self, container: &str) -> anyhow::Result<()> {
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        self.docker
            .remove_container(container, Some(options))
            .await?;
        Ok(())
    }
}

/// A tar archive holding one regular file (ustar).
fn tar_of(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    let octal = |field: &mut [u8], value: u64| {
        let text = format!("{value:0width$o}\0", width = field.len() - 1);
        field.copy_from_slice(text.as_bytes());
    };
    octal(&mut header[100..108], 0o644);
    octal(&mut header[108..116], 1000);
    octal(&mut header[116..124], 1000);
    octal(&mut header[124..136], content.len() as u64);
    octal(&mut header[136..148], 0);
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u64 = header.iter().map(|b| u64::from(*b)).sum();
    let text = format!("{sum:06o}\0 ");
    header[148..156].copy_from_slice(text.as_bytes());
    let mut archive = header.to_vec();
    archive.extend_from_slice(content);
    archive.resize(archive.len().div_ceil(512) * 512 + 1024, 0);
    archive
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_tar_of_one_file_has_a_valid_header() {
        let tar = super::tar_of("a.txt", b"hello");
        assert_eq!(tar.len(), 512 + 512 + 1024);
        assert_eq!(&tar[..5], b"a.txt");
        assert_eq!(&tar[124..136], b"00000000005\0");
        let mut blank = tar[..512].to_vec();
        blank[148..156].copy_from_slice(b"        ");
        let sum: u64 = blank.iter().map(|b| u64::from(*b)).sum();
        let stated = u64::from_str_radix(std::str::from_utf8(&tar[148..154]).unwrap_or(""), 8);
        assert_eq!(stated.ok(), Some(sum));
        assert_eq!(&tar[512..517], b"hello");
    }
}
