//! The composition root: wires the event store, Docker, the application and
//! the HTTP router together, and runs them until shutdown.

use crate::config::ServeConfig;
use crate::metrics::Metrics;
use crate::rate_limit::CallerLimiter;
pub use crate::state::{AppContext, AppState};
use crate::{graphql, mcp, middleware, ops, rest};
use adapters::clock::SystemClock;
use adapters::docker::{AgentConfig, DockerConfig, DockerRuntime, NetworkChoice, PoolConfig};
use adapters::lightning::{LnbitsGateway, LnurlResolver, OutboundPolicy};
use adapters::store::StoreLocation;
use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::serve::ListenerExt;
use axum::Router;
use commands::{App, AppConfig, Duties, Lightning, LightningConfig};
use secrecy::ExposeSecret;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long a graceful stop waits for terminated sandboxes' containers
/// still being removed.
const REMOVALS_AT_STOP: Duration = Duration::from_secs(10);

/// The whole HTTP surface: the REST API, MCP at `/v1/mcp` and GraphQL at
/// `/v1/graphql` side by side under one per-caller rate limit, then the
/// dashboard and the operability endpoints; sandbox apps by their host
/// (the proxy) before any of them, every request observed.
pub fn router(state: AppState) -> Router {
    // Room for a base64-encoded file of the largest allowed size, plus JSON.
    let body_limit = (state.app.config().max_file_bytes as usize / 3 + 1) * 4 + (64 << 10);
    let v1 = Router::new()
        .merge(rest::routes())
        .nest_service(
            "/v1/mcp",
            mcp::router(state.clone()).with_state(state.clone()),
        )
        .merge(graphql::routes(state.clone()))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::rate_limit,
        ));
    Router::new()
        .merge(v1)
        .merge(ops::routes())
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rest::proxy_by_host,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::observe,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Serve `router` on `listener` until `shutdown` is cancelled. Every
/// connection sends at once (TCP_NODELAY): without it the last part of an
/// answer can wait for the client's delayed acknowledgement of the rest —
/// milliseconds on a file's megabyte, and on a terminal's keystrokes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let listener = listener.tap_io(send_at_once);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
}

/// A connection's segments go out as soon as they are written (TCP_NODELAY).
fn send_at_once(connection: &mut tokio::net::TcpStream) {
    if let Err(e) = connection.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY on a connection");
    }
}

/// Give this server its CPU weight against the engine (see `cpu_group`).
fn place_server(weight: u32) {
    match adapters::docker::cpu_group::place_self(adapters::docker::cpu_group::SERVER_GROUP, weight)
    {
        Ok((group, true)) => tracing::info!(group, weight, "the server runs in a weighted cgroup"),
        Ok((group, false)) => tracing::info!(group, "the server stays in its cgroup"),
        Err(e) => {
            tracing::warn!(error = %e, "cannot weight the server's cgroup; it stays in the root group")
        }
    }
}

/// `tier=runtime` pairs (SOCKT_TIER_RUNTIMES), checked against the tiers.
fn tier_runtimes(pairs: &[String]) -> anyhow::Result<HashMap<String, String>> {
    pairs
        .iter()
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (tier, runtime) = pair.split_once('=').ok_or_else(|| {
                anyhow::anyhow!("SOCKT_TIER_RUNTIMES: {pair:?} is not tier=runtime")
            })?;
            let tier: domain::TierName = tier
                .trim()
                .parse()
                .map_err(|e| anyhow::anyhow!("SOCKT_TIER_RUNTIMES: {e}"))?;
            let runtime = runtime.trim();
            anyhow::ensure!(
                !runtime.is_empty(),
                "SOCKT_TIER_RUNTIMES: {pair:?} names no runtime"
            );
            Ok((tier.as_str().to_string(), runtime.to_string()))
        })
        .collect()
}

/// Hosts the MCP endpoint answers to: as configured, else loopback and the public URL's host.
fn mcp_settings(config: &ServeConfig, public_url: &str) -> crate::mcp::McpSettings {
    let mut hosts: Vec<String> = config
        .mcp_allowed_hosts
        .iter()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .collect();
    if hosts.is_empty() {
        hosts = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
        let authority = public_url
            .split("://")
            .nth(1)
            .unwrap_or("")
            .split('/')
            .next()
            .unwrap_or("");
        if !authority.is_empty() {
            hosts.push(authority.to_string());
        }
    }
    crate::mcp::McpSettings {
        allowed_hosts: hosts,
        session_idle_secs: config.mcp_session_idle_secs.max(60),
        owners: Arc::default(),
    }
}

/// LNbits and LNURL, when configured.
fn lightning_services(config: &ServeConfig, public_url: &str) -> anyhow::Result<Option<Lightning>> {
    let (Some(url), Some(key)) = (
        config.lnbits_url.as_deref(),
        config.lnbits_admin_key.as_ref(),
    ) else {
        if config.lnbits_url.is_some() {
            anyhow::bail!("SOCKT_LNBITS_URL is set but SOCKT_LNBITS_ADMIN_KEY is not");
        }
        tracing::info!(
            "Lightning billing is off (set SOCKT_LNBITS_URL and SOCKT_LNBITS_ADMIN_KEY)"
        );
        return Ok(None);
    };
    if config.lightning_min_sats == 0 || config.lightning_min_sats > config.lightning_max_sats {
        anyhow::bail!(
            "SOCKT_LIGHTNING_MIN_SATS must be at least 1 and at most SOCKT_LIGHTNING_MAX_SATS"
        );
    }
    tracing::info!(lnbits = url, "Lightning billing is on");
    Ok(Some(Lightning {
        gateway: Arc::new(LnbitsGateway::new(url, key.expose_secret())?),
        resolver: Arc::new(LnurlResolver::new(OutboundPolicy {
            allow_http: config.lnurl_allow_http,
            allow_private: config.lnurl_allow_private_hosts,
        })),
        config: LightningConfig {
            min_sats: config.lightning_min_sats,
            max_sats: config.lightning_max_sats,
            invoice_expiry_secs: config.lightning_invoice_expiry_secs.max(10),
            topup_sats: config
                .lightning_topup_sats
                .clamp(config.lightning_min_sats, config.lightning_max_sats),
            webhook_url: config
                .lightning_webhooks
                .then(|| format!("{public_url}/v1/lightning/webhook")),
        },
    }))
}

/// A started server's parts.
pub struct Running {
    pub state: AppState,
    pub shutdown: CancellationToken,
    /// Ends after `shutdown`, once the duties stopped, the lease is let go
    /// and a last checkpoint of the read model is written.
    pub background: tokio::task::JoinHandle<()>,
}

/// The agent every sandbox gets: the configured binary, or `sockt-agent`
/// beside this one; None (Docker's exec API) when there is none.
fn agent_config(config: &ServeConfig, store_secret: &str) -> anyhow::Result<Option<AgentConfig>> {
    let binary = match &config.agent_binary {
        Some(binary) => binary.clone(),
        None => match std::env::current_exe()?.parent() {
            Some(dir) if dir.join("sockt-agent").is_file() => dir.join("sockt-agent"),
            _ => {
                tracing::warn!("no sandbox agent (SOCKT_AGENT_BINARY, or sockt-agent beside this binary): commands and files go through Docker's exec API, which is slower");
                return Ok(None);
            }
        },
    };
    Ok(Some(AgentConfig {
        binary,
        dir: config
            .agent_dir
            .clone()
            .unwrap_or_else(|| config.image.store.data_dir.join("agents")),
        // Its own key, derived from the store's secret: any process of this
        // store talks to any of its agents.
        key: sockt_agent::protocol::slot_secret(store_secret.as_bytes(), "server-agent-key")
            .to_vec(),
    }))
}

/// Open the store, connect Docker, make sure the image exists, reconcile,
/// and start the meter. The caller serves `router(running.state)` on the
/// listener bound at `local_addr`.
pub async fn bootstrap(config: &ServeConfig, local_addr: SocketAddr) -> anyhow::Result<Running> {
    let data_dir = &config.image.store.data_dir;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let location = StoreLocation::choose(
        config
            .image
            .store
            .database_url
            .as_ref()
            .map(|s| s.expose_secret()),
        data_dir,
    );
    place_server(config.server_cpu_weight);
    let stores = crate::stores::open(&location).await?;
    tracing::info!(backend = stores.events.backend, checkpoint_position = stores.started_from, replayed = stores.events.replayed, instance = %stores.events.instance_id, "event store open");
    let docker_config = DockerConfig {
        instance: stores.events.instance_id.clone(),
        network: match config.sandbox_network.as_str() {
            "isolated" => NetworkChoice::Isolated {
                allow: config.sandbox_allow_cidrs.clone(),
                subnet: adapters::docker::routed::Subnet::parse(&config.sandbox_subnet)
                    .map_err(|e| anyhow::anyhow!("SOCKT_SANDBOX_SUBNET: {e}"))?,
                names_dir: data_dir.join("names"),
            },
            other => {
                tracing::warn!(network = other, "sandboxes join an engine network as is: they are not isolated from each other or from the host");
                NetworkChoice::Engine(other.to_string())
            }
        },
        oci_runtime: config.oci_runtime.clone(),
        tier_runtimes: tier_runtimes(&config.tier_runtimes)?,
        agent: agent_config(config, &stores.events.link_secret)?,
        sandbox_cpu_weight: config.sandbox_cpu_weight,
    };
    let runners = location.runners().await?;
    let pool_sizes =
        PoolConfig::parse_sizes(&config.pool).map_err(|e| anyhow::anyhow!("SOCKT_POOL: {e}"))?;
    let runtime = DockerRuntime::connect(docker_config)
        .await
        .context("connecting to Docker (is the engine running and its socket reachable?)")?
        .with_pool(PoolConfig {
            sizes: pool_sizes,
            memory_budget_mib: config.pool_memory_mib,
            image: config.image.sandbox_image.clone(),
            owner: match &location {
                // One process per SQLite store: a restart takes its pool in.
                StoreLocation::Sqlite(_) => stores.events.instance_id.clone(),
                // Replicas: the others can tell when this one died.
                StoreLocation::Postgres(_) => runners.me().to_string(),
            },
        });
    let image = &config.image.sandbox_image;
    let outcome = adapters::image::ensure_image(
        runtime.client(),
        image,
        &data_dir.join("image-build"),
        &|line| {
            tracing::info!(target: "sockt::image", "{line}");
            eprintln!("[image] {line}");
        },
    )
    .await
    .with_context(|| format!("preparing the sandbox image {image}"))?;
    tracing::info!(image, ?outcome, "sandbox image ready");
    let runtime = Arc::new(runtime);
    let shutdown = CancellationToken::new();
    runtime
        .start_pool(shutdown.clone(), runners.clone())
        .await
        .map_err(|e| anyhow::anyhow!("taking in the warm pool: {e}"))?;
    let stores_instance = stores.events.instance_id.clone();
    let pool_runtime = runtime.clone();
    let readiness = crate::readiness::Readiness::default()
        .with("store", stores.events.directory.clone())
        .with("engine", runtime.clone());

    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local_addr}"))
        .trim_end_matches('/')
        .to_string();
    let app_config = AppConfig {
        sandbox_image: image.clone(),
        max_live_sandboxes: config.max_sandboxes,
        default_credits_cents: config.default_credits_cents,
        default_exec_timeout: Duration::from_millis(config.exec_timeout_ms),
        max_exec_timeout: Duration::from_millis(
            config.max_exec_timeout_ms.max(config.exec_timeout_ms),
        ),
        max_output_bytes: config.max_output_bytes,
        max_file_bytes: config.max_file_bytes,
        low_balance_secs: config.low_balance_secs,
        charge_interval: Duration::from_millis(config.charge_interval_ms.max(1000)),
        public_url: public_url.clone(),
        max_awaiting_payment: config.max_awaiting_payment,
        max_awaiting_payment_per_client: config.max_awaiting_payment_per_client,
        max_sandboxes_per_account: config.max_sandboxes_per_account,
        paused_ttl: (config.paused_ttl > 0).then(|| Duration::from_secs(config.paused_ttl)),
        unfunded_grace: (config.unfunded_grace_secs > 0)
            .then(|| Duration::from_secs(config.unfunded_grace_secs)),
        max_queue_wait: Duration::from_secs(config.max_queue_wait_secs),
        link_secret: commands::LinkSecret::new(stores.events.link_secret.clone()),
        ..AppConfig::default()
    };
    let lightning = lightning_services(config, &public_url)?;
    let public_url_for_state = public_url.clone();
    let app = App::new(
        stores.events.sandboxes.clone(),
        stores.events.accounts.clone(),
        stores.read.clone(),
        runtime,
        Arc::new(SystemClock),
        app_config,
    )
    .with_directory(stores.events.directory.clone())
    .with_runners(runners);
    let app = match lightning {
        Some(lightning) => app.with_lightning(lightning),
        None => app,
    };
    tokio::spawn(stores.events.feed.clone().run(shutdown.clone()));
    let checkpointing = tokio::spawn(stores.clone().keep_checkpointing(
        Arc::new(SystemClock),
        Duration::from_secs(config.checkpoint_interval_secs.max(1)),
        shutdown.clone(),
    ));
    // The first step takes the lease if it is free and reconciles before the
    // server answers; later steps renew it or take over from a dead leader.
    let mut duties = Duties::new(app.clone(), location.leader_lease()?);
    duties
        .step(&shutdown)
        .await
        .map_err(|e| anyhow::anyhow!("reconciling with Docker: {e}"))?;
    let leadership = duties.leadership();
    tracing::info!(
        leading = leadership.is_leading(),
        "background duties run in the process holding the leader lease"
    );
    let duties = tokio::spawn(duties.run(shutdown.clone()));
    let stopping = app.clone();
    let background = tokio::spawn(async move {
        let _ = duties.await;
        let _ = checkpointing.await;
        stopping.sandboxes().finish_removals(REMOVALS_AT_STOP).await;
        // A server that stops leaves no warm containers behind (its
        // sandboxes stay, for the next start to take in).
        match pool_runtime.empty_pool().await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "warm pool emptied"),
            Err(e) => tracing::warn!(error = %e, "could not empty the warm pool"),
        }
    });
    let limit = NonZeroU32::new(config.rate_limit_per_minute)
        .context("SOCKT_RATE_LIMIT_PER_MINUTE must be at least 1")?;
    let limiter = Arc::new(CallerLimiter::per_minute(limit));
    {
        let limiter = limiter.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => limiter.shrink(),
                }
            }
        });
    }
    let state = AppState::new(AppContext {
        app,
        admin_token: config.admin_token.clone(),
        limiter,
        metrics: Arc::new(Metrics::default()),
        public_url,
        store_backend: location.backend(),
        read_model_start: (stores.started_from, stores.events.replayed),
        instance_id: stores_instance,
        proxy_origins: crate::presentation::ProxyOrigins::new(
            &public_url_for_state,
            &config.proxy_domain,
        )?,
        mcp: mcp_settings(config, &public_url_for_state),
        leadership,
        commit_stats: stores.events.commit_stats.clone(),
        readiness,
        stopping: shutdown.clone(),
        proxy: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()?,
    });
    Ok(Running {
        state,
        shutdown,
        background,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_served_connection_sends_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(tokio::net::TcpStream::connect(address), async {
            listener.accept().await.unwrap().0
        });
        let _client = client.unwrap();
        let mut accepted = accepted;
        assert!(!accepted.nodelay().unwrap(), "the kernel's default batches");
        send_at_once(&mut accepted);
        assert!(accepted.nodelay().unwrap());
    }
}
