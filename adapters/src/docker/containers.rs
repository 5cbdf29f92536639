//! A sandbox's container made (hardened: read-only root, size-limited
//! writable places, no capabilities), adopted when an earlier attempt made
//! it, linked to its routed address, and removed with what it held.

use super::errors::{self, map_err, PathContext};
use super::inspect::{
    address_on, directly_killable, label_of, policy_of, reserved_address, routed_address,
};
use super::policy_enforcement::remove_policy;
use super::{
    agent, names, pool, routed, DockerRuntime, LABEL_INSTANCE, LABEL_MANAGED, LABEL_NETWORK,
    LABEL_SANDBOX, LABEL_TIER, SANDBOX_USER,
};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};
use domain::ports::{RuntimeError, SandboxRuntime, SandboxSpec, SANDBOX_HOME};
use std::collections::HashMap;

/// What a container is made for.
#[derive(Clone, Copy)]
pub(super) enum Purpose<'a> {
    Sandbox(&'a str),
    Pool,
}

/// The writable places as size-limited tmpfs mounts sharing the tier's
/// disk (the home three quarters, /tmp the rest): the kernel answers "No
/// space left on device" beyond it, the host's disk is never touched, the
/// data lives as long as the container (kept while paused, freed on
/// terminate), and it counts in the container's memory.
fn writable_places(disk_mib: u64) -> HashMap<String, String> {
    let home = (disk_mib * 3 / 4).max(1);
    let tmp = (disk_mib - home).max(1);
    HashMap::from([
        (
            SANDBOX_HOME.to_string(),
            format!("size={home}m,uid=1000,gid=1000,mode=0755,exec,nosuid,nodev"),
        ),
        (
            "/tmp".to_string(),
            format!("size={tmp}m,mode=1777,exec,nosuid,nodev"),
        ),
    ])
}

impl DockerRuntime {
    /// Whether the container is running or paused.
    pub(super) async fn is_up(&self, container: &str) -> bool {
        self.docker
            .inspect_container(container, None)
            .await
            .ok()
            .and_then(|info| info.state)
            .is_some_and(|state| state.running == Some(true) || state.paused == Some(true))
    }

    /// Create and start a container: the sandbox's (or adopt the one an
    /// earlier attempt made), or one for the pool.
    pub(super) async fn create_container(
        &self,
        spec: &SandboxSpec,
        purpose: Purpose<'_>,
    ) -> Result<String, RuntimeError> {
        let mut labels = HashMap::from([
            (LABEL_MANAGED.to_string(), "true".to_string()),
            (LABEL_TIER.to_string(), spec.tier.name.as_str().to_string()),
            (LABEL_INSTANCE.to_string(), self.config.instance.clone()),
        ]);
        let name = match purpose {
            Purpose::Sandbox(sandbox_id) => {
                labels.insert(LABEL_SANDBOX.to_string(), sandbox_id.to_string());
                format!("sockt-{sandbox_id}")
            }
            Purpose::Pool => {
                labels.insert(
                    pool::LABEL_POOL.to_string(),
                    spec.tier.name.as_str().to_string(),
                );
                labels.insert(
                    pool::LABEL_POOL_OWNER.to_string(),
                    self.pool.owner().to_string(),
                );
                format!("{}{}", pool::POOL_PREFIX, uuid::Uuid::new_v4().simple())
            }
        };
        // The agent runs under the engine's default runtime (gVisor keeps
        // sockets inside its own kernel, out of the server's reach).
        let slot = match (&self.agents, spec.runtime.as_deref()) {
            (Some(agents), None | Some("runc")) => Some(agents.prepare_slot()?),
            _ => None,
        };
        if let (Some(agents), Some(slot)) = (&self.agents, &slot) {
            labels.insert(agent::LABEL_AGENT.to_string(), slot.clone());
            labels.insert(
                agent::LABEL_AGENT_BUILD.to_string(),
                agents.build().to_string(),
            );
        }
        if !spec.network.is_open() {
            let policy = serde_json::to_string(&spec.network)
                .map_err(|e| RuntimeError::Failed(format!("recording the network policy: {e}")))?;
            labels.insert(LABEL_NETWORK.to_string(), policy);
        }
        // The engine's default runtime gets a routed link (gVisor's netstack
        // sees only the links its container starts with: it joins the
        // Docker network).
        let routed = match (&self.routed, spec.runtime.as_deref()) {
            (Some(routed), None | Some("runc")) => match routed.reserve().await {
                Ok(address) => Some((routed, address)),
                Err(e) => {
                    if let (Some(agents), Some(slot)) = (&self.agents, &slot) {
                        agents.remove_slot("", slot);
                    }
                    return Err(e);
                }
            },
            _ => None,
        };
        if let Some((_, address)) = routed {
            labels.insert(routed::LABEL_ADDRESS.to_string(), address.to_string());
        }
        let memory = (spec.tier.memory_mib as i64) << 20;
        let host_config = HostConfig {
            nano_cpus: Some(spec.tier.millicpus as i64 * 1_000_000),
            memory: Some(memory),
            memory_swap: Some(memory),
            pids_limit: Some(spec.tier.pids as i64),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges:true".into()]),
            readonly_rootfs: Some(true),
            tmpfs: Some(writable_places(spec.tier.disk_mib)),
            init: Some(true),
            network_mode: Some(match routed {
                Some(_) => "none".to_string(),
                None => self.network.clone(),
            }),
            // The routed link moves in after start: it comes up with IPv6
            // off, as the host's end does (loopback keeps `::1`).
            sysctls: routed.map(|_| {
                HashMap::from([(
                    "net.ipv6.conf.default.disable_ipv6".to_string(),
                    "1".to_string(),
                )])
            }),
            runtime: spec.runtime.clone(),
            cgroup_parent: self.cgroup_parent.clone(),
            binds: {
                let agent = match (&self.agents, &slot) {
                    (Some(agents), Some(slot)) => agents.binds(slot),
                    _ => Vec::new(),
                };
                let names = match routed {
                    Some((routed, _)) => routed.name_binds(),
                    None => Vec::new(),
                };
                Some([agent, names].concat())
            },
            ..Default::default()
        };
        // The home starts empty: it gets the usual dotfiles (PATH for
        // ~/.local/bin, the prompt) from the agent as it starts, or from a
        // shell before idling when there is no agent.
        let command: Vec<String> = if slot.is_some() {
            vec![
                sockt_agent::protocol::BINARY_PATH.into(),
                sockt_agent::protocol::MOUNT_POINT.into(),
            ]
        } else {
            vec![
                "/bin/sh".into(),
                "-c".into(),
                "cp -n /etc/skel/.[!.]* \"$HOME\"/ 2>/dev/null; exec sleep infinity".into(),
            ]
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: Some(command),
            user: Some(SANDBOX_USER.into()),
            working_dir: Some(SANDBOX_HOME.into()),
            hostname: Some(names::HOSTNAME.into()),
            // A routed sandbox's namespace is Sockt's to link: the engine
            // makes it bare, without the endpoint, the start-up hook and
            // the clean-up at exit its network code would add (costly per
            // start, and racing concurrent exits into a deadlock of the
            // engine's, moby/moby#46661, on the engine versions before
            // the fix).
            network_disabled: Some(routed.is_some()),
            env: Some(
                spec.env
                    .entries()
                    .chain([
                        format!("HOME={SANDBOX_HOME}"),
                        format!("USER={SANDBOX_USER}"),
                        "LANG=C.UTF-8".into(),
                    ])
                    .collect(),
            ),
            labels: Some(labels),
            host_config: Some(host_config),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::new().name(&name).build();
        self.kills_first.start_turn().await;
        let turn = self.starts.acquire().await;
        let created = self.docker.create_container(Some(options), body).await;
        let unused = || async {
            if let (Some(agents), Some(slot)) = (&self.agents, &slot) {
                agents.remove_slot("", slot);
            }
            if let Some((routed, address)) = routed {
                routed.release(address).await;
            }
        };
        let created = match created {
            Ok(created) => created,
            // Made before: by a process that died before recording it, or by
            // another process provisioning the same sandbox right now.
            Err(e) if errors::is_name_conflict(&e) => {
                unused().await;
                return self.adopt(&name).await;
            }
            Err(e) => {
                unused().await;
                return Err(match map_err(e, PathContext::None) {
                    RuntimeError::ContainerGone => RuntimeError::ImageMissing(spec.image.clone()),
                    other => other,
                });
            }
        };
        if let (Some(agents), Some(slot)) = (&self.agents, &slot) {
            agents.remember(&created.id, Some(slot.clone()));
        }
        let started = self.docker.start_container(&created.id, None).await;
        drop(turn);
        if let Err(e) = started {
            if self.is_up(&created.id).await {
                return self.link_up(&created.id).await.map(|()| created.id);
            }
            let _ = self.destroy(&created.id).await;
            return Err(map_err(e, PathContext::None));
        }
        let agent_ready = async {
            if let (Some(agents), Some(slot)) = (&self.agents, &slot) {
                if !agents.wait_ready(slot).await {
                    tracing::warn!(container = %created.id, "the sandbox's agent did not start; using Docker's exec API for it");
                }
            }
        };
        let (linked, ()) = tokio::join!(self.link_up(&created.id), agent_ready);
        if let Err(e) = linked {
            let _ = self.destroy(&created.id).await;
            return Err(e);
        }
        Ok(created.id)
    }

    /// Take over the sandbox's existing container (named after the sandbox),
    /// starting it if it never started; only one of this store's.
    pub(super) async fn adopt(&self, name: &str) -> Result<String, RuntimeError> {
        let info = self
            .docker
            .inspect_container(name, None)
            .await
            .map_err(|e| map_err(e, PathContext::None))?;
        let ours = info
            .config
            .as_ref()
            .and_then(|c| c.labels.as_ref())
            .and_then(|labels| labels.get(LABEL_INSTANCE))
            .is_some_and(|instance| *instance == self.config.instance);
        let id = info.id.clone().unwrap_or_else(|| name.to_string());
        if !ours {
            return Err(RuntimeError::Failed(format!(
                "a container named {name} exists and belongs to another Sockt store"
            )));
        }
        if !self.is_up(&id).await {
            match self.docker.start_container(&id, None).await {
                Ok(()) => {}
                Err(_) if self.is_up(&id).await => {}
                Err(e) => return Err(map_err(e, PathContext::None)),
            }
        }
        self.link_up(&id).await?;
        Ok(id)
    }

    /// Give a started container its routed link, if it is labelled with an
    /// address (a link it has already is kept).
    pub(super) async fn link_up(&self, container: &str) -> Result<(), RuntimeError> {
        let Some(routed) = &self.routed else {
            return Ok(());
        };
        let info = self
            .docker
            .inspect_container(container, None)
            .await
            .map_err(|e| map_err(e, PathContext::None))?;
        let Some(address) = routed_address(&info) else {
            return Ok(());
        };
        let pid = info.state.as_ref().and_then(|s| s.pid).unwrap_or(0);
        if pid <= 0 {
            return Err(RuntimeError::Failed(
                "the sandbox's container stopped as it started".into(),
            ));
        }
        routed.attach(address, pid).await?;
        if let Some((id, pid)) = directly_killable(&info).filter(|(id, _)| id == container) {
            self.inits.started(&id, pid);
        }
        Ok(())
    }

    /// Remove the container with what it held: its policy chain, its
    /// agent's slot, the address it reserved and never used.
    pub(super) async fn remove(&self, container: &str) -> Result<(), RuntimeError> {
        self.inits.forget(container);
        let _turn = self.removals.acquire().await;
        // The address whose policy chain goes with the container (policies
        // exist on the isolated network only), and its agent's slot.
        let (with_policy, slot, link) = if self.is_isolated() || self.agents.is_some() {
            match self.docker.inspect_container(container, None).await {
                Ok(info) => (
                    policy_of(&info).and_then(|_| address_on(&info, &self.network)),
                    label_of(&info, agent::LABEL_AGENT),
                    reserved_address(&info),
                ),
                Err(_) => (None, None, None),
            }
        } else {
            (None, None, None)
        };
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(container, Some(options)).await {
            Ok(()) => {}
            Err(e) => match map_err(e, PathContext::None) {
                RuntimeError::ContainerGone => {}
                RuntimeError::Failed(m) if m.contains("already in progress") => {}
                other => return Err(other),
            },
        }
        if let (Some(agents), Some(slot)) = (&self.agents, &slot) {
            agents.remove_slot(container, slot);
        }
        // The reservation of a container that never started (a started
        // one's link went with its namespace, and its address may be
        // another's by the time the removal returns).
        if let (Some(routed), Some(address)) = (&self.routed, link) {
            routed.release(address).await;
        }
        if let Some(address) = with_policy {
            remove_policy(address).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writable_places_share_the_tiers_disk() {
        let places = writable_places(128);
        assert!(places[SANDBOX_HOME].starts_with("size=96m,uid=1000"));
        assert!(places["/tmp"].starts_with("size=32m,mode=1777"));
    }
}
