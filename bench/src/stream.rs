//! `sockt bench --stream-events N`: what a command costs as a sandbox's event
//! stream grows. One sandbox stream is fresh, another is grown to N events by
//! real charge commands (as the meter writes them, with the store's snapshots
//! taken along the way); then pause + resume pairs are timed on both, through
//! the same command bus the server uses (load, decide, commit, project).
//! Last, the whole store is replayed into a fresh read model, timed.

use super::percentile;
use adapters::store::{StoreLocation, SNAPSHOT_EVERY};
use anyhow::Context;
use domain::ports::SharedBus;
use domain::sandbox::{
    BillingMethod, Funding, FundingSource, PauseReason, Sandbox, SandboxCommand,
};
use domain::{Msats, TierName};
use secrecy::{ExposeSecret, SecretString};
use std::time::Instant;

/// Simulated time starts here and moves 10 s (one charge interval) a command.
const T0_MS: i64 = 1_800_000_000_000;
const CHARGE_EVERY_MS: i64 = 10_000;

pub async fn run(
    events: usize,
    iterations: usize,
    database_url: Option<&SecretString>,
) -> anyhow::Result<()> {
    let scratch = std::env::temp_dir().join(format!("sockt-bench-{}", uuid::Uuid::new_v4()));
    let location = match database_url {
        Some(url) => StoreLocation::Postgres(url.expose_secret().to_string()),
        None => StoreLocation::Sqlite(scratch.join("events.db")),
    };
    let result = measure(&location, events, iterations.max(10)).await;
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

async fn measure(location: &StoreLocation, events: usize, n: usize) -> anyhow::Result<()> {
    let stores = api::stores::open(location).await?;
    let bus = stores.events.sandboxes;
    println!(
        "sockt bench --stream-events {events}: pause + resume commands on a {} store, snapshot every {SNAPSHOT_EVERY} events, {n} samples each",
        location.backend()
    );
    let fresh = new_running_sandbox(&bus).await?;
    let long = new_running_sandbox(&bus).await?;
    let started = Instant::now();
    let mut now = T0_MS;
    let mut written = 3; // created, funded, started
    while written < events {
        now += CHARGE_EVERY_MS;
        bus.execute(
            &long,
            SandboxCommand::ChargeUsage {
                now_ms: now,
                low_balance_secs: 0,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("charging: {e}"))?;
        written += 1;
        if written % 20_000 == 0 {
            eprintln!("  {written} events written...");
        }
    }
    println!(
        "grew one stream to {written} events in {:.1} s ({:.0} commands/s)",
        started.elapsed().as_secs_f64(),
        written as f64 / started.elapsed().as_secs_f64().max(1e-9)
    );
    let mut fresh_ms = time_pause_resume(&bus, &fresh, n, now).await?;
    let mut long_ms = time_pause_resume(&bus, &long, n, now).await?;
    let (fresh_p50, long_p50) = (
        percentile(&mut fresh_ms, 50.0),
        percentile(&mut long_ms, 50.0),
    );
    println!();
    println!("| stream | events | pause + resume p50 ms | p95 ms |");
    println!("|---|---|---|---|");
    println!(
        "| fresh | 3 | {fresh_p50:.2} | {:.2} |",
        percentile(&mut fresh_ms, 95.0)
    );
    println!(
        "| long | {written} | {long_p50:.2} | {:.2} |",
        percentile(&mut long_ms, 95.0)
    );
    println!();
    println!(
        "long ÷ fresh at p50: {:.2}x (the target is at most 1.5x)",
        long_p50 / fresh_p50.max(1e-9)
    );
    let started = Instant::now();
    let rebuilt = api::stores::rebuild(location).await?;
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    println!(
        "full replay into a fresh read model: {} events in {elapsed:.3} s ({:.0} events/s)",
        rebuilt.events.replayed,
        rebuilt.events.replayed as f64 / elapsed
    );
    Ok(())
}

async fn new_running_sandbox(bus: &SharedBus<Sandbox>) -> anyhow::Result<String> {
    let id = uuid::Uuid::new_v4().to_string();
    let commands = [
        SandboxCommand::CreateSandbox {
            owner: Some("bench".into()),
            tier: TierName::Nano,
            billing: BillingMethod::Credits,
            label: None,
            image: "bench".into(),
            token_hash: None,
            network: Default::default(),
            runtime: None,
            lifetime: Default::default(),
            env: None,
            initial_funding: Some(Funding {
                // Enough for every charge the benchmark makes.
                amount: Msats(1_000_000_000_000_000),
                source: FundingSource::Account {
                    account_id: "bench".into(),
                    transfer_id: Some(domain::transfers::funding_transfer_id(&id)),
                },
            }),
            now_ms: T0_MS,
        },
        SandboxCommand::RecordStarted {
            container_id: format!("bench-{id}"),
            now_ms: T0_MS,
        },
    ];
    for command in commands {
        bus.execute(&id, command)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("setting up a benchmark sandbox")?;
    }
    Ok(id)
}

/// Milliseconds of each of `n` pause + resume pairs on `sandbox_id`.
async fn time_pause_resume(
    bus: &SharedBus<Sandbox>,
    sandbox_id: &str,
    n: usize,
    mut now: i64,
) -> anyhow::Result<Vec<f64>> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        now += 1_000;
        let started = Instant::now();
        bus.execute(
            sandbox_id,
            SandboxCommand::PauseSandbox {
                reason: PauseReason::Requested,
                now_ms: now,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("pausing: {e}"))?;
        bus.execute(sandbox_id, SandboxCommand::ResumeSandbox { now_ms: now })
            .await
            .map_err(|e| anyhow::anyhow!("resuming: {e}"))?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(samples)
}
