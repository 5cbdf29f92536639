//! The `SandboxRuntime` port over Docker: each operation goes to the
//! sandbox's agent when it has one that answers, else through the engine
//! (`engine_exec`, `files`, `shell`); container making and removal are
//! `containers`', the pool `pool_refill`'s, kills `kill`'s.

use super::containers::Purpose;
use super::errors::{map_err, PathContext};
use super::files::split_writable;
use super::inspect::{
    address_on, directly_killable, label_of, policy_of, routed_address, sandbox_of,
};
use super::kill::{killed_directly, KILLED_EXIT};
use super::policy_enforcement::remove_policy;
use super::{agent, shell, sweep, DockerRuntime, EXEC_MARKER, LABEL_MANAGED};
use async_trait::async_trait;
use bollard::models::ContainerSummaryStateEnum;
use domain::ports::{
    ContainerStatus, ExecExit, ExecRequest, FileContent, FileEntry, ManagedContainer, OutputSink,
    RuntimeError, SandboxRuntime, SandboxSpec, ShellIo, ShellRequest, SANDBOX_HOME,
};
use sockt_agent::protocol::{Request, TtySize};
use std::sync::Arc;

impl DockerRuntime {
    /// A connection to the container's agent carrying `request`; None when
    /// it has none or it does not answer (then the engine's exec API serves).
    async fn agent(&self, container: &str, request: &Request) -> Option<agent::Connection> {
        self.activity.touch();
        let agents = self.agents.as_ref()?;
        let slot = match agents.known(container) {
            Some(slot) => slot,
            None => {
                let info = self.docker.inspect_container(container, None).await.ok()?;
                let slot = label_of(&info, agent::LABEL_AGENT);
                agents.remember(container, slot.clone());
                slot
            }
        }?;
        agents.open(&slot, request).await
    }
}

#[async_trait]
impl SandboxRuntime for DockerRuntime {
    fn runtime_for(&self, tier: &domain::Tier) -> Option<String> {
        self.config
            .tier_runtimes
            .get(tier.name.as_str())
            .or(self.config.oci_runtime.as_ref())
            .cloned()
    }

    fn warm_pool(&self) -> std::collections::BTreeMap<String, usize> {
        self.pool.ready()
    }

    async fn container_status(
        &self,
        container: &str,
    ) -> Result<Option<ContainerStatus>, RuntimeError> {
        let info = match self.docker.inspect_container(container, None).await {
            Ok(info) => info,
            Err(e) => {
                return match map_err(e, PathContext::None) {
                    RuntimeError::ContainerGone => Ok(None),
                    other => Err(other),
                }
            }
        };
        use bollard::models::ContainerStateStatusEnum as State;
        Ok(Some(match info.state.and_then(|s| s.status) {
            Some(State::RUNNING) => ContainerStatus::Running,
            Some(State::PAUSED) => ContainerStatus::Paused,
            Some(State::CREATED | State::RESTARTING) => ContainerStatus::Starting,
            _ => ContainerStatus::Stopped,
        }))
    }

    async fn create(&self, spec: &SandboxSpec) -> Result<String, RuntimeError> {
        self.activity.touch();
        if let Some(claimed) = self.claim_pooled(spec).await {
            return claimed;
        }
        let id = self
            .create_container(spec, Purpose::Sandbox(&spec.sandbox_id))
            .await?;
        // A new container's address has no chain (destroy and the start-up
        // reconciliation remove them): only a narrower policy needs rules.
        if !spec.network.is_open() {
            if let Err(e) = self.enforce_policy(&id, &spec.network).await {
                let _ = self.destroy(&id).await;
                return Err(e);
            }
        }
        Ok(id)
    }

    async fn halt(&self, container: &str) -> Result<(), RuntimeError> {
        if let Some(pid) = self.inits.take_for_halt(container) {
            if killed_directly(container, pid).await {
                return Ok(());
            }
        }
        let info = self.docker.inspect_container(container, None).await.ok();
        // A stopped container has no address: its policy chain (found by
        // address) goes now, while the address is known.
        let with_policy = info
            .as_ref()
            .filter(|_| self.is_isolated())
            .and_then(|info| policy_of(info).and_then(|_| address_on(info, &self.network)));
        let halted = match info.as_ref().and_then(directly_killable) {
            Some((id, pid)) if killed_directly(&id, pid).await => Ok(()),
            _ => self.kill(container).await,
        };
        if let Some(address) = with_policy {
            remove_policy(address).await?;
        }
        halted
    }

    async fn pause(&self, container: &str) -> Result<(), RuntimeError> {
        self.inits.paused(container, true);
        match self.docker.pause_container(container).await {
            Ok(()) => Ok(()),
            Err(e) => match map_err(e, PathContext::None) {
                // Already paused.
                RuntimeError::Failed(m) if m.contains("already paused") => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn resume(&self, container: &str) -> Result<(), RuntimeError> {
        match self.docker.unpause_container(container).await {
            Ok(()) => {
                self.inits.paused(container, false);
                Ok(())
            }
            Err(e) => match map_err(e, PathContext::None) {
                RuntimeError::Failed(m) if m.contains("not paused") => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn destroy(&self, container: &str) -> Result<(), RuntimeError> {
        self.remove(container).await
    }

    async fn exec(
        &self,
        container: &str,
        request: &ExecRequest,
        sink: Arc<dyn OutputSink>,
    ) -> Result<ExecExit, RuntimeError> {
        let spec = agent::exec_spec(request, (EXEC_MARKER, &request.execution_id));
        if let Some(connection) = self.agent(container, &Request::Exec(spec)).await {
            let exit = agent::exec(connection, request, sink).await?;
            if exit.code == KILLED_EXIT {
                return Ok(ExecExit {
                    code: exit.code,
                    out_of_memory: self.memory_ran_out(container).await,
                });
            }
            return Ok(exit);
        }
        self.exec_through_engine(container, request, sink).await
    }

    async fn open_shell(
        &self,
        container: &str,
        request: &ShellRequest,
    ) -> Result<ShellIo, RuntimeError> {
        let spec = agent::shell_spec(
            SANDBOX_HOME,
            vec![
                ("TERM".into(), "xterm-256color".into()),
                (EXEC_MARKER.into(), request.shell_id.clone()),
            ],
            TtySize {
                cols: request.cols,
                rows: request.rows,
            },
        );
        if let Some(connection) = self.agent(container, &Request::Exec(spec)).await {
            return agent::shell(connection).await;
        }
        shell::open(&self.docker, container, request).await
    }

    async fn kill_exec(&self, container: &str, execution_id: &str) -> Result<(), RuntimeError> {
        let marker = format!("{EXEC_MARKER}={execution_id}");
        if let Some(connection) = self
            .agent(
                container,
                &Request::Kill {
                    marker: marker.clone(),
                },
            )
            .await
        {
            return agent::done(connection, "").await;
        }
        self.kill_exec_through_engine(container, marker).await
    }

    async fn kill_processes(&self, container: &str) -> Result<u32, RuntimeError> {
        if let Some(connection) = self.agent(container, &Request::KillAll).await {
            match agent::killed(connection).await {
                Ok(count) => return Ok(count),
                // An agent of an older build closes the connection on a
                // request it does not know: Docker's exec API does it.
                Err(e) => {
                    tracing::debug!(container, error = %e, "the agent did not kill; through the engine")
                }
            }
        }
        let (code, stdout, stderr) = self.run_helper(container, sweep::command()).await?;
        sweep::killed(code, &stdout, &stderr)
    }

    async fn write_file(
        &self,
        container: &str,
        path: &str,
        bytes: Vec<u8>,
        create_dirs: bool,
    ) -> Result<(), RuntimeError> {
        if split_writable(path).is_none() {
            return Err(RuntimeError::NotWritable {
                path: path.to_string(),
            });
        }
        let request = Request::Write {
            path: path.to_string(),
            create_dirs,
        };
        if let Some(connection) = self.agent(container, &request).await {
            return agent::write(connection, path, &bytes).await;
        }
        self.write_through_engine(container, path, bytes, create_dirs)
            .await
    }

    async fn read_file(
        &self,
        container: &str,
        path: &str,
        max_bytes: u64,
    ) -> Result<FileContent, RuntimeError> {
        let request = Request::Read {
            path: path.to_string(),
            max_bytes,
        };
        if let Some(connection) = self.agent(container, &request).await {
            return agent::read(connection, path, max_bytes).await;
        }
        self.read_through_engine(container, path, max_bytes).await
    }

    async fn list_files(
        &self,
        container: &str,
        path: &str,
        max_depth: u32,
    ) -> Result<Vec<FileEntry>, RuntimeError> {
        let request = Request::List {
            path: path.to_string(),
            max_depth,
        };
        if let Some(connection) = self.agent(container, &request).await {
            let mut entries = agent::list(connection, path).await?;
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            return Ok(entries);
        }
        self.list_through_engine(container, path, max_depth).await
    }

    async fn endpoint(
        &self,
        container: &str,
        port: u16,
    ) -> Result<std::net::SocketAddr, RuntimeError> {
        let info = self
            .docker
            .inspect_container(container, None)
            .await
            .map_err(|e| map_err(e, PathContext::None))?;
        if let Some(address) = routed_address(&info) {
            return Ok(std::net::SocketAddr::new(address.into(), port));
        }
        let networks = info
            .network_settings
            .and_then(|n| n.networks)
            .unwrap_or_default();
        let address = networks
            .get(&self.network)
            .or_else(|| networks.values().next())
            .and_then(|n| n.ip_address.clone())
            .filter(|ip| !ip.is_empty())
            .ok_or_else(|| {
                RuntimeError::NoNetwork(format!("it is on network '{}'", self.network))
            })?;
        let ip: std::net::IpAddr = address
            .parse()
            .map_err(|_| RuntimeError::Failed(format!("bad container address {address}")))?;
        Ok(std::net::SocketAddr::new(ip, port))
    }

    async fn list_managed(&self) -> Result<Vec<ManagedContainer>, RuntimeError> {
        let containers = self.list_ours(format!("{LABEL_MANAGED}=true")).await?;
        Ok(containers
            .into_iter()
            .filter_map(|c| {
                let sandbox_id = sandbox_of(&c)?;
                let status = match c.state {
                    Some(ContainerSummaryStateEnum::RUNNING) => ContainerStatus::Running,
                    Some(ContainerSummaryStateEnum::PAUSED) => ContainerStatus::Paused,
                    Some(
                        ContainerSummaryStateEnum::CREATED | ContainerSummaryStateEnum::RESTARTING,
                    ) => ContainerStatus::Starting,
                    _ => ContainerStatus::Stopped,
                };
                Some(ManagedContainer {
                    container_id: c.id?,
                    sandbox_id,
                    status,
                })
            })
            .collect())
    }
}
