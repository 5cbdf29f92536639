//! The application's settings (a slice of the server configuration).

use crate::lightning::link_secret::LinkSecret;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Image every new sandbox runs.
    pub sandbox_image: String,
    /// Most sandboxes holding a container at once; more answer `no_capacity`.
    pub max_live_sandboxes: usize,
    /// Credits allocated when a credits sandbox is created without `initial_credits_cents`.
    pub default_credits_cents: u64,
    pub default_exec_timeout: Duration,
    pub max_exec_timeout: Duration,
    /// Output kept per execution; beyond it output is dropped and marked truncated.
    pub max_output_bytes: usize,
    /// Output kept for all executions together; the oldest finished go first.
    pub output_store_bytes: usize,
    /// Concurrent executions per sandbox.
    pub max_running_execs: usize,
    /// Largest file written or read through the files API.
    pub max_file_bytes: u64,
    /// Below this many seconds of balance a sandbox warns `low_balance`.
    pub low_balance_secs: u64,
    /// How often the meter records a charge for a running sandbox.
    pub charge_interval: Duration,
    /// Public base URL, used to build `proxy_url`.
    pub public_url: String,
    /// Sandboxes awaiting their first payment, in all and per client address.
    pub max_awaiting_payment: usize,
    pub max_awaiting_payment_per_client: usize,
    /// Live sandboxes one account may hold at once.
    pub max_sandboxes_per_account: usize,
    /// A sandbox paused this long is terminated and its balance refunded
    /// (None: never).
    pub paused_ttl: Option<Duration>,
    /// A sandbox paused because its balance ran out is terminated this
    /// long after (None: only `paused_ttl` applies): unfunded, it would
    /// otherwise hold a slot, its memory and its disk for nothing.
    pub unfunded_grace: Option<Duration>,
    /// How long a paid sandbox waits for room before it ends with a refund.
    pub max_queue_wait: Duration,
    /// The store's secret that LNURL-withdraw link secrets derive from
    /// (`lightning::links`); every process of one store shares it.
    pub link_secret: LinkSecret,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            sandbox_image: "sockt-sandbox:bookworm".into(),
            max_live_sandboxes: 50,
            default_credits_cents: 100,
            default_exec_timeout: Duration::from_secs(30),
            max_exec_timeout: Duration::from_secs(3600),
            max_output_bytes: 1 << 20,
            output_store_bytes: 256 << 20,
            max_running_execs: 16,
            max_file_bytes: 64 << 20,
            low_balance_secs: 60,
            charge_interval: Duration::from_secs(10),
            public_url: "http://127.0.0.1:8080".into(),
            max_awaiting_payment: 1000,
            max_awaiting_payment_per_client: 20,
            max_sandboxes_per_account: 20,
            paused_ttl: Some(Duration::from_secs(7 * 24 * 3600)),
            unfunded_grace: Some(Duration::from_secs(600)),
            max_queue_wait: Duration::from_secs(600),
            link_secret: LinkSecret::random(),
        }
    }
}
