//! The Docker runtime adapter (bollard): one hardened container per sandbox.
//! Its layers, one file each: `runtime` (the `SandboxRuntime` port, agent
//! first), `containers` (make, adopt, link, remove), `pool_refill` (the warm
//! pool kept filled and claimed from; `pool` its bookkeeping), `kill`
//! (direct and engine kills, out-of-memory), `engine_exec`, `files`,
//! `shell` and `helper_exec` (what runs through Docker's exec API where a
//! sandbox has no agent), `agent` (the agent's protocol), `inspect` (what a
//! container's inspection tells), `engine` (the engine and its listings);
//! the network: `network`, `routed`, `names`, `policy_enforcement` over
//! `policies`, `firewall` and `iptables`.

mod activity;
pub mod agent;
mod containers;
pub mod cpu_group;
pub mod direct_kill;
mod engine;
mod engine_exec;
mod errors;
mod files;
pub mod firewall;
mod helper_exec;
mod inits;
mod inspect;
pub mod iptables;
mod kill;
mod kills_first;
pub mod names;
pub mod network;
pub mod policies;
mod policy_enforcement;
pub mod pool;
mod pool_owners;
mod pool_refill;
pub mod routed;
mod runtime;
mod shell;
mod sweep;

pub use agent::AgentConfig;
pub use pool::PoolConfig;

pub use engine::engine;
pub use network::NetworkChoice;

use bollard::Docker;
use engine::{check_runtimes, routed_addresses, slots_in_use};
use policy_enforcement::reconcile_policies;
use std::collections::HashMap;

pub const LABEL_MANAGED: &str = "sockt.managed";
pub const LABEL_SANDBOX: &str = "sockt.sandbox_id";
pub const LABEL_TIER: &str = "sockt.tier";
/// The store a container belongs to.
pub const LABEL_INSTANCE: &str = "sockt.instance";
/// The sandbox's network policy (JSON), on containers whose policy narrows
/// the open default.
pub const LABEL_NETWORK: &str = "sockt.network";
pub(crate) const SANDBOX_USER: &str = "sandbox";
/// Environment variable naming the execution a process belongs to.
pub(crate) const EXEC_MARKER: &str = "SOCKT_EXEC_ID";

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

    /// Whether sandboxes join Sockt's isolated network (where policies live).
    fn is_isolated(&self) -> bool {
        matches!(self.config.network, NetworkChoice::Isolated { .. })
    }

    pub fn client(&self) -> &Docker {
        &self.docker
    }
}

/// Agent slots older than this with no container are left-overs.
const SLOT_SWEEP_AGE: std::time::Duration = std::time::Duration::from_secs(600);
