//! Test harness for the integration tests: a real server (in process, on a
//! random port, with its own data directory and store) against the real
//! Docker engine, plus helpers to talk to it and to the `sockt` binary.
#![allow(clippy::unwrap_used)]

pub mod lnbits;
pub mod lnbits_process;
pub mod process;
pub mod traces;

use clap::Parser;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// A fresh data directory under the system temp dir.
pub fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A fresh PostgreSQL database, or None (loudly) where none is configured.
pub async fn postgres_database() -> Option<String> {
    let Ok(admin_url) = std::env::var("SOCKT_TEST_DATABASE_URL") else {
        if std::env::var("CI").is_ok() {
            panic!("SOCKT_TEST_DATABASE_URL is not set: CI must run the PostgreSQL store tests (scripts/test.sh starts PostgreSQL)");
        }
        eprintln!("SKIPPED: PostgreSQL store tests need SOCKT_TEST_DATABASE_URL (run scripts/test.sh, which starts PostgreSQL)");
        return None;
    };
    let name = format!("sockt_test_{}", uuid::Uuid::new_v4().simple());
    let mut connection = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut connection)
        .await
        .unwrap();
    let base = admin_url.rsplit_once('/').unwrap().0;
    Some(format!("{base}/{name}"))
}

/// The `sockt` binary built beside this test (the test script builds it first).
pub fn sockt_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|p| p.parent()).unwrap();
    let binary = dir.join("sockt");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build --bin sockt` first (scripts/test.sh does)",
        binary.display()
    );
    binary
}

/// Run the `sockt` binary (no SOCKT_DATABASE_URL unless `env` sets it);
/// panics with its stderr unless it succeeds; returns its stdout.
pub fn run_sockt(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut command = std::process::Command::new(sockt_binary());
    command.args(args).env_remove("SOCKT_DATABASE_URL");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "sockt {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A running server and a client for it.
pub struct TestServer {
    pub url: String,
    pub data_dir: PathBuf,
    pub instance_id: String,
    /// The server's live read model.
    pub read: projections::ReadModel,
    shutdown: CancellationToken,
    served: Option<tokio::task::JoinHandle<()>>,
    http: reqwest::Client,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(&[]).await
    }

    /// Start with extra `sockt serve` flags.
    pub async fn start_with(extra: &[&str]) -> TestServer {
        Self::start_in(temp_dir("sockt-test"), extra).await
    }

    /// Start on an existing data directory (a restart).
    pub async fn start_in(data_dir: PathBuf, extra: &[&str]) -> TestServer {
        let dir = data_dir.to_string_lossy().to_string();
        let mut args = vec![
            "sockt",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            &dir,
            "--admin-token",
            ADMIN_TOKEN,
            "--log-format",
            "text",
        ];
        // No warm pool unless a test asks for one: dozens of test servers
        // filling pools at once would only load the engine.
        if !extra.contains(&"--pool") {
            args.extend_from_slice(&["--pool", "0"]);
        }
        args.extend_from_slice(extra);
        let cli = api::config::Cli::try_parse_from(args).unwrap();
        let api::config::Command::Serve(config) = cli.command else {
            unreachable!("serve was parsed")
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let url = format!("http://{address}");
        let running = api::bootstrap(&config, address).await.unwrap();
        let instance_id = running.state.instance_id.clone();
        note_instance(&instance_id);
        let read = running.state.app.queries().read_model().clone();
        let shutdown = running.shutdown.clone();
        let router = api::router(running.state);
        let served = tokio::spawn(async move {
            api::serve(listener, router, running.shutdown)
                .await
                .unwrap();
            // The lease (for SQLite, a lock on the store) is let go.
            let _ = running.background.await;
        });
        TestServer {
            url,
            data_dir,
            instance_id,
            read,
            shutdown,
            served: Some(served),
            http: reqwest::Client::new(),
        }
    }

    /// Stop serving (containers stay, as after a crash of the process).
    pub async fn stop(mut self) -> PathBuf {
        self.shutdown.cancel();
        if let Some(served) = self.served.take() {
            let _ = served.await;
        }
        // Keep the containers: the caller restarts on this data directory.
        self.instance_id.clear();
        self.data_dir.clone()
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(auth) = auth {
            request = request.bearer_auth(auth);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// Start with Lightning billing against the test LNbits, Sockt's wallet
    /// being a fresh wallet there.
    pub async fn start_lightning(lnbits: &lnbits::Lnbits, extra: &[&str]) -> TestServer {
        let wallet = lnbits.wallet("sockt").await;
        let mut args = lnbits.serve_flags(&wallet);
        args.extend_from_slice(extra);
        Self::start_with(&args).await
    }

    pub async fn get(&self, path: &str, auth: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(auth), None).await
    }

    pub async fn post(&self, path: &str, auth: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(auth), Some(body)).await
    }

    pub async fn delete(&self, path: &str, auth: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(auth), None).await
    }

    /// A new account with `cents` of credits; returns its API key.
    pub async fn account(&self, cents: u64) -> String {
        let (status, body) = self
            .post(
                "/v1/admin/accounts",
                ADMIN_TOKEN,
                json!({"name": "test", "credits_cents": cents}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["api_key"].as_str().unwrap().to_string()
    }

    /// Create a sandbox and wait until it runs; returns its id.
    pub async fn running_sandbox(&self, key: &str, body: Value) -> String {
        let (status, created) = self.post("/v1/sandboxes", key, body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["sandbox_id"].as_str().unwrap().to_string();
        self.wait_for_state(key, &id, "running").await;
        id
    }

    pub async fn wait_for_state(&self, key: &str, id: &str, state: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, status) = self.get(&format!("/v1/sandboxes/{id}"), key).await;
            if status["status"] == state {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "sandbox {id} never reached {state}: {status}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Run a command to its end; returns the final poll.
    pub async fn exec(&self, key: &str, id: &str, body: Value) -> Value {
        let (status, started) = self
            .post(&format!("/v1/sandboxes/{id}/exec"), key, body)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{started}");
        let execution = started["execution_id"].as_str().unwrap().to_string();
        self.wait_execution(key, &execution).await
    }

    pub async fn wait_execution(&self, key: &str, execution: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (status, poll) = self
                .get(&format!("/v1/executions/{execution}?wait_ms=5000"), key)
                .await;
            assert_eq!(status, StatusCode::OK, "{poll}");
            if poll["status"] != "running" {
                return poll;
            }
            assert!(
                Instant::now() < deadline,
                "execution {execution} never ended"
            );
        }
    }
}

impl TestServer {
    /// Poll the sandbox's status as `auth` until `done` holds; fails the
    /// test after `within`, naming `what` it waited for.
    pub async fn wait_status(
        &self,
        auth: &str,
        id: &str,
        within: Duration,
        done: impl Fn(&Value) -> bool,
        what: &str,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let (_, status) = self.get(&format!("/v1/sandboxes/{id}"), auth).await;
            if done(&status) {
                return status;
            }
            assert!(Instant::now() < deadline, "never saw {what}: {status}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// An anonymous Lightning sandbox of `tier` and `sats`, created and
    /// awaiting its first payment.
    pub async fn lightning_sandbox(&self, tier: &str, sats: u64) -> LightningSandbox {
        let (status, created) = self
            .call(
                Method::POST,
                "/v1/sandboxes",
                None,
                Some(json!({"tier": tier, "billing_method": "lightning", "prepaid_sats": sats})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        LightningSandbox {
            id: created["sandbox_id"].as_str().unwrap().to_string(),
            token: created["sandbox_token"].as_str().unwrap().to_string(),
            created,
        }
    }

    /// An anonymous nano Lightning sandbox of `sats`, paid by `agent` and
    /// running: (id, sandbox token).
    pub async fn paid_lightning_sandbox(
        &self,
        lnbits: &lnbits::Lnbits,
        agent: &lnbits::Wallet,
        sats: u64,
    ) -> (String, String) {
        let sandbox = self.lightning_sandbox("nano", sats).await;
        lnbits.pay(agent, sandbox.bolt11()).await;
        self.wait_status(
            &sandbox.token,
            &sandbox.id,
            Duration::from_secs(90),
            |s| s["status"] == "running",
            "running",
        )
        .await;
        (sandbox.id, sandbox.token)
    }

    /// `sockt audit` over the server's store: it must pass.
    pub async fn assert_audit_passes(&self) -> projections::audit::AuditReport {
        let location = adapters::store::StoreLocation::Sqlite(self.data_dir.join("events.db"));
        let events = domain::ports::EventLogReader::read_all(&location.log())
            .await
            .unwrap();
        let report = projections::audit::audit(&events);
        assert!(report.passed(), "{:?}", report.violations);
        report
    }
}

/// All of one stream's output in a poll.
pub fn stream_text(poll: &Value, stream: &str) -> String {
    poll["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["stream"] == stream)
        .map(|c| c["chunk"].as_str().unwrap())
        .collect()
}

/// The containers of a store's sandboxes (not those waiting in its warm pool).
pub fn sandbox_containers_of(instance: &str) -> Vec<String> {
    docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=sockt.instance={instance}"),
        "--format",
        "{{.ID}} {{.Names}}",
    ])
    .lines()
    .filter_map(|line| line.split_once(' '))
    .filter(|(_, name)| !name.starts_with("sockt-pool-"))
    .map(|(id, _)| id.to_string())
    .collect()
}

/// The containers `docker ps -a --filter <filter>` still lists once they
/// are gone or ten seconds have passed (a terminate removes its container
/// in the background, after stopping everything in it).
pub async fn containers_left(filter: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = docker(&["ps", "-aq", "--filter", filter]);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Where scripts/test.sh asks test servers to leave their instance ids:
/// a server dropped while a provision was in flight may see its container
/// made after its clean-up, and the script removes those after the tests.
pub fn note_instance(instance: &str) {
    if let Ok(dir) = std::env::var("SOCKT_TEST_INSTANCES_DIR") {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(Path::new(&dir).join(instance), "");
    }
}

/// Remove every container of a store (its pool's too), after a test.
pub fn remove_containers_of(instance: &str) {
    let ids = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=sockt.instance={instance}"),
    ]);
    for id in ids.split_whitespace() {
        docker(&["rm", "-f", "-v", id]);
    }
}

/// `docker` CLI output, for checks from outside the server.
pub fn docker(args: &[&str]) -> String {
    let output = std::process::Command::new("docker")
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if !self.instance_id.is_empty() {
            remove_containers_of(&self.instance_id);
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

/// A Lightning sandbox as its create answered: its id, its token, and the
/// whole answer (with the invoice to pay).
pub struct LightningSandbox {
    pub id: String,
    pub token: String,
    pub created: Value,
}

impl LightningSandbox {
    /// The BOLT11 invoice that funds it.
    pub fn bolt11(&self) -> &str {
        self.created["pending_invoice"]["bolt11"].as_str().unwrap()
    }

    /// That invoice's payment hash.
    pub fn payment_hash(&self) -> &str {
        self.created["pending_invoice"]["payment_hash"]
            .as_str()
            .unwrap()
    }
}
