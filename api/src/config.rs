//! Configuration: one typed struct per command, read once from flags and
//! `SOCKT_*` environment variables. Nothing else reads the environment.

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "sockt",
    version,
    about = "Sockt: sandboxes for AI agents, billed per second"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (REST API, metrics, health).
    Serve(Box<ServeConfig>),
    /// Manage the sandbox image.
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Manage accounts and their credits.
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
    /// Verify the whole event store: hash chains and the ledger invariant.
    Audit {
        #[command(flatten)]
        store: StoreConfig,
        /// Print a machine-readable report.
        #[arg(long)]
        json: bool,
    },
    /// Copy the live store into a new file (SQLite; for PostgreSQL use pg_dump).
    Backup {
        #[command(flatten)]
        store: StoreConfig,
        /// The file to write (it must not exist).
        destination: PathBuf,
    },
    /// Bring a backup back into a data directory that holds no store yet.
    Restore {
        #[command(flatten)]
        store: StoreConfig,
        /// The backup file `sockt backup` wrote.
        source: PathBuf,
    },
    /// Read models.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Measure Sockt against the plain docker CLI on this machine (runs
    /// `sockt-bench`, installed beside `sockt`; `sockt bench --help` lists
    /// its options).
    #[command(disable_help_flag = true)]
    Bench {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Rebuild every read model from the events, check two rebuilds agree, and report the replay speed.
    Rebuild {
        #[command(flatten)]
        store: StoreConfig,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build the default sandbox image from Debian packages (reused when present).
    Build(ImageConfig),
}

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Open an account and print its API key (once, alone on the last line).
    Create {
        #[command(flatten)]
        store: StoreConfig,
        /// Credits to deposit, in US cents.
        #[arg(long, default_value_t = 0)]
        credits_cents: u64,
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Deposit credits into an account.
    Deposit {
        #[command(flatten)]
        store: StoreConfig,
        #[arg(long)]
        account_id: String,
        #[arg(long)]
        credits_cents: u64,
    },
}

/// Where the event store lives.
#[derive(Debug, Clone, Args)]
pub struct StoreConfig {
    /// Directory for the embedded SQLite store and build files.
    #[arg(long, env = "SOCKT_DATA_DIR", default_value = ".data")]
    pub data_dir: PathBuf,
    /// PostgreSQL URL (postgres://...); the embedded SQLite store when unset.
    #[arg(long, env = "SOCKT_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,
}

#[derive(Debug, Clone, Args)]
pub struct ImageConfig {
    #[command(flatten)]
    pub store: StoreConfig,
    /// Image every sandbox runs; the default is built locally from Debian packages.
    #[arg(long, env = "SOCKT_SANDBOX_IMAGE", default_value = adapters::image::DEFAULT_IMAGE)]
    pub sandbox_image: String,
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address and port to listen on.
    #[arg(long, env = "SOCKT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub image: ImageConfig,
    /// Bearer token for the admin endpoints (/v1/admin/...); disabled when unset.
    #[arg(long, env = "SOCKT_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<SecretString>,
    /// Base URL clients reach this server at (for proxy_url); defaults to http://LISTEN.
    #[arg(long, env = "SOCKT_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Domain under which proxied apps get origins of their own:
    /// `{sandbox_id}-{port}.{domain}` (with the public URL's scheme and port).
    /// `localhost` needs no DNS locally; a public server points a wildcard
    /// record at itself.
    #[arg(long, env = "SOCKT_PROXY_DOMAIN", default_value = "localhost")]
    pub proxy_domain: String,
    /// Requests per minute per API key, sandbox token or anonymous address.
    #[arg(long, env = "SOCKT_RATE_LIMIT_PER_MINUTE", default_value_t = 300)]
    pub rate_limit_per_minute: u32,
    /// Most sandboxes holding a container at once.
    #[arg(long, env = "SOCKT_MAX_SANDBOXES", default_value_t = 50)]
    pub max_sandboxes: usize,
    /// Credits allocated to a credits sandbox created without initial_credits_cents.
    #[arg(long, env = "SOCKT_DEFAULT_CREDITS_CENTS", default_value_t = 100)]
    pub default_credits_cents: u64,
    /// Default exec timeout in milliseconds.
    #[arg(long, env = "SOCKT_EXEC_TIMEOUT_MS", default_value_t = 30_000)]
    pub exec_timeout_ms: u64,
    /// Largest exec timeout a client may ask for, in milliseconds.
    #[arg(long, env = "SOCKT_MAX_EXEC_TIMEOUT_MS", default_value_t = 3_600_000)]
    pub max_exec_timeout_ms: u64,
    /// Output kept per execution, in bytes: the first half and the last half; what falls between is counted and flagged `truncated`.
    #[arg(long, env = "SOCKT_MAX_OUTPUT_BYTES", default_value_t = 1 << 20)]
    pub max_output_bytes: usize,
    /// Largest file written or read through the files API, in bytes.
    #[arg(long, env = "SOCKT_MAX_FILE_BYTES", default_value_t = 64 << 20)]
    pub max_file_bytes: u64,
    /// Seconds of balance under which a sandbox warns `low_balance`.
    #[arg(long, env = "SOCKT_LOW_BALANCE_SECS", default_value_t = 60)]
    pub low_balance_secs: u64,
    /// How often running time is recorded as a charge, in milliseconds.
    #[arg(long, env = "SOCKT_CHARGE_INTERVAL_MS", default_value_t = 10_000)]
    pub charge_interval_ms: u64,
    /// How often the read model is checkpointed to the store, in seconds
    /// (a start then replays only the events after the checkpoint).
    #[arg(long, env = "SOCKT_CHECKPOINT_INTERVAL_SECS", default_value_t = 30)]
    pub checkpoint_interval_secs: u64,
    /// Most sandboxes awaiting their first payment at once (then 503).
    #[arg(long, env = "SOCKT_MAX_AWAITING_PAYMENT", default_value_t = 1000)]
    pub max_awaiting_payment: usize,
    /// Most sandboxes awaiting their first payment per client address (then 429).
    #[arg(
        long,
        env = "SOCKT_MAX_AWAITING_PAYMENT_PER_CLIENT",
        default_value_t = 20
    )]
    pub max_awaiting_payment_per_client: usize,
    /// Live sandboxes one account may hold at once (then 429).
    #[arg(long, env = "SOCKT_MAX_SANDBOXES_PER_ACCOUNT", default_value_t = 20)]
    pub max_sandboxes_per_account: usize,
    /// Seconds a sandbox may stay paused before it is terminated with a
    /// refund (0: never).
    #[arg(long, env = "SOCKT_PAUSED_TTL", default_value_t = 7 * 24 * 3600)]
    pub paused_ttl: u64,
    /// Seconds a sandbox paused because its balance ran out may wait for
    /// a top-up before it is terminated (0: only SOCKT_PAUSED_TTL applies).
    #[arg(long, env = "SOCKT_UNFUNDED_GRACE_SECS", default_value_t = 600)]
    pub unfunded_grace_secs: u64,
    /// Seconds a paid Lightning sandbox waits for room (`queued`) before it
    /// ends with its refund.
    #[arg(long, env = "SOCKT_MAX_QUEUE_WAIT_SECS", default_value_t = 600)]
    pub max_queue_wait_secs: u64,
    /// Network sandboxes join: "isolated" (Sockt's own: no other sandbox,
    /// no host, no private or link-local range) or an engine network as is
    /// ("none", "bridge", a name).
    #[arg(long, env = "SOCKT_SANDBOX_NETWORK", default_value = "isolated")]
    pub sandbox_network: String,
    /// Addresses of isolated sandboxes (each gets a routed link of its own;
    /// must not overlap a network of the host's).
    #[arg(long, env = "SOCKT_SANDBOX_SUBNET", default_value = adapters::docker::network::DEFAULT_SUBNET)]
    pub sandbox_subnet: String,
    /// Private ranges isolated sandboxes may reach after all (comma-separated CIDRs).
    #[arg(long, env = "SOCKT_SANDBOX_ALLOW_CIDRS", value_delimiter = ',')]
    pub sandbox_allow_cidrs: Vec<String>,
    /// OCI runtime for sandboxes (e.g. runsc for gVisor); the engine's default when unset.
    #[arg(long, env = "SOCKT_OCI_RUNTIME")]
    pub oci_runtime: Option<String>,
    /// Per-tier OCI runtimes overriding SOCKT_OCI_RUNTIME (comma-separated
    /// tier=runtime, e.g. nano=runsc,micro=runsc).
    #[arg(long, env = "SOCKT_TIER_RUNTIMES", value_delimiter = ',')]
    pub tier_runtimes: Vec<String>,
    /// The sandbox agent binary (`sockt-agent`, static), mounted into every
    /// sandbox under the engine's default runtime to run commands, files and
    /// terminals without Docker round trips. Default: `sockt-agent` beside
    /// this binary, when it exists; otherwise Docker's exec API serves.
    #[arg(long, env = "SOCKT_AGENT_BINARY")]
    pub agent_binary: Option<std::path::PathBuf>,
    /// Host directory of the agents' per-sandbox sockets (default: DATA_DIR/agents).
    #[arg(long, env = "SOCKT_AGENT_DIR")]
    pub agent_dir: Option<std::path::PathBuf>,
    /// Warm pool: containers started ahead of demand per tier (tier=n,...;
    /// 0 disables). Creates with no environment and the open network take one.
    #[arg(long, env = "SOCKT_POOL", default_value = "nano=2,micro=2,small=2")]
    pub pool: String,
    /// The most memory the pool may hold, counted in its containers' tier
    /// limits (MiB).
    #[arg(long, env = "SOCKT_POOL_MEMORY_MIB", default_value_t = 4096)]
    pub pool_memory_mib: u64,
    /// How many busy host processes the sandboxes together weigh when the
    /// CPU is contended (a cgroup of Sockt's, under the engine's cgroupfs
    /// driver; each sandbox keeps its tier's CPU limit). 0: the engine's
    /// default group.
    #[arg(long, env = "SOCKT_SANDBOX_CPU_WEIGHT", default_value_t = adapters::docker::cpu_group::DEFAULT_WEIGHT)]
    pub sandbox_cpu_weight: u32,
    /// How many busy host processes this server weighs when the CPU is
    /// contended: started in the root cgroup (from a shell), it moves into
    /// a cgroup of its own with that weight; one a supervisor placed stays
    /// where it is. 0: stay in the root group.
    #[arg(long, env = "SOCKT_SERVER_CPU_WEIGHT", default_value_t = adapters::docker::cpu_group::DEFAULT_WEIGHT)]
    pub server_cpu_weight: u32,
    /// LNbits base URL of Sockt's Lightning wallet; Lightning billing is off when unset.
    #[arg(long, env = "SOCKT_LNBITS_URL")]
    pub lnbits_url: Option<String>,
    /// Admin key of Sockt's LNbits wallet.
    #[arg(long, env = "SOCKT_LNBITS_ADMIN_KEY", hide_env_values = true)]
    pub lnbits_admin_key: Option<SecretString>,
    /// Smallest prepaid or top-up amount, in sats.
    #[arg(long, env = "SOCKT_LIGHTNING_MIN_SATS", default_value_t = 10)]
    pub lightning_min_sats: u64,
    /// Largest prepaid or top-up amount, in sats.
    #[arg(long, env = "SOCKT_LIGHTNING_MAX_SATS", default_value_t = 1_000_000)]
    pub lightning_max_sats: u64,
    /// How long an invoice stays payable, in seconds.
    #[arg(
        long,
        env = "SOCKT_LIGHTNING_INVOICE_EXPIRY_SECS",
        default_value_t = 600
    )]
    pub lightning_invoice_expiry_secs: u64,
    /// Size of the top-up invoice offered when a Lightning sandbox runs low, in sats.
    #[arg(long, env = "SOCKT_LIGHTNING_TOPUP_SATS", default_value_t = 1_000)]
    pub lightning_topup_sats: u64,
    /// Ask LNbits to notify /v1/lightning/webhook on payment (polling runs regardless).
    #[arg(long, env = "SOCKT_LIGHTNING_WEBHOOKS", default_value_t = true, action = clap::ArgAction::Set)]
    pub lightning_webhooks: bool,
    /// Resolve Lightning Addresses over plain http (only for a wallet on a private test network).
    #[arg(long, env = "SOCKT_LNURL_ALLOW_HTTP", default_value_t = false, action = clap::ArgAction::Set)]
    pub lnurl_allow_http: bool,
    /// Let Lightning Address resolution reach loopback and private addresses
    /// (only for a test wallet on this machine; never on a public server).
    #[arg(long, env = "SOCKT_LNURL_ALLOW_PRIVATE_HOSTS", default_value_t = false, action = clap::ArgAction::Set)]
    pub lnurl_allow_private_hosts: bool,
    /// Host header values the MCP endpoint accepts (comma-separated); loopback names and the public URL's host by default.
    #[arg(long, env = "SOCKT_MCP_ALLOWED_HOSTS", value_delimiter = ',')]
    pub mcp_allowed_hosts: Vec<String>,
    /// An idle MCP session closes after this many seconds.
    #[arg(long, env = "SOCKT_MCP_SESSION_IDLE_SECS", default_value_t = 1800)]
    pub mcp_session_idle_secs: u64,
    /// Log format: json or text.
    #[arg(long, env = "SOCKT_LOG_FORMAT", default_value = "json")]
    pub log_format: String,
}
