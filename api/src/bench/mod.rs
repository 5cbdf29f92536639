//! `sockt bench`: p50/p95 of Sockt's main operations against a running
//! server, and of the same operations with the plain docker CLI, measured in
//! the same run on the same machine and printed as ratios. With
//! `--stream-events N` it measures the event store instead (see `stream`).

mod stream;

use anyhow::{bail, Context};
use base64::Engine;
use clap::Args;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Args)]
pub struct BenchConfig {
    /// The Sockt server to measure.
    #[arg(long, env = "SOCKT_API_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An API key with credits (not needed with --stream-events).
    #[arg(long, env = "SOCKT_API_KEY", hide_env_values = true)]
    pub api_key: Option<SecretString>,
    /// Samples per operation.
    #[arg(long, default_value_t = 20)]
    pub iterations: usize,
    /// Image for the docker CLI baseline (the server's image).
    #[arg(long, env = "SOCKT_SANDBOX_IMAGE", default_value = adapters::image::DEFAULT_IMAGE)]
    pub sandbox_image: String,
    /// Tier of the sandboxes the benchmark creates.
    #[arg(long, default_value = "small")]
    pub tier: String,
    /// Instead of a server: command latency (pause + resume) on a fresh
    /// sandbox stream and on one grown to this many events, in a scratch store.
    #[arg(long)]
    pub stream_events: Option<usize>,
    /// With --stream-events: a PostgreSQL server to make the scratch database
    /// on (default: a SQLite file in a temporary directory).
    #[arg(long, env = "SOCKT_BENCH_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,
}

struct Client {
    http: reqwest::Client,
    url: String,
    key: String,
}

impl Client {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{path} answered {status}: {value}");
        }
        Ok(value)
    }

    async fn create_running(&self, tier: &str) -> anyhow::Result<String> {
        let created = self
            .call(
                reqwest::Method::POST,
                "/v1/sandboxes",
                Some(json!({"tier": tier, "initial_credits_cents": 50})),
            )
            .await?;
        let id = created["sandbox_id"]
            .as_str()
            .context("no sandbox_id")?
            .to_string();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let status = self
                .call(reqwest::Method::GET, &format!("/v1/sandboxes/{id}"), None)
                .await?;
            match status["status"].as_str() {
                Some("running") => return Ok(id),
                Some("failed") | Some("terminated") => bail!("sandbox {id} ended: {status}"),
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
        bail!("sandbox {id} did not start within 60 s")
    }

    async fn exec_wait(&self, id: &str, command: &str) -> anyhow::Result<Value> {
        let started = self
            .call(
                reqwest::Method::POST,
                &format!("/v1/sandboxes/{id}/exec"),
                Some(json!({"command": command})),
            )
            .await?;
        let execution = started["execution_id"]
            .as_str()
            .context("no execution_id")?
            .to_string();
        loop {
            let poll = self
                .call(
                    reqwest::Method::GET,
                    &format!("/v1/executions/{execution}?wait_ms=10000"),
                    None,
                )
                .await?;
            if poll["status"] != "running" {
                return Ok(poll);
            }
        }
    }

    async fn terminate(&self, id: &str) {
        let _ = self
            .call(
                reqwest::Method::DELETE,
                &format!("/v1/sandboxes/{id}"),
                None,
            )
            .await;
    }
}

fn docker(args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("docker")
        .args(args)
        .output()
        .context("running the docker CLI")?;
    if !output.status.success() {
        bail!(
            "docker {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn docker_run(image: &str) -> anyhow::Result<String> {
    docker(&[
        "run",
        "-d",
        "--read-only",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges:true",
        "--user",
        "sandbox",
        "-v",
        "/home/sandbox",
        "-v",
        "/tmp",
        "--init",
        "--cpus",
        "1",
        "--memory",
        "1g",
        "--pids-limit",
        "512",
        image,
        "sleep",
        "infinity",
    ])
}

pub(crate) fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    if samples.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (samples.len() as f64 - 1.0)).round() as usize;
    samples[rank.min(samples.len() - 1)]
}

async fn time_async<F, Fut>(n: usize, mut f: F) -> anyhow::Result<Vec<f64>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        f().await?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(samples)
}

fn time_sync(n: usize, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Vec<f64>> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        f()?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(samples)
}

fn row(name: &str, mut sockt: Vec<f64>, mut plain: Vec<f64>) {
    let (s50, s95) = (percentile(&mut sockt, 50.0), percentile(&mut sockt, 95.0));
    let (d50, d95) = (percentile(&mut plain, 50.0), percentile(&mut plain, 95.0));
    println!(
        "| {name} | {s50:.1} | {s95:.1} | {d50:.1} | {d95:.1} | {:.2}x |",
        s50 / d50
    );
}

pub async fn run(config: BenchConfig) -> anyhow::Result<()> {
    if let Some(events) = config.stream_events {
        return stream::run(events, config.iterations, config.database_url.as_ref()).await;
    }
    let key = config
        .api_key
        .as_ref()
        .context("--api-key (or SOCKT_API_KEY) is required to benchmark a server")?;
    let client = Client {
        http: reqwest::Client::new(),
        url: config.url.trim_end_matches('/').to_string(),
        key: key.expose_secret().to_string(),
    };
    let n = config.iterations.max(3);
    let payload = vec![0xA5u8; 1 << 20];
    let payload_b64 = base64::engine::general_purpose::STANDARD.encode(&payload);
    println!(
        "sockt bench: {n} samples per operation against {} and the docker CLI (image {})",
        client.url, config.sandbox_image
    );
    println!();
    println!(
        "| operation | sockt p50 ms | sockt p95 ms | docker p50 ms | docker p95 ms | p50 ratio |"
    );
    println!("|---|---|---|---|---|---|");

    // create → running, and create → first command done.
    let mut sockt_create = Vec::with_capacity(n);
    let mut sockt_first_exec = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let id = client.create_running(&config.tier).await?;
        sockt_create.push(started.elapsed().as_secs_f64() * 1000.0);
        client.exec_wait(&id, "true").await?;
        sockt_first_exec.push(started.elapsed().as_secs_f64() * 1000.0);
        client.terminate(&id).await;
    }
    let mut docker_create = Vec::with_capacity(n);
    let mut docker_first_exec = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let container = docker_run(&config.sandbox_image)?;
        docker_create.push(started.elapsed().as_secs_f64() * 1000.0);
        docker(&["exec", "-u", "sandbox", &container, "true"])?;
        docker_first_exec.push(started.elapsed().as_secs_f64() * 1000.0);
        docker(&["rm", "-f", "-v", &container])?;
    }
    row(
        "create → running (docker: run -d)",
        sockt_create,
        docker_create,
    );
    row(
        "create → first `true` done (docker: run -d + exec)",
        sockt_first_exec,
        docker_first_exec,
    );

    let id = client.create_running(&config.tier).await?;
    let container = docker_run(&config.sandbox_image)?;
    let result = async {
        let sockt_exec = time_async(n, || async {
            let poll = client.exec_wait(&id, "true").await?;
            if poll["exit_code"] != 0 {
                bail!("exec true answered {poll}");
            }
            Ok(())
        })
        .await?;
        let docker_exec = time_sync(n, || docker(&["exec", "-u", "sandbox", &container, "true"]).map(|_| ()))?;
        row("exec `true` round trip", sockt_exec, docker_exec);

        let sockt_files = time_async(n, || async {
            client
                .call(reqwest::Method::POST, &format!("/v1/sandboxes/{id}/files/write"), Some(json!({"path": "bench.bin", "content": payload_b64, "encoding": "base64"})))
                .await?;
            let read = client.call(reqwest::Method::POST, &format!("/v1/sandboxes/{id}/files/read"), Some(json!({"path": "bench.bin", "encoding": "base64"}))).await?;
            if read["size"] != json!(1 << 20) {
                bail!("read back {} bytes", read["size"]);
            }
            Ok(())
        })
        .await?;
        let dir = std::env::temp_dir().join(format!("sockt-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let src = dir.join("bench.bin");
        std::fs::write(&src, &payload)?;
        let dst = dir.join("back.bin");
        let docker_files = time_sync(n, || {
            docker(&["cp", &src.to_string_lossy(), &format!("{container}:/home/sandbox/bench.bin")])?;
            docker(&["cp", &format!("{container}:/home/sandbox/bench.bin"), &dst.to_string_lossy()])?;
            Ok(())
        })?;
        let _ = std::fs::remove_dir_all(&dir);
        row("1 MiB file write + read (docker: cp in + cp out)", sockt_files, docker_files);

        let window = Duration::from_secs(3);
        let started = Instant::now();
        let mut sockt_reads = 0u64;
        while started.elapsed() < window {
            client.call(reqwest::Method::GET, &format!("/v1/sandboxes/{id}"), None).await?;
            sockt_reads += 1;
        }
        let sockt_rate = sockt_reads as f64 / started.elapsed().as_secs_f64();
        let started = Instant::now();
        let mut docker_reads = 0u64;
        while started.elapsed() < window {
            docker(&["inspect", "-f", "{{.State.Status}}", &container])?;
            docker_reads += 1;
        }
        let docker_rate = docker_reads as f64 / started.elapsed().as_secs_f64();
        println!();
        println!("status reads per second (one client, sequential): sockt {sockt_rate:.0}/s, docker inspect {docker_rate:.0}/s, ratio {:.1}x", sockt_rate / docker_rate);
        Ok::<_, anyhow::Error>(())
    }
    .await;
    client.terminate(&id).await;
    let _ = docker(&["rm", "-f", "-v", &container]);
    result
}
