//! `sockt bench`: Sockt's operations against a running server, measured in
//! the same run as the same operations through the `docker` CLI and through
//! the engine's API directly (`engine`), so the ratios say what Sockt adds
//! over the engine. Scenarios: single operations (`single`), bursts and
//! concurrency (`load`), status reads under metering, agents looping, idle
//! sandboxes held. With `--stream-events N` it measures the event store and
//! the replay instead (`stream`).

mod client;
mod engine;
mod load;
mod server_side;
mod single;
mod stream;
mod wrk;

use anyhow::Context;
use clap::Args;
use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, Clone, Args)]
pub struct BenchConfig {
    /// The Sockt server to measure.
    #[arg(long, env = "SOCKT_API_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An API key with credits (not needed with --stream-events).
    #[arg(long, env = "SOCKT_API_KEY", hide_env_values = true)]
    pub api_key: Option<SecretString>,
    /// Samples per single operation.
    #[arg(long, default_value_t = 20)]
    pub iterations: usize,
    /// Image for the baselines (the server's image).
    #[arg(long, env = "SOCKT_SANDBOX_IMAGE", default_value = adapters::image::DEFAULT_IMAGE)]
    pub sandbox_image: String,
    /// Tier of the sandboxes the benchmark creates.
    #[arg(long, default_value = "small")]
    pub tier: String,
    /// What to measure: single, burst, reads, agents, idle (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "single,burst,reads,agents"
    )]
    pub scenarios: Vec<String>,
    /// burst: how many creates, execs and terminates.
    #[arg(long, default_value_t = 100)]
    pub burst: usize,
    /// burst: creates and terminates in flight at once.
    #[arg(long, default_value_t = 20)]
    pub in_flight: usize,
    /// reads: running (metered) sandboxes held while reading.
    #[arg(long, default_value_t = 200)]
    pub read_sandboxes: usize,
    /// reads: concurrent connections.
    #[arg(long, default_value_t = 50)]
    pub read_connections: usize,
    /// reads and agents: how long to measure, in seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// agents: how many agents loop create → exec → terminate.
    #[arg(long, default_value_t = 50)]
    pub agents: usize,
    /// idle: how many idle sandboxes to hold.
    #[arg(long, default_value_t = 500)]
    pub idle: usize,
    /// The load generator's CPU weight (and that of the `wrk` and `docker`
    /// it runs), in busy host processes, in the cgroup `/sockt-bench`: like
    /// the server's, so that on a machine the engine keeps busy the client
    /// does not measure its own wait for a core. 0 leaves it where it is.
    #[arg(long, env = "SOCKT_BENCH_CPU_WEIGHT", default_value_t = adapters::docker::cpu_group::DEFAULT_WEIGHT)]
    pub client_cpu_weight: u32,
    /// The server's process id, to report its memory (idle scenario).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Instead of a server: command latency (pause + resume) on a fresh
    /// sandbox stream and on one grown to this many events, and the full
    /// replay's speed, in a scratch store.
    #[arg(long)]
    pub stream_events: Option<usize>,
    /// With --stream-events: a PostgreSQL server to make the scratch database
    /// on (default: a SQLite file in a temporary directory).
    #[arg(long, env = "SOCKT_BENCH_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,
}

/// The `p`th percentile (nearest rank) of `samples`.
pub(crate) fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    if samples.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (samples.len() as f64 - 1.0)).round() as usize;
    samples[rank.min(samples.len() - 1)]
}

/// Milliseconds since `started`.
pub(crate) fn ms_since(started: std::time::Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// One table row: p50 and p95 of Sockt, the CLI and the engine's API, and
/// Sockt's p50 over each baseline's.
pub(crate) fn row(name: &str, mut sockt: Vec<f64>, mut cli: Vec<f64>, mut api: Vec<f64>) {
    let [s50, s95] = [50.0, 95.0].map(|p| percentile(&mut sockt, p));
    let [c50, c95] = [50.0, 95.0].map(|p| percentile(&mut cli, p));
    let [a50, a95] = [50.0, 95.0].map(|p| percentile(&mut api, p));
    println!(
        "| {name} | {s50:.1} | {s95:.1} | {c50:.1} | {c95:.1} | {a50:.1} | {a95:.1} | {:.2}x | {:.2}x |",
        s50 / c50,
        s50 / a50
    );
}

pub(crate) fn table_header(unit: &str) {
    println!("| operation | sockt p50 {unit} | sockt p95 {unit} | docker CLI p50 {unit} | docker CLI p95 {unit} | engine API p50 {unit} | engine API p95 {unit} | sockt ÷ CLI | sockt ÷ API |");
    println!("|---|---|---|---|---|---|---|---|---|");
}

pub async fn run(config: BenchConfig) -> anyhow::Result<()> {
    if let Some(events) = config.stream_events {
        return stream::run(events, config.iterations, config.database_url.as_ref()).await;
    }
    let key = config
        .api_key
        .as_ref()
        .context("--api-key (or SOCKT_API_KEY) is required to benchmark a server")?;
    let tier = domain::Tier::of(
        config
            .tier
            .parse()
            .map_err(|e: domain::tier::UnknownTier| anyhow::anyhow!("{e}"))?,
    );
    let connections = config
        .read_connections
        .max(config.agents)
        .max(config.in_flight);
    let placed = adapters::docker::cpu_group::place_self(
        adapters::docker::cpu_group::BENCH_GROUP,
        config.client_cpu_weight,
    );
    let client = client::Client::new(&config.url, key.expose_secret(), connections);
    let engine = engine::Engine::connect(&config.sandbox_image).await?;
    let health = client
        .call(reqwest::Method::GET, "/healthz", None)
        .await
        .context("asking the server for its health")?;
    println!(
        "sockt bench against {} (store {}, warm pool ready {}), baselines: docker CLI and the engine API (bollard), both on the default bridge, image {}, tier {}",
        client.url,
        health["store"],
        health["warm_pool"],
        config.sandbox_image,
        config.tier
    );
    match placed {
        Ok((group, true)) => println!(
            "load generator: cgroup {group}, weighted like {} busy processes (--client-cpu-weight)",
            config.client_cpu_weight
        ),
        Ok((group, false)) => println!("load generator: stays in cgroup {group}, unweighted"),
        Err(e) => println!("load generator: cannot be weighted ({e}); it stays in the root cgroup"),
    }
    for scenario in &config.scenarios {
        println!();
        match scenario.as_str() {
            "single" => single::run(&client, &engine, &config, &tier).await?,
            "burst" => load::burst(&client, &engine, &config, &tier).await?,
            "reads" => load::reads(&client, &config).await?,
            "agents" => load::agents(&client, &config).await?,
            "idle" => load::idle(&client, &config).await?,
            other => {
                anyhow::bail!("unknown scenario {other}: use single, burst, reads, agents, idle")
            }
        }
    }
    Ok(())
}
