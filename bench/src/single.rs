//! One operation at a time: create → running, exec of `true`, 1 MiB write
//! + read — p50/p95 of each for Sockt, the docker CLI and the engine API.

use super::client::Client;
use super::engine::{cli, Engine};
use super::{ms_since, row, table_header, BenchConfig};
use anyhow::Context;
use base64::Engine as _;
use domain::Tier;
use std::time::Instant;

pub async fn run(
    client: &Client,
    engine: &Engine,
    config: &BenchConfig,
    tier: &Tier,
) -> anyhow::Result<()> {
    let n = config.iterations.max(3);
    println!("### single operations ({n} samples each)");
    println!();
    table_header("ms");

    let (mut sockt, mut docker, mut api) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let started = Instant::now();
        let id = client.create_running(&config.tier).await?;
        sockt.push(ms_since(started));
        client.terminate(&id).await?;
        // Let the pool refill, as it would between an agent's creates.
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        let started = Instant::now();
        let container = cli::run(&config.sandbox_image, tier)?;
        docker.push(ms_since(started));
        cli::remove(&container)?;
        let started = Instant::now();
        let container = engine.run(tier).await?;
        api.push(ms_since(started));
        engine.remove(&container).await?;
    }
    row(
        "create → running (docker: run -d; API: create + start)",
        sockt,
        docker,
        api,
    );

    // The pool refills what the creates took before anything else is timed;
    // then each contender runs its samples back to back, so none is timed
    // while another's exec or copy is still being cleaned up by the engine.
    super::load::settle_pool(client).await;
    let id = client.create_running(&config.tier).await?;
    let cli_container = cli::run(&config.sandbox_image, tier)?;
    let api_container = engine.run(tier).await?;
    let measured = async {
        engine_settles().await;
        let sockt = timed(n, || async { client.exec(&id, "true").await.map(|_| ()) }).await?;
        engine_settles().await;
        let docker = timed(n, || async { cli::exec_true(&cli_container).map(|_| ()) }).await?;
        engine_settles().await;
        let api = timed(n, || async {
            let code = engine.exec(&api_container, &["true"]).await?;
            anyhow::ensure!(code == 0, "the engine's exec of true exited {code}");
            Ok(())
        })
        .await?;
        let exec_firsts = row_of("exec `true` round trip", sockt, docker, api);

        let payload = vec![0xA5u8; 1 << 20];
        let payload_b64 = base64::engine::general_purpose::STANDARD.encode(&payload);
        let dir = std::env::temp_dir().join(format!("sockt-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let src = dir.join("bench.bin");
        std::fs::write(&src, &payload)?;
        let dst = dir.join("back.bin");
        let (src, dst) = (src.to_string_lossy(), dst.to_string_lossy());
        engine_settles().await;
        let sockt = timed(n, || async {
            client
                .write_and_read(&id, &payload_b64, payload.len())
                .await
        })
        .await?;
        engine_settles().await;
        let docker = timed(n, || async {
            cli::docker(&[
                "cp",
                &src,
                &format!("{cli_container}:/home/sandbox/bench.bin"),
            ])?;
            cli::docker(&[
                "cp",
                &format!("{cli_container}:/home/sandbox/bench.bin"),
                &dst,
            ])
            .map(|_| ())
        })
        .await?;
        engine_settles().await;
        let api = timed(n, || async {
            engine.write_and_read(&api_container, &payload).await
        })
        .await?;
        let _ = std::fs::remove_dir_all(&dir);
        let file_firsts = row_of(
            "1 MiB write + read (docker: cp in + out; API: archive put + get)",
            sockt,
            docker,
            api,
        );
        println!();
        println!(
            "First call of each contender, ms (the first of its {WARM_UP} untimed warm-up calls; not in the table):"
        );
        println!("- {exec_firsts}");
        println!("- {file_firsts}");
        Ok::<_, anyhow::Error>(())
    }
    .await;
    client.terminate(&id).await.context("terminating")?;
    cli::remove(&cli_container)?;
    engine.remove(&api_container).await?;
    measured
}

/// A pause between one contender's samples and the next one's: the engine
/// finishes cleaning up after the last execs (their shims and processes
/// exit for a while after the exit code is known), so no contender's first
/// samples are timed beside the previous one's leftovers.
async fn engine_settles() {
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
}

/// Calls each contender makes before its timed samples. A client's first
/// megabytes on a connection are slow for reasons of its own (its
/// allocator's first large buffers, the TCP windows growing after an idle
/// pause): measured, the first three 1 MiB round trips took 15–30 ms and
/// the rest 3–5. They are reported apart (`Samples::first`).
const WARM_UP: usize = 3;

/// A contender's timings of one operation, in milliseconds.
struct Samples {
    /// The first call, made cold and left out of `timed`.
    first: f64,
    /// `n` calls after the warm-up, back to back.
    timed: Vec<f64>,
}

/// `op` run `WARM_UP` times untimed, then `n` times timed.
async fn timed<F, Fut>(n: usize, mut op: F) -> anyhow::Result<Samples>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut first = 0.0;
    for round in 0..WARM_UP {
        let started = Instant::now();
        op().await?;
        if round == 0 {
            first = ms_since(started);
        }
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        op().await?;
        samples.push(ms_since(started));
    }
    Ok(Samples {
        first,
        timed: samples,
    })
}

/// One row from three contenders' samples; the line naming their first calls.
fn row_of(name: &str, sockt: Samples, docker: Samples, api: Samples) -> String {
    let firsts = format!(
        "{name}: sockt {:.1}, docker CLI {:.1}, engine API {:.1}",
        sockt.first, docker.first, api.first
    );
    row(name, sockt.timed, docker.timed, api.timed);
    firsts
}
