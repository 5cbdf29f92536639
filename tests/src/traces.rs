//! What a terminated sandbox could leave on this machine — its container,
//! the kernel rules of its network policy, its routed network link, its
//! agent's socket directory, Docker volumes, images, loop devices — checked
//! from outside the server after terminate.

use std::collections::BTreeSet;
use std::process::Command;

fn lines(program: &str, args: &[&str]) -> BTreeSet<String> {
    let output = Command::new(program).args(args).output().unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The lines of `rules` (`iptables -S`) that belong to the network policy
/// of the sandbox at `address`.
fn policy_rules<'a>(rules: &'a BTreeSet<String>, address: &str) -> Vec<&'a String> {
    let chain = adapters::docker::policies::chain_of(address.parse().unwrap());
    rules.iter().filter(|r| r.contains(&chain)).collect()
}

/// The policy rules iptables holds now for the sandbox at `address`.
pub fn policy_rules_for(address: &str) -> Vec<String> {
    let rules = lines("iptables", &["-w", "5", "-S"]);
    policy_rules(&rules, address).into_iter().cloned().collect()
}

/// The IPv4 address of sandbox `id` on Sockt's isolated network: its
/// routed link's, or its address on a Docker network; empty if none.
pub fn sandbox_address(id: &str) -> String {
    crate::docker(&[
        "inspect",
        "-f",
        "{{with index .Config.Labels \"sockt.address\"}}{{.}}{{else}}{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}{{end}}",
        &format!("sockt-{id}"),
    ])
}

/// Whether the host still has the routed link of `address`.
fn has_link(address: &str) -> bool {
    address.parse().is_ok_and(|a| {
        std::path::Path::new("/sys/class/net")
            .join(adapters::docker::routed::host_end(a))
            .exists()
    })
}

/// The machine as it was before some sandboxes were terminated.
pub struct Traces {
    sandboxes: Vec<(String, Option<String>)>,
    /// The host directories of their agents' sockets.
    agent_dirs: Vec<String>,
    volumes: BTreeSet<String>,
    images: BTreeSet<String>,
    loop_devices: BTreeSet<String>,
}

impl Traces {
    /// Take note before terminating `sandbox_ids` (and their addresses).
    pub fn before_terminating(sandbox_ids: &[&str]) -> Traces {
        let sandboxes = sandbox_ids
            .iter()
            .map(|id| {
                let address = sandbox_address(id);
                (id.to_string(), Some(address).filter(|a| !a.is_empty()))
            })
            .collect();
        let agent_dirs = sandbox_ids
            .iter()
            .map(|id| {
                crate::docker(&[
                    "inspect",
                    "-f",
                    "{{range .Mounts}}{{if eq .Destination \"/run/sockt\"}}{{.Source}}{{end}}{{end}}",
                    &format!("sockt-{id}"),
                ])
            })
            .filter(|dir| !dir.is_empty())
            .collect();
        Traces {
            sandboxes,
            agent_dirs,
            volumes: lines("docker", &["volume", "ls", "-q"]),
            images: lines("docker", &["images", "-q", "--no-trunc"]),
            loop_devices: lines("losetup", &["-a"]),
        }
    }

    /// Whether anything of the sandboxes is still there: a container, a
    /// policy rule, an agent directory.
    fn any_left(&self) -> bool {
        let rules = lines("iptables", &["-w", "5", "-S"]);
        self.sandboxes.iter().any(|(id, address)| {
            !crate::docker(&["ps", "-aq", "--filter", &format!("name=sockt-{id}")]).is_empty()
                || address
                    .as_ref()
                    .is_some_and(|a| !policy_rules(&rules, a).is_empty() || has_link(a))
        }) || self
            .agent_dirs
            .iter()
            .any(|dir| std::path::Path::new(dir).exists())
    }

    /// After terminate: no container, no policy rule for their addresses,
    /// no agent directory, and no volume, image or loop device that was not
    /// there before. (A terminate removes the container and what goes with
    /// it in the background, and the engine may still be finishing a
    /// removal it reported: they get ten seconds.)
    pub fn assert_none_left(&self) {
        for _ in 0..50 {
            if !self.any_left() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        let rules = lines("iptables", &["-w", "5", "-S"]);
        for (id, address) in &self.sandboxes {
            let left = crate::docker(&["ps", "-aq", "--filter", &format!("name=sockt-{id}")]);
            assert!(
                left.is_empty(),
                "the container of {id} is left after 10 s: {left}"
            );
            if let Some(address) = address {
                let kept = policy_rules(&rules, address);
                assert!(kept.is_empty(), "rules left for {id} ({address}): {kept:?}");
                assert!(
                    !has_link(address),
                    "the network link of {id} ({address}) is left"
                );
            }
        }
        for dir in &self.agent_dirs {
            assert!(
                !std::path::Path::new(dir).exists(),
                "the agent's directory {dir} is left"
            );
        }
        for (what, before, now) in [
            (
                "volume",
                &self.volumes,
                lines("docker", &["volume", "ls", "-q"]),
            ),
            (
                "image",
                &self.images,
                lines("docker", &["images", "-q", "--no-trunc"]),
            ),
            ("loop device", &self.loop_devices, lines("losetup", &["-a"])),
        ] {
            let new: Vec<&String> = now.difference(before).collect();
            assert!(new.is_empty(), "new {what}s left: {new:?}");
        }
    }
}
