//! Sockt under load: bursts of creates, execs and terminates (beside the
//! same bursts through the CLI and the engine API), status reads from many
//! connections while hundreds of sandboxes run and are metered, agents
//! looping create → exec → terminate, and idle sandboxes held (memory per
//! sandbox). Every scenario counts sandboxes that failed without cause.

use super::client::Client;
use super::engine::{cli, Engine};
use super::{ms_since, percentile, BenchConfig};
use domain::Tier;
use futures::StreamExt;
use secrecy::ExposeSecret;
use std::future::Future;
use std::time::{Duration, Instant};

/// Run `work` on every item, `in_flight` at a time: the wall time (s) with
/// each item's latency (ms), and the results.
async fn concurrently<I, T, F, Fut>(
    items: Vec<I>,
    in_flight: usize,
    work: F,
) -> ((f64, Vec<f64>), Vec<anyhow::Result<T>>)
where
    F: Fn(I) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let started = Instant::now();
    let outcomes: Vec<(f64, anyhow::Result<T>)> = futures::stream::iter(items)
        .map(|item| {
            let job = work(item);
            async move {
                let began = Instant::now();
                let result = job.await;
                (ms_since(began), result)
            }
        })
        .buffer_unordered(in_flight.max(1))
        .collect()
        .await;
    let wall = started.elapsed().as_secs_f64();
    let (latencies, results) = outcomes.into_iter().unzip();
    ((wall, latencies), results)
}

/// One step's wall time and latencies: `wall | p50 | p95`.
fn cells((wall, mut latencies): (f64, Vec<f64>)) -> String {
    format!(
        "{wall:.2} | {:.0} | {:.0}",
        percentile(&mut latencies, 50.0),
        percentile(&mut latencies, 95.0)
    )
}

fn oks<T>(results: Vec<anyhow::Result<T>>) -> (Vec<T>, Vec<anyhow::Error>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for result in results {
        match result {
            Ok(value) => good.push(value),
            Err(e) => bad.push(e),
        }
    }
    (good, bad)
}

/// A blocking docker CLI call off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(work).await?
}

pub async fn burst(
    client: &Client,
    engine: &Engine,
    config: &BenchConfig,
    tier: &Tier,
) -> anyhow::Result<()> {
    let (n, k) = (config.burst, config.in_flight);
    let health = client.call(reqwest::Method::GET, "/healthz", None).await?;
    println!(
        "### burst: {n} creates with {k} in flight, {n} execs of `true` at once, {n} terminates with {k} in flight (warm pool ready: {})",
        health["warm_pool"]
    );
    println!();

    // Each contender runs its three steps back to back (as an agent would),
    // then the warm pool refills before the baselines, so that neither
    // competes with the other for the CPU.
    let (created, made) =
        concurrently((0..n).collect(), k, |_| client.create_running(&config.tier)).await;
    let (sandboxes, failed) = oks(made);
    let (ran, outcomes) = concurrently(sandboxes.clone(), n, |id| async move {
        client.exec(&id, "true").await
    })
    .await;
    let (_, exec_failures) = oks(outcomes);
    let (ended, _) = concurrently(
        sandboxes,
        k,
        |id| async move { client.terminate(&id).await },
    )
    .await;
    let sockt = [created, ran, ended];
    settle_pool(client).await;

    let image = config.sandbox_image.clone();
    let (created, made) = concurrently((0..n).collect(), k, |_| {
        let (image, tier) = (image.clone(), *tier);
        blocking(move || cli::run(&image, &tier))
    })
    .await;
    let (containers, _) = oks(made);
    let (ran, _) = concurrently(containers.clone(), n, |c| {
        blocking(move || cli::exec_true(&c))
    })
    .await;
    let (ended, _) = concurrently(containers, k, |c| blocking(move || cli::remove(&c))).await;
    let docker_cli = [created, ran, ended];

    let (created, made) = concurrently((0..n).collect(), k, |_| engine.run(tier)).await;
    let (containers, _) = oks(made);
    let (ran, _) = concurrently(containers.clone(), n, |c| async move {
        engine.exec(&c, &["true"]).await
    })
    .await;
    let (ended, _) = concurrently(containers, k, |c| async move { engine.remove(&c).await }).await;
    let engine_api = [created, ran, ended];

    println!();
    println!("| step | sockt wall s | sockt p50 ms | sockt p95 ms | docker CLI wall s | CLI p50 ms | CLI p95 ms | engine API wall s | API p50 ms | API p95 ms |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let steps = [
        format!("{n} creates → running"),
        format!("{n} execs of `true` at once"),
        format!("{n} terminates"),
    ];
    for (step, ((s, c), a)) in steps
        .iter()
        .zip(sockt.into_iter().zip(docker_cli).zip(engine_api))
    {
        println!("| {step} | {} | {} | {} |", cells(s), cells(c), cells(a));
    }
    println!();
    println!(
        "sandboxes that failed to start: {}; execs that failed: {}",
        failed.len(),
        exec_failures.len()
    );
    for e in failed.iter().chain(exec_failures.iter()).take(3) {
        println!("  e.g. {e}");
    }
    Ok(())
}

/// Create `count` running sandboxes of `tier`, `in_flight` at a time.
async fn hold(
    client: &Client,
    tier: &str,
    count: usize,
    in_flight: usize,
) -> anyhow::Result<Vec<String>> {
    let ((wall, _), made) = concurrently((0..count).collect(), in_flight, |_| {
        client.create_running(tier)
    })
    .await;
    let (ids, failed) = oks(made);
    println!(
        "(made {} sandboxes of tier {tier} in {wall:.1} s; {} failed to start)",
        ids.len(),
        failed.len()
    );
    if let Some(e) = failed.first() {
        println!("  e.g. {e}");
    }
    Ok(ids)
}

/// Wait (at most three minutes) until the server's warm pool has stopped
/// refilling — its ready count unchanged for five seconds — and no
/// terminated sandbox's container is still being removed, so a scenario
/// measures its own load, not the engine making or removing containers
/// for the one before.
pub(super) async fn settle_pool(client: &Client) {
    let started = Instant::now();
    let mut last = None;
    let mut steady_since = Instant::now();
    while started.elapsed() < Duration::from_secs(180) {
        let health = client
            .call(reqwest::Method::GET, "/healthz", None)
            .await
            .ok();
        // Containers still being removed keep the engine busy too.
        let removing = health
            .as_ref()
            .map_or(0, |h| h["removing"].as_u64().unwrap_or(0));
        let ready = health.map(|h| format!("{}, removing {removing}", h["warm_pool"]));
        if ready != last || removing > 0 {
            last = ready;
            steady_since = Instant::now();
        } else if steady_since.elapsed() >= Duration::from_secs(5) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "(waited {:.0} s for the warm pool to settle and removals to end: {})",
        started.elapsed().as_secs_f64(),
        last.unwrap_or_default()
    );
}

async fn release(client: &Client, ids: Vec<String>, in_flight: usize) {
    let _ = concurrently(
        ids,
        in_flight,
        |id| async move { client.terminate(&id).await },
    )
    .await;
}

/// How many of `ids` are not running (they failed or were paused behind
/// the benchmark's back).
async fn not_running(client: &Client, ids: &[String]) -> usize {
    let mut count = 0;
    for id in ids {
        let running = client
            .status(id)
            .await
            .is_ok_and(|s| s["status"] == "running");
        if !running {
            count += 1;
        }
    }
    count
}

/// `connections` clients reading statuses of `ids` for `seconds`: the rate
/// and the latencies.
async fn read_load(
    client: &Client,
    ids: &[String],
    connections: usize,
    seconds: u64,
) -> (f64, Vec<f64>, usize) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let readers = (0..connections).map(|c| {
        let client = client.clone();
        let ids = ids.to_vec();
        async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            let mut i = c;
            while Instant::now() < deadline {
                let began = Instant::now();
                if client.status_read(&ids[i % ids.len()]).await.is_err() {
                    errors += 1;
                }
                latencies.push(ms_since(began));
                i += connections;
            }
            (latencies, errors)
        }
    });
    let results = futures::future::join_all(readers).await;
    let elapsed = started.elapsed().as_secs_f64();
    let errors = results.iter().map(|(_, e)| e).sum();
    let latencies: Vec<f64> = results.into_iter().flat_map(|(l, _)| l).collect();
    (latencies.len() as f64 / elapsed, latencies, errors)
}

fn summary(latencies: &mut [f64]) -> String {
    format!(
        "p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(latencies, 50.0),
        percentile(latencies, 95.0),
        percentile(latencies, 99.0),
        percentile(latencies, 100.0)
    )
}

pub async fn reads(client: &Client, config: &BenchConfig) -> anyhow::Result<()> {
    println!(
        "### status reads: {} connections for {} s while {} sandboxes run and are metered",
        config.read_connections, config.seconds, config.read_sandboxes
    );
    let ids = hold(client, "nano", config.read_sandboxes, config.in_flight).await?;
    anyhow::ensure!(!ids.is_empty(), "no sandbox started");
    settle_pool(client).await;
    if super::wrk::available() {
        let server_before = super::server_side::Histogram::of(client).await;
        let key = config
            .api_key
            .as_ref()
            .map(|k| k.expose_secret().to_string());
        match super::wrk::reads(
            &client.url,
            &key.unwrap_or_default(),
            &ids,
            config.read_connections,
            config.seconds,
        )
        .await
        {
            Ok(r) => println!(
                "status reads with wrk ({} connections, {} s): {:.0}/s, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} errors",
                config.read_connections, config.seconds, r.rate, r.p50_ms, r.p99_ms, r.max_ms, r.errors
            ),
            Err(e) => println!("status reads with wrk: failed: {e:#}"),
        }
        let server = super::server_side::Histogram::of(client).await;
        println!("  {}", server.since(&server_before).summary());
    } else {
        println!("(wrk is not installed: only the in-process client reads; apt-get install wrk)");
    }
    read_then_release(
        client,
        ids,
        config.read_connections,
        config.seconds,
        config.in_flight,
    )
    .await;
    Ok(())
}

/// Read the statuses of `ids` from `connections` clients for `seconds`,
/// report, check they all still run, and terminate them.
async fn read_then_release(
    client: &Client,
    ids: Vec<String>,
    connections: usize,
    seconds: u64,
    in_flight: usize,
) {
    let (rate, mut latencies, errors) = read_load(client, &ids, connections, seconds).await;
    let stopped = not_running(client, &ids).await;
    println!(
        "status reads ({connections} connections, {seconds} s): {rate:.0}/s, {}; {errors} errors; sandboxes not running afterwards: {stopped}",
        summary(&mut latencies)
    );
    release(client, ids, in_flight).await;
}

pub async fn agents(client: &Client, config: &BenchConfig) -> anyhow::Result<()> {
    println!(
        "### {} agents looping create → exec `true` → terminate for {} s (tier {})",
        config.agents, config.seconds, config.tier
    );
    // From a quiet engine, as the bursts start: a scenario just before
    // (the reads' 200 terminates) may still be removing containers and
    // refilling the pool.
    settle_pool(client).await;
    let server_before = super::server_side::Histogram::of(client).await;
    let recording = client.recording();
    let deadline = Instant::now() + Duration::from_secs(config.seconds);
    let loops = (0..config.agents).map(|_| {
        let client = recording.clone();
        let tier = config.tier.clone();
        async move {
            let (mut cycles, mut errors) = (0usize, Vec::new());
            let mut steps: [Vec<f64>; 3] = Default::default();
            while Instant::now() < deadline {
                let began = Instant::now();
                // Every request is one the API answers at once (no
                // long-poll), so their latencies say how responsive it is:
                // the agent polls the status every 20 ms.
                let id = match client
                    .create_polling(&tier, Duration::from_millis(20))
                    .await
                {
                    Ok(id) => id,
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                };
                steps[0].push(ms_since(began));
                let began = Instant::now();
                if let Err(e) = client.exec(&id, "true").await {
                    errors.push(e);
                }
                steps[1].push(ms_since(began));
                let began = Instant::now();
                if let Err(e) = client.terminate(&id).await {
                    errors.push(e);
                }
                steps[2].push(ms_since(began));
                cycles += 1;
            }
            (cycles, errors, steps)
        }
    });
    let results = futures::future::join_all(loops).await;
    let server = super::server_side::Histogram::of(client)
        .await
        .since(&server_before);
    let mut latencies = recording.take_latencies();
    let cycles: usize = results.iter().map(|r| r.0).sum();
    let mut steps: [Vec<f64>; 3] = Default::default();
    let mut errors = Vec::new();
    for (_, errs, agent_steps) in results {
        errors.extend(errs);
        for (all, mine) in steps.iter_mut().zip(agent_steps) {
            all.extend(mine);
        }
    }
    println!(
        "{cycles} cycles ({:.1}/s), {} API requests: {}; {} errors",
        cycles as f64 / config.seconds as f64,
        latencies.len(),
        summary(&mut latencies),
        errors.len()
    );
    println!("  {}", server.summary());
    for (name, mut samples) in ["create → running", "exec `true`", "terminate"]
        .into_iter()
        .zip(steps)
    {
        println!("  {name}: {}", summary(&mut samples));
    }
    if let Some(e) = errors.first() {
        println!("  e.g. {e}");
    }
    Ok(())
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The memory a container's cgroup is charged (cgroup v1 or v2; under
/// Sockt's own group or the engine's), in bytes.
fn cgroup_memory(container_id: &str) -> Option<u64> {
    let sockt = adapters::docker::cpu_group::PARENT;
    [
        format!("/sys/fs/cgroup/memory{sockt}/{container_id}/memory.usage_in_bytes"),
        format!("/sys/fs/cgroup{sockt}/{container_id}/memory.current"),
        format!("/sys/fs/cgroup/memory/docker/{container_id}/memory.usage_in_bytes"),
        format!("/sys/fs/cgroup/system.slice/docker-{container_id}.scope/memory.current"),
        format!("/sys/fs/cgroup/docker/{container_id}/memory.current"),
    ]
    .iter()
    .find_map(|path| std::fs::read_to_string(path).ok()?.trim().parse().ok())
}

pub async fn idle(client: &Client, config: &BenchConfig) -> anyhow::Result<()> {
    println!("### {} idle sandboxes held (tier nano)", config.idle);
    let before = config.server_pid.and_then(rss_kib);
    let ids = hold(client, "nano", config.idle, config.in_flight).await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = config.server_pid.and_then(rss_kib);
    let mut charged = Vec::new();
    for id in &ids {
        let full =
            super::engine::cli::docker(&["inspect", "-f", "{{.Id}}", &format!("sockt-{id}")]);
        if let Some(bytes) = full.ok().as_deref().and_then(cgroup_memory) {
            charged.push(bytes as f64 / (1 << 20) as f64);
        }
    }
    match (before, after) {
        (Some(before), Some(after)) if after >= before => println!(
            "server memory: {:.1} MiB before, {:.1} MiB with them: {:.1} KiB per sandbox",
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            (after - before) as f64 / ids.len().max(1) as f64
        ),
        (Some(before), Some(after)) => println!(
            "server memory: {:.1} MiB before, {:.1} MiB with them: it fell (memory of earlier work returned meanwhile), so no per-sandbox figure; measure on a quiet server",
            before as f64 / 1024.0,
            after as f64 / 1024.0,
        ),
        _ => println!("server memory: pass --server-pid to measure it"),
    }
    if charged.is_empty() {
        println!("container memory: no container's cgroup found in a known place");
    } else {
        let total: f64 = charged.iter().sum();
        println!(
            "container memory (cgroup, {} containers): {:.1} MiB in all, {:.2} MiB per sandbox (median {:.2})",
            charged.len(),
            total,
            total / charged.len() as f64,
            percentile(&mut charged, 50.0)
        );
    }
    read_then_release(client, ids, 10, 5, config.in_flight).await;
    Ok(())
}
