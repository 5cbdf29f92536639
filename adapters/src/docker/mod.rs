//! The Docker runtime adapter (bollard): one hardened container per sandbox,
//! taken from a warm pool when one waits (`pool`); commands, files and
//! terminals through the agent inside it (`agent`), or where it has none
//! through Docker's exec API and small scripts run by it as the sandbox
//! user (`files`, `shell`).

mod activity;
pub mod agent;
pub mod cpu_group;
pub mod direct_kill;
mod errors;
mod files;
pub mod firewall;
mod inits;
mod kills_first;
pub mod names;
pub mod network;
pub mod policies;
pub mod pool;
pub mod routed;
mod shell;
mod sweep;

pub use agent::AgentConfig;
pub use pool::PoolConfig;

pub use network::NetworkChoice;

use async_trait::async_trait;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerSummaryStateEnum, HostConfig,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use domain::network::NetworkPolicy;
use domain::ports::{
    ContainerStatus, ExecExit, ExecRequest, FileContent, FileEntry, ManagedContainer, OutputSink,
    OutputStream, RuntimeError, SandboxRuntime, SandboxSpec, ShellIo, ShellRequest, SANDBOX_HOME,
};
use errors::{map_err, PathContext};
use futures::StreamExt;
use sockt_agent::protocol::{Request, TtySize};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

pub const LABEL_MANAGED: &str = "sockt.managed";
pub const LABEL_SANDBOX: &str = "sockt.sandbox_id";
pub const LABEL_TIER: &str = "sockt.tier";
/// The store a container belongs to.
pub const LABEL_INSTANCE: &str = "sockt.instance";
/// The sandbox's network policy (JSON), on containers whose policy narrows
/// the open default.
pub const LABEL_NETWORK: &str = "sockt.network";
pub(crate) const SANDBOX_USER: &str = "sandbox";
/// Directories the sandbox user may write to; the root filesystem is
/// read-only.
const WRITABLE_ROOTS: [&str; 2] = [SANDBOX_HOME, "/tmp"];

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
/// Environment variable naming the execution a process belongs to.
pub(crate) const EXEC_MARKER: &str = "SOCKT_EXEC_ID";
/// Cap on what an internal helper command (listing) may print.
const MAX_HELPER_OUTPUT: usize = 16 << 20;

/// Settings of the Docker adapter.
#[derive(Debug, Clone)]
pub struct DockerConfig {
    /// The event store's identity; only containers labelled with it are this server's.
    pub instance: String,
    /// The network sandboxes join.
    pub network: NetworkChoice,
    /// OCI runtime (e.g. "runsc" for gVisor); None for the engine's default.
    pub oci_runtime: Option<String>,
    /// Per tier id, an OCI runtime overriding `oci_runtime`.
    pub tier_runtimes: HashMap<String, String>,
    /// The agent to run in each sandbox (None: Docker's exec API only).
    pub agent: Option<AgentConfig>,
    /// How many busy host processes the sandboxes together weigh, when the
    /// CPU is contended (see `cpu_group`; 0: the engine's default group).
    pub sandbox_cpu_weight: u32,
}

impl Default for DockerConfig {
    fn default() -> Self {
        DockerConfig {
            instance: "default".into(),
            network: NetworkChoice::Isolated {
                allow: Vec::new(),
                subnet: network::default_subnet(),
                names_dir: std::env::temp_dir().join("sockt-names"),
            },
            oci_runtime: None,
            tier_runtimes: HashMap::new(),
            agent: None,
            sandbox_cpu_weight: cpu_group::DEFAULT_WEIGHT,
        }
    }
}

pub struct DockerRuntime {
    docker: Docker,
    config: DockerConfig,
    /// The Docker network sandboxes are attached to (those of another
    /// runtime than the engine's default, when `routed` links the rest).
    network: String,
    /// Addresses and links of sandboxes on Sockt's isolated network.
    routed: Option<routed::Routed>,
    /// Per container, the out-of-memory kills already accounted for.
    oom_kills_seen: std::sync::Mutex<HashMap<String, u64>>,
    agents: Option<agent::Agents>,
    pool: pool::Pool,
    /// When a sandbox was last served (the pool refills in the quiet).
    activity: activity::Activity,
    /// Removals under way at once: terminates answer before their
    /// container goes, and hundreds of removals at once stall the engine
    /// for minutes (every create and claim behind them times out).
    removals: tokio::sync::Semaphore,
    /// Kills in flight, which starts wait for.
    kills_first: kills_first::KillsFirst,
    /// Init PIDs of running containers, to halt them without the engine.
    inits: inits::Inits,
    /// The weighted cgroup containers start under (None: the engine's default).
    cgroup_parent: Option<String>,
    /// Containers being made and started at once: past a few, the engine
    /// only shares the CPU among more of them (each takes longer, and the
    /// sandboxes already running get less of it).
    starts: tokio::sync::Semaphore,
}

/// The most containers the engine is asked to remove at once.
const REMOVALS_AT_ONCE: usize = 4;
/// The most containers the engine is asked to make and start at once.
const STARTS_AT_ONCE: usize = 6;

/// What a container is made for.
#[derive(Clone, Copy)]
enum Purpose<'a> {
    Sandbox(&'a str),
    Pool,
}

/// A client of the local engine, on an API version both speak; nothing
/// else is set up (a tool that only builds an image uses this).
pub async fn engine() -> anyhow::Result<Docker> {
    let docker = Docker::connect_with_local_defaults()?
        .negotiate_version()
        .await?;
    docker
        .ping()
        .await
        .map_err(|e| anyhow::anyhow!("the Docker engine does not answer: {e}"))?;
    Ok(docker)
}

impl DockerRuntime {
    /// Connect to the local engine and set up what sandboxes need (their
    /// network and its rules, their cgroup): for the server alone.
    pub async fn connect(config: DockerConfig) -> anyhow::Result<DockerRuntime> {
        let docker = engine().await?;
        check_runtimes(&docker, &config).await?;
        let (network, routed) = match &config.network {
            NetworkChoice::Isolated {
                allow,
                subnet,
                names_dir,
            } => {
                routed::check_subnet(*subnet).await?;
                let (name, bridge) = network::ensure_isolated(&docker).await?;
                let (allow, cidr) = (allow.clone(), subnet.to_string());
                tokio::task::spawn_blocking(move || {
                    firewall::guard_bridge(&bridge, &allow)?;
                    firewall::guard_routed(&cidr, &allow)?;
                    // IPv4 only: the host answers nothing over IPv6 on the
                    // bridge, and no IPv6 packet from a sandbox passes.
                    if std::path::Path::new("/sys/class/net")
                        .join(&bridge)
                        .exists()
                    {
                        routed::disable_ipv6(&bridge).map_err(anyhow::Error::msg)?;
                    }
                    firewall::refuse_ipv6(&[&bridge, routed::HOST_ENDS])
                })
                .await??;
                let reserved = routed::reservations();
                routed::sweep(&reserved, &routed_addresses(&docker).await?).await;
                reconcile_policies(&docker, &name).await?;
                let names =
                    names::NameFiles::write(names_dir, std::path::Path::new("/etc/resolv.conf"))?;
                (name, Some(routed::Routed::new(*subnet, names)))
            }
            NetworkChoice::Engine(name) => (name.clone(), None),
        };
        let agents = match &config.agent {
            Some(agent_config) => {
                let agents = agent::Agents::new(agent_config.clone())?;
                agents.sweep(&slots_in_use(&docker).await?, SLOT_SWEEP_AGE);
                Some(agents)
            }
            None => None,
        };
        let cgroup_parent = cpu_group::prepare(&docker, config.sandbox_cpu_weight).await;
        Ok(DockerRuntime {
            docker,
            config,
            cgroup_parent,
            network,
            routed,
            oom_kills_seen: std::sync::Mutex::default(),
            removals: tokio::sync::Semaphore::new(REMOVALS_AT_ONCE),
            kills_first: kills_first::KillsFirst::default(),
            inits: inits::Inits::default(),
            starts: tokio::sync::Semaphore::new(STARTS_AT_ONCE),
            agents,
            pool: pool::Pool::new(PoolConfig::default()),
            activity: activity::Activity::new(),
        })
    }

    /// Keep a warm pool of this size (call before `start_pool`).
    pub fn with_pool(mut self, config: PoolConfig) -> Self {
        self.pool = pool::Pool::new(config);
        self
    }

    /// Take in the pooled containers a previous run left (removing those
    /// the pool no longer wants), then keep the pool filled in the
    /// background until `shutdown` (or the runtime is dropped).
    pub async fn start_pool(
        self: &Arc<Self>,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Result<(), RuntimeError> {
        let found = self.list_ours(pool::LABEL_POOL.to_string()).await?;
        for container in found {
            let waiting = container
                .names
                .iter()
                .flatten()
                .any(|n| n.trim_start_matches('/').starts_with(pool::POOL_PREFIX));
            let Some(id) = container.id.clone() else {
                continue;
            };
            if !waiting {
                continue;
            }
            let tier = container
                .labels
                .as_ref()
                .and_then(|l| l.get(pool::LABEL_POOL))
                .cloned()
                .unwrap_or_default();
            let label = |name: &str| container.labels.as_ref().and_then(|l| l.get(name));
            let build = label(agent::LABEL_AGENT_BUILD);
            let usable = label(pool::LABEL_POOL_OWNER).map(String::as_str)
                == Some(self.pool.owner())
                && container.state == Some(ContainerSummaryStateEnum::RUNNING)
                && container.image.as_deref() == Some(self.pool.image())
                && build.map(String::as_str) == self.agents.as_ref().map(|a| a.build());
            if !(usable && self.pool.adopt(&tier, id.clone())) {
                self.destroy(&id).await?;
            }
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = keep_pool_filled(weak) => {}
            }
        });
        Ok(())
    }

    /// This store's containers (in any state) that carry `label`.
    async fn list_ours(
        &self,
        label: String,
    ) -> Result<Vec<bollard::models::ContainerSummary>, RuntimeError> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![label, format!("{LABEL_INSTANCE}={}", self.config.instance)],
        )]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        self.docker
            .list_containers(Some(options))
            .await
            .map_err(|e| map_err(e, PathContext::None))
    }

    /// Whether sandboxes join Sockt's isolated network (where policies live).
    fn is_isolated(&self) -> bool {
        matches!(self.config.network, NetworkChoice::Isolated { .. })
    }

    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// Run a helper command as the sandbox user and collect its output.
    async fn run_helper(
        &self,
        container: &str,
        cmd: Vec<String>,
    ) -> Result<(i64, Vec<u8>, Vec<u8>), RuntimeError> {
        self.run_as_sandbox_user(container, cmd, None, MAX_HELPER_OUTPUT)
            .await
    }

    /// Run `cmd` as the sandbox user with `stdin` fed to it (then closed);
    /// its exit code, stdout (up to `max_stdout` bytes) and stderr.
    async fn run_as_sandbox_user(
        &self,
        container: &str,
        cmd: Vec<String>,
        stdin: Option<Vec<u8>>,
        max_stdout: usize,
    ) -> Result<(i64, Vec<u8>, Vec<u8>), RuntimeError> {
        use tokio::io::AsyncWriteExt;
        let exec = self
            .docker
            .create_exec(
                container,
                CreateExecOptions {
                    attach_stdin: Some(stdin.is_some()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    user: Some(SANDBOX_USER.to_string()),
                    cmd: Some(cmd),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| map_err(e, PathContext::None))?;
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        if let StartExecResults::Attached {
            mut output,
            mut input,
        } = self
            .docker
            .start_exec(&exec.id, None::<StartExecOptions>)
            .await
            .map_err(|e| map_err(e, PathContext::None))?
        {
            let feed = async move {
                if let Some(bytes) = stdin {
                    input.write_all(&bytes).await?;
                    input.flush().await?;
                }
                input.shutdown().await
            };
            let collect = async {
                while let Some(item) = output.next().await {
                    match item.map_err(|e| map_err(e, PathContext::None))? {
                        LogOutput::StdOut { message } if stdout.len() < max_stdout => {
                            let room = max_stdout - stdout.len();
                            stdout.extend_from_slice(&message[..message.len().min(room)]);
                        }
                        LogOutput::StdErr { message } if stderr.len() < MAX_HELPER_OUTPUT => {
                            stderr.extend_from_slice(&message)
                        }
                        _ => {}
                    }
                }
                Ok::<(), RuntimeError>(())
            };
            let (fed, collected) = tokio::join!(feed, collect);
            collected?;
            // A script that stops reading early closes its stdin: not an error.
            let _ = fed;
        }
        let code = self.exit_code(&exec.id).await?;
        Ok((code, stdout, stderr))
    }

    async fn exit_code(&self, exec_id: &str) -> Result<i64, RuntimeError> {
        let inspect = self
            .docker
            .inspect_exec(exec_id)
            .await
            .map_err(|e| map_err(e, PathContext::None))?;
        inspect
            .exit_code
            .ok_or_else(|| RuntimeError::Failed("the engine reported no exit code".into()))
    }
}

/// The writable root `path` lies strictly inside, and the path relative to it.
fn split_writable(path: &str) -> Option<(&'static str, &str)> {
    WRITABLE_ROOTS.iter().find_map(|root| {
        let rest = path.strip_prefix(root)?.strip_prefix('/')?;
        (!rest.is_empty()).then_some((*root, rest))
    })
}

/// Agent slots older than this with no container are left-overs.
const SLOT_SWEEP_AGE: std::time::Duration = std::time::Duration::from_secs(600);
/// Pool containers made at the same time (in the quiet; one at a time
/// while sandboxes are busy).
const POOL_FILL_PARALLEL: usize = 4;
/// The refill makes a container once sandboxes have been left alone this
/// long, or after waiting at most `REFILL_YIELD_AT_MOST` for that.
const REFILL_QUIET: std::time::Duration = std::time::Duration::from_millis(200);
const REFILL_YIELD_AT_MOST: std::time::Duration = std::time::Duration::from_secs(2);

/// The values of `label` on every container of the engine that has it (of
/// every store, in any state).
async fn label_everywhere(docker: &Docker, label: &str) -> anyhow::Result<Vec<String>> {
    let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    Ok(docker
        .list_containers(Some(options))
        .await?
        .into_iter()
        .filter_map(|c| c.labels?.get(label).cloned())
        .collect())
}

/// The agent slots of every container on the engine.
async fn slots_in_use(docker: &Docker) -> anyhow::Result<std::collections::HashSet<String>> {
    Ok(label_everywhere(docker, agent::LABEL_AGENT)
        .await?
        .into_iter()
        .collect())
}

/// Refill the pool whenever it has room, a few containers at a time, until
/// the runtime is dropped.
async fn keep_pool_filled(runtime: std::sync::Weak<DockerRuntime>) {
    loop {
        let Some(strong) = runtime.upgrade() else {
            return;
        };
        let mut making = tokio::task::JoinSet::new();
        // After a failure, finish what is under way and wait before retrying.
        let mut failed = false;
        loop {
            for tier in strong.pool.tiers() {
                while !failed && making.len() < POOL_FILL_PARALLEL && strong.pool.reserve(&tier) {
                    // A burst of commands goes first; under a steady load
                    // the pool still refills, one container at a time.
                    let calm = strong
                        .activity
                        .quiet(REFILL_QUIET, REFILL_YIELD_AT_MOST)
                        .await;
                    while let Some(done) = making.try_join_next() {
                        failed |= !matches!(done, Ok(true));
                    }
                    if failed || (!calm && !making.is_empty()) {
                        strong.pool.made(&tier, None);
                        break;
                    }
                    let maker = strong.clone();
                    let tier = tier.clone();
                    making.spawn(async move {
                        let made = maker.make_pooled(&tier).await;
                        if let Err(e) = &made {
                            tracing::warn!(tier, error = %e, "could not make a pooled container");
                        }
                        let ok = made.is_ok();
                        maker.pool.made(&tier, made.ok());
                        ok
                    });
                }
            }
            match making.join_next().await {
                None => break,
                Some(done) => failed |= !matches!(done, Ok(true)),
            }
        }
        let wake = strong.pool.wake.clone();
        drop(strong);
        // Also look again now and then: a failed make is retried.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), wake.notified()).await;
    }
}

/// Every OCI runtime the configuration names must be one the engine knows.
async fn check_runtimes(docker: &Docker, config: &DockerConfig) -> anyhow::Result<()> {
    let named: std::collections::BTreeSet<&String> = config
        .tier_runtimes
        .values()
        .chain(config.oci_runtime.iter())
        .collect();
    if named.is_empty() {
        return Ok(());
    }
    let known = docker.info().await?.runtimes.unwrap_or_default();
    for runtime in named {
        anyhow::ensure!(
            known.contains_key(runtime.as_str()),
            "the Docker engine has no OCI runtime named {runtime:?} (it knows: {}); register it in /etc/docker/daemon.json (\"runtimes\") or see SOCKT_OCI_RUNTIME / SOCKT_TIER_RUNTIMES",
            known.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// The container's IPv4 address on Sockt's isolated network: its routed
/// link's, or else its address on the Docker `network`.
fn address_on(info: &ContainerInspectResponse, network: &str) -> Option<Ipv4Addr> {
    routed_address(info).or_else(|| docker_address(info, network))
}

/// The routed address a container is labelled with, while it holds it: a
/// stopped container's link went with its namespace, and its address may
/// be another sandbox's by now.
fn routed_address(info: &ContainerInspectResponse) -> Option<Ipv4Addr> {
    use bollard::models::ContainerStateStatusEnum as State;
    let status = info.state.as_ref()?.status?;
    if !matches!(
        status,
        State::CREATED | State::RUNNING | State::PAUSED | State::RESTARTING
    ) {
        return None;
    }
    label_of(info, routed::LABEL_ADDRESS)?.parse().ok()
}

/// The address a container that never started still holds in reserve.
fn reserved_address(info: &ContainerInspectResponse) -> Option<Ipv4Addr> {
    use bollard::models::ContainerStateStatusEnum as State;
    (info.state.as_ref()?.status? == State::CREATED)
        .then(|| routed_address(info))
        .flatten()
}

/// The container's IPv4 address on the Docker network `network`.
fn docker_address(info: &ContainerInspectResponse, network: &str) -> Option<Ipv4Addr> {
    info.network_settings
        .as_ref()?
        .networks
        .as_ref()?
        .get(network)?
        .ip_address
        .as_deref()?
        .parse()
        .ok()
}

/// Remove the policy chain of `address` (none there: nothing to do).
async fn remove_policy(address: Ipv4Addr) -> Result<(), RuntimeError> {
    let failed = |e: String| RuntimeError::Failed(format!("removing the network policy: {e}"));
    tokio::task::spawn_blocking(move || policies::remove(address))
        .await
        .map_err(|e| failed(e.to_string()))?
        .map_err(|e| failed(e.to_string()))
}

/// How long a directly killed container's processes may take to be gone
/// before the engine is asked to kill it.
const DIRECT_KILL_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A running, unpaused runc container's full id and init PID: one whose
/// processes `direct_kill` can end (a frozen one takes no signal; another
/// runtime's init PID may not be the sandbox's).
fn directly_killable(info: &ContainerInspectResponse) -> Option<(String, i64)> {
    let state = info.state.as_ref()?;
    let runc = info
        .host_config
        .as_ref()
        .and_then(|h| h.runtime.as_deref())
        .is_none_or(|runtime| runtime == "runc");
    let live = state.running == Some(true) && state.paused != Some(true);
    (runc && live).then_some(())?;
    Some((info.id.clone()?, state.pid?))
}

/// Whether `direct_kill` ended the container (else the engine kills it).
async fn killed_directly(container_id: &str, pid: i64) -> bool {
    match direct_kill::kill_container_init(container_id, pid, DIRECT_KILL_WAIT).await {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(container_id, error = %e, "killing through the engine");
            false
        }
    }
}

/// A label of the container.
fn label_of(info: &ContainerInspectResponse, label: &str) -> Option<String> {
    info.config.as_ref()?.labels.as_ref()?.get(label).cloned()
}

/// The policy a container's label records (open when it has none).
fn policy_of(info: &ContainerInspectResponse) -> Option<NetworkPolicy> {
    let label = info.config.as_ref()?.labels.as_ref()?.get(LABEL_NETWORK)?;
    serde_json::from_str(label).ok()
}

/// The routed addresses labelled on the engine's containers (of every
/// store, in any state).
async fn routed_addresses(docker: &Docker) -> anyhow::Result<std::collections::BTreeSet<Ipv4Addr>> {
    Ok(label_everywhere(docker, routed::LABEL_ADDRESS)
        .await?
        .iter()
        .filter_map(|address| address.parse().ok())
        .collect())
}

/// At start, make the kernel's per-sandbox rules match the containers on
/// the isolated network (of every store: the network is shared): chains of
/// addresses no container holds go (only those that existed before looking,
/// so a chain another process writes meanwhile is kept), and every
/// container with a policy gets its chain (re)written.
async fn reconcile_policies(docker: &Docker, network: &str) -> anyhow::Result<()> {
    let before = tokio::task::spawn_blocking(policies::addresses_with_chains).await??;
    let attached = docker.inspect_network(network, None).await?;
    let mut in_use: std::collections::BTreeSet<Ipv4Addr> = attached
        .containers
        .unwrap_or_default()
        .values()
        .filter_map(|c| c.ipv4_address.as_deref()?.split('/').next()?.parse().ok())
        .collect();
    in_use.extend(routed_addresses(docker).await?);
    for stale in before.difference(&in_use).copied() {
        // Another server starting now may be removing the same chain.
        if let Err(e) = remove_policy(stale).await {
            tracing::warn!(address = %stale, error = %e, "could not remove a stale policy chain");
        }
    }
    let filters = HashMap::from([("label".to_string(), vec![LABEL_NETWORK.to_string()])]);
    let options = ListContainersOptionsBuilder::new()
        .filters(&filters)
        .build();
    for container in docker.list_containers(Some(options)).await? {
        let Some(id) = container.id else { continue };
        let Ok(info) = docker.inspect_container(&id, None).await else {
            continue;
        };
        if let (Some(address), Some(policy)) = (address_on(&info, network), policy_of(&info)) {
            let resolved = policies::resolve(&policy).await;
            tokio::task::spawn_blocking(move || policies::apply(address, &resolved)).await??;
        }
    }
    Ok(())
}

/// The exit code of a process killed by SIGKILL.
const KILLED_EXIT: i64 = 137;

/// The `oom_kill` count in a cgroup memory file.
fn oom_kills(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
}

/// `sh -c script` with `args` as `$1`, `$2`, ...
fn script<const N: usize>(script: &str, args: [&str; N]) -> Vec<String> {
    let mut cmd = vec![
        "/bin/sh".into(),
        "-c".into(),
        script.into(),
        "sockt-files".into(),
    ];
    cmd.extend(args.iter().map(|a| a.to_string()));
    cmd
}

impl DockerRuntime {
    /// Whether the kernel's out-of-memory killer struck in the container
    /// since the last time this was asked (its cgroup's `oom_kill` count
    /// grew: memory.events on cgroup v2, memory.oom_control on v1).
    async fn memory_ran_out(&self, container: &str) -> bool {
        let mut kills = None;
        for file in [
            "/sys/fs/cgroup/memory.events",
            "/sys/fs/cgroup/memory/memory.oom_control",
        ] {
            if let Ok(content) = self.read_file(container, file, 64 * 1024).await {
                kills = oom_kills(&String::from_utf8_lossy(&content.bytes));
                break;
            }
        }
        let Some(kills) = kills else {
            return false;
        };
        let mut seen = self
            .oom_kills_seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let before = seen.insert(container.to_string(), kills).unwrap_or(0);
        kills > before
    }

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

    /// SIGKILL every process of the container (not waiting for it to stop).
    async fn kill(&self, container: &str) -> Result<(), RuntimeError> {
        let killing = self.kills_first.killing();
        let killed = self.docker.kill_container(container, None).await;
        drop(killing);
        match killed {
            Ok(()) => Ok(()),
            Err(e) => match map_err(e, PathContext::None) {
                RuntimeError::ContainerGone => Ok(()),
                // Not running (stopped, or being removed): nothing runs in it.
                RuntimeError::Failed(m) if m.contains("is not running") => Ok(()),
                // A paused container is killed through its removal.
                RuntimeError::Failed(m) if m.contains("paused") => self.destroy(container).await,
                other => Err(other),
            },
        }
    }

    /// Whether the container is running or paused.
    async fn is_up(&self, container: &str) -> bool {
        self.docker
            .inspect_container(container, None)
            .await
            .ok()
            .and_then(|info| info.state)
            .is_some_and(|state| state.running == Some(true) || state.paused == Some(true))
    }

    /// Create and start a container: the sandbox's (or adopt the one an
    /// earlier attempt made), or one for the pool.
    async fn create_container(
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

    /// A container for the pool, of the tier's runtime, open network and
    /// no environment of its own.
    async fn make_pooled(&self, tier: &str) -> Result<String, RuntimeError> {
        let tier = domain::Tier::of(
            tier.parse()
                .map_err(|e: domain::tier::UnknownTier| RuntimeError::Failed(e.to_string()))?,
        );
        let spec = SandboxSpec {
            sandbox_id: String::new(),
            image: self.pool.image().to_string(),
            runtime: self.runtime_for(&tier),
            tier,
            network: NetworkPolicy::default(),
            env: domain::env::EnvVars::default(),
        };
        self.create_container(&spec, Purpose::Pool).await
    }

    /// Give the sandbox a container from the pool, if one waits that fits
    /// the spec exactly: it takes the sandbox's name (which makes the claim
    /// atomic: a second claim for the same sandbox finds the name taken and
    /// adopts the first).
    async fn claim_pooled(&self, spec: &SandboxSpec) -> Option<Result<String, RuntimeError>> {
        let tier = spec.tier.name.as_str();
        let fits = self.pool.serves(tier)
            && spec.env.is_empty()
            && spec.network.is_open()
            && spec.image == self.pool.image()
            && spec.runtime == self.runtime_for(&spec.tier);
        if !fits {
            return None;
        }
        let name = format!("sockt-{}", spec.sandbox_id);
        while let Some(container) = self.pool.take(tier) {
            if !self.still_waiting(&container).await {
                let _ = self.destroy(&container).await;
                continue;
            }
            let rename = bollard::query_parameters::RenameContainerOptionsBuilder::new()
                .name(&name)
                .build();
            return Some(
                match self.docker.rename_container(&container, rename).await {
                    Ok(()) => Ok(container),
                    Err(e)
                        if e.to_string().contains("already in use")
                            || errors::is_name_conflict(&e) =>
                    {
                        let _ = self.destroy(&container).await;
                        self.adopt(&name).await
                    }
                    Err(e) => {
                        let _ = self.destroy(&container).await;
                        Err(map_err(e, PathContext::None))
                    }
                },
            );
        }
        None
    }

    /// Whether a pooled container still runs, unclaimed.
    async fn still_waiting(&self, container: &str) -> bool {
        let Ok(info) = self.docker.inspect_container(container, None).await else {
            return false;
        };
        let unclaimed = info
            .name
            .as_deref()
            .is_some_and(|n| n.trim_start_matches('/').starts_with(pool::POOL_PREFIX));
        unclaimed
            && info
                .state
                .is_some_and(|state| state.running == Some(true) && state.paused != Some(true))
    }

    /// Give the container its network policy in the kernel (on Sockt's
    /// isolated network; elsewhere only the open policy can be honoured).
    async fn enforce_policy(
        &self,
        container: &str,
        policy: &NetworkPolicy,
    ) -> Result<(), RuntimeError> {
        // Halting it removes its rules, found by its address: the engine's way.
        self.inits.forget(container);
        if !self.is_isolated() {
            return if policy.is_open() {
                Ok(())
            } else {
                Err(RuntimeError::Failed(
                    "this server's sandboxes join an engine network (SOCKT_SANDBOX_NETWORK), where network policies cannot be enforced".into(),
                ))
            };
        }
        let info = self
            .docker
            .inspect_container(container, None)
            .await
            .map_err(|e| map_err(e, PathContext::None))?;
        let address = address_on(&info, &self.network).ok_or_else(|| {
            RuntimeError::NoNetwork(format!("it has no address on '{}'", self.network))
        })?;
        let resolved = policies::resolve(policy).await;
        tokio::task::spawn_blocking(move || policies::apply(address, &resolved))
            .await
            .map_err(|e| RuntimeError::Failed(format!("applying the network policy: {e}")))?
            .map_err(|e| RuntimeError::Failed(format!("applying the network policy: {e}")))
    }

    /// Take over the sandbox's existing container (named after the sandbox),
    /// starting it if it never started; only one of this store's.
    async fn adopt(&self, name: &str) -> Result<String, RuntimeError> {
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
    async fn link_up(&self, container: &str) -> Result<(), RuntimeError> {
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
        // The exec's process is a session leader; the marker in its
        // environment (inherited by its children) lets kill_exec find it.
        let exec = self
            .docker
            .create_exec(
                container,
                CreateExecOptions {
                    attach_stdin: Some(request.stdin.is_some()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    user: Some(SANDBOX_USER.to_string()),
                    working_dir: Some(request.working_dir.clone()),
                    env: Some(
                        request
                            .env
                            .entries()
                            .chain([format!("{EXEC_MARKER}={}", request.execution_id)])
                            .collect(),
                    ),
                    cmd: Some(vec![
                        "/bin/bash".into(),
                        "-lc".into(),
                        request.command.clone(),
                    ]),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| map_err(e, PathContext::None))?;
        let started = self
            .docker
            .start_exec(&exec.id, None::<StartExecOptions>)
            .await
            .map_err(|e| map_err(e, PathContext::WorkingDir(&request.working_dir)))?;
        if let StartExecResults::Attached { mut output, input } = started {
            if let Some(mut fed) = request.stdin.as_ref().and_then(|pipe| pipe.take()) {
                let mut input = input;
                tokio::spawn(async move {
                    use tokio::io::AsyncWriteExt;
                    while let Some(bytes) = fed.next().await {
                        if input.write_all(&bytes).await.is_err() || input.flush().await.is_err() {
                            return;
                        }
                    }
                    let _ = input.shutdown().await;
                });
            }
            while let Some(item) = output.next().await {
                match item.map_err(|e| map_err(e, PathContext::WorkingDir(&request.working_dir)))? {
                    LogOutput::StdOut { message } | LogOutput::Console { message } => {
                        sink.push(OutputStream::Stdout, &message)
                    }
                    LogOutput::StdErr { message } => sink.push(OutputStream::Stderr, &message),
                    LogOutput::StdIn { .. } => {}
                }
            }
        }
        let code = self.exit_code(&exec.id).await?;
        if code == KILLED_EXIT {
            return Ok(ExecExit {
                code,
                out_of_memory: self.memory_ran_out(container).await,
            });
        }
        // runc reports a missing working directory as exit 126/127 with a message on stdout.
        if code == 126 || code == 127 {
            let (exists, _, _) = self
                .run_helper(
                    container,
                    vec!["test".into(), "-d".into(), request.working_dir.clone()],
                )
                .await?;
            if exists != 0 {
                return Err(RuntimeError::FileNotFound(format!(
                    "working_dir {}",
                    request.working_dir
                )));
            }
        }
        Ok(ExecExit::code(code))
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
        // Kill every process carrying the execution's marker, and every
        // process of their sessions (children that cleared their environment).
        let script = "for round in 1 2 3; do \
                        for d in /proc/[0-9]*; do \
                          tr '\\0' '\\n' < \"$d/environ\" 2>/dev/null | grep -qx \"$1\" || continue; \
                          pid=${d#/proc/}; sid=$(ps -o sid= -p \"$pid\" 2>/dev/null | tr -d ' '); \
                          [ -n \"$sid\" ] && [ \"$sid\" != 0 ] && pkill -KILL -s \"$sid\" 2>/dev/null; \
                          kill -KILL \"$pid\" 2>/dev/null; \
                        done; \
                      done; exit 0";
        self.run_helper(
            container,
            vec![
                "/bin/sh".into(),
                "-c".into(),
                script.into(),
                "sockt-kill".into(),
                marker,
            ],
        )
        .await
        .map(|_| ())
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
        let cmd = script(
            files::WRITE_SCRIPT,
            [path, if create_dirs { "1" } else { "0" }],
        );
        let (code, _, stderr) = self
            .run_as_sandbox_user(container, cmd, Some(bytes), 0)
            .await?;
        match code {
            0 => Ok(()),
            files::MISSING_PARENT => Err(RuntimeError::FileNotFound(format!(
                "{} (pass create_dirs to create it)",
                path.rsplit_once('/').map_or("/", |(parent, _)| parent)
            ))),
            code => Err(files::refusal(code, path, &stderr)),
        }
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
        let limit = usize::try_from(max_bytes).unwrap_or(usize::MAX);
        let cmd = script(files::READ_SCRIPT, [path, &max_bytes.to_string()]);
        let (code, bytes, stderr) = self
            .run_as_sandbox_user(container, cmd, None, limit)
            .await?;
        if code != 0 {
            return Err(files::refusal(code, path, &stderr));
        }
        Ok(FileContent {
            size: files::reported_size(&stderr)?,
            bytes,
        })
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
        // One entry past the limit tells a listing too long.
        let script = "[ -e \"$1\" ] || exit 3; [ -d \"$1\" ] || exit 4; \
                      find \"$1\" -mindepth 1 -maxdepth \"$2\" -printf '%y\\t%s\\t%T@\\t%P\\0' 2>/dev/null \
                      | head -z -n \"$3\"; exit 0";
        let limit = sockt_agent::protocol::MAX_LISTED_ENTRIES;
        let (code, stdout, _) = self
            .run_helper(
                container,
                vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    script.into(),
                    "sockt-ls".into(),
                    path.into(),
                    max_depth.to_string(),
                    (limit + 1).to_string(),
                ],
            )
            .await?;
        match code {
            3 => return Err(RuntimeError::FileNotFound(path.to_string())),
            4 => return Err(RuntimeError::NotADirectory(path.to_string())),
            _ => {}
        }
        if stdout.split(|b| *b == 0).filter(|r| !r.is_empty()).count() > limit {
            return Err(RuntimeError::TooManyEntries {
                path: path.to_string(),
                limit,
            });
        }
        let mut entries: Vec<FileEntry> = stdout
            .split(|b| *b == 0)
            .filter(|record| !record.is_empty())
            .filter_map(|record| {
                let text = String::from_utf8_lossy(record);
                let mut fields = text.splitn(4, '\t');
                let kind = fields.next()?;
                let size = fields.next()?.parse().ok()?;
                let mod_ts = fields.next()?.split('.').next()?.parse().ok()?;
                let name = fields.next()?.to_string();
                Some(FileEntry {
                    name,
                    size,
                    mod_ts,
                    is_dir: kind == "d",
                })
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
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

/// The sandbox a container serves: its label, or for a container claimed
/// from the pool its name; None for one still waiting in the pool.
fn sandbox_of(container: &bollard::models::ContainerSummary) -> Option<String> {
    if let Some(id) = container.labels.as_ref()?.get(LABEL_SANDBOX) {
        return Some(id.clone());
    }
    let name = container.names.as_ref()?.first()?.trim_start_matches('/');
    if name.starts_with(pool::POOL_PREFIX) {
        return None;
    }
    name.strip_prefix("sockt-").map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oom_kill_count_is_read_from_either_cgroup_version() {
        assert_eq!(
            oom_kills("low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n"),
            Some(2)
        );
        assert_eq!(
            oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"),
            Some(1)
        );
        assert_eq!(oom_kills("nothing"), None);
    }

    #[test]
    fn the_writable_places_share_the_tiers_disk() {
        let places = writable_places(128);
        assert!(places[SANDBOX_HOME].starts_with("size=96m,uid=1000"));
        assert!(places["/tmp"].starts_with("size=32m,mode=1777"));
    }

    #[test]
    fn only_home_and_tmp_are_writable() {
        assert_eq!(
            split_writable("/home/sandbox/a/b"),
            Some((SANDBOX_HOME, "a/b"))
        );
        assert_eq!(split_writable("/tmp/x"), Some(("/tmp", "x")));
        assert_eq!(split_writable("/home/sandbox"), None);
        assert_eq!(split_writable("/home/sandboxed/x"), None);
        assert_eq!(split_writable("/etc/passwd"), None);
    }
}
