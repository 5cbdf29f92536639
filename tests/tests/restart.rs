//! Recovery: kill -9 the server at any moment and start it again. State
//! comes back from the event log, running sandboxes keep running and are
//! billed without gaps or overlaps, stray containers go, vanished ones fail.
#![allow(clippy::unwrap_used)]

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tests::process::{call, wait_exec, wait_state, ServerProcess};
use tests::{docker, sockt_binary, stream_text, temp_dir, TestServer};

/// Start `sockt serve` on `data_dir`, charging every second.
fn spawn_server(data_dir: &Path) -> (ServerProcess, String) {
    let dir = data_dir.to_string_lossy().to_string();
    let server = ServerProcess::spawn(
        &["--charge-interval-ms", "1000"],
        &[("SOCKT_DATA_DIR", dir.as_str())],
    );
    let url = server.url.clone();
    (server, url)
}

async fn wait_running(url: &str, key: &str, id: &str) {
    wait_state(url, key, id, "running").await;
}

/// Account commands work on the store alone: they never set up what a
/// running server owns on the engine (its sandboxes' network rules, its
/// cgroup weight), so they run with no engine reachable at all.
#[test]
fn account_commands_need_no_engine() {
    let data_dir = temp_dir("sockt-accounts-cli");
    let env = [
        ("SOCKT_DATA_DIR", data_dir.to_str().unwrap()),
        ("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
    ];
    let created = tests::run_sockt(&["accounts", "create", "--credits-cents", "100"], &env);
    let account = created
        .split_whitespace()
        .nth(1)
        .expect("the account's id follows 'account'");
    let deposited = tests::run_sockt(
        &[
            "accounts",
            "deposit",
            "--account-id",
            account,
            "--credits-cents",
            "50",
        ],
        &env,
    );
    assert!(
        deposited.contains("now holds 150 cents"),
        "{created}\n{deposited}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_dash_nine_then_restart_loses_nothing_and_bills_no_second_twice() {
    let data_dir = temp_dir("sockt-restart");
    let (mut server, url) = spawn_server(&data_dir);

    // An account made by the CLI while the server runs: the key is the last line.
    let stdout = tests::run_sockt(
        &[
            "accounts",
            "create",
            "--credits-cents",
            "100",
            "--name",
            "cli",
        ],
        &[("SOCKT_DATA_DIR", &data_dir.to_string_lossy())],
    );
    let key = stdout.lines().last().unwrap().trim().to_string();
    assert!(key.starts_with("sockt_live_"), "{stdout}");

    let (status, created) = call(
        &url,
        reqwest::Method::POST,
        "/v1/sandboxes",
        &key,
        Some(json!({"tier": "small", "initial_credits_cents": 50})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["sandbox_id"].as_str().unwrap().to_string();
    wait_running(&url, &key, &id).await;
    let container = docker(&["inspect", "-f", "{{.Id}}", &format!("sockt-{id}")]);
    let (_, started) = call(
        &url,
        reqwest::Method::POST,
        &format!("/v1/sandboxes/{id}/exec"),
        &key,
        Some(json!({"command": "sleep 60"})),
    )
    .await;
    let interrupted = started["execution_id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(2500)).await;

    server.kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Status}}", &container]),
        "running",
        "the sandbox outlives the server"
    );

    let (mut server, url) = spawn_server(&data_dir);
    let (_, status) = call(
        &url,
        reqwest::Method::GET,
        &format!("/v1/sandboxes/{id}"),
        &key,
        None,
    )
    .await;
    assert_eq!(status["status"], "running", "{status}");
    let poll = wait_exec(&url, &key, &interrupted).await;
    assert_eq!(poll["status"], "failed");
    assert!(
        poll["error"].as_str().unwrap().contains("restarted"),
        "{poll}"
    );
    let (_, started) = call(
        &url,
        reqwest::Method::POST,
        &format!("/v1/sandboxes/{id}/exec"),
        &key,
        Some(json!({"command": "echo back"})),
    )
    .await;
    let poll = wait_exec(&url, &key, started["execution_id"].as_str().unwrap()).await;
    assert_eq!(stream_text(&poll, "stdout"), "back\n");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, _) = call(
        &url,
        reqwest::Method::DELETE,
        &format!("/v1/sandboxes/{id}"),
        &key,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let (_, ledger) = call(
        &url,
        reqwest::Method::GET,
        &format!("/v1/sandboxes/{id}/ledger"),
        &key,
        None,
    )
    .await;
    let charges: Vec<&Value> = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "charge")
        .collect();
    for pair in charges.windows(2) {
        assert_eq!(
            pair[0]["to_ms"], pair[1]["from_ms"],
            "no gap and no overlap across the restart"
        );
    }
    let first = charges.first().unwrap()["from_ms"].as_i64().unwrap();
    let last = charges.last().unwrap()["to_ms"].as_i64().unwrap();
    let covered: i64 = charges
        .iter()
        .map(|c| c["duration_ms"].as_i64().unwrap())
        .sum();
    assert_eq!(covered, last - first);
    assert!(covered > 7_000, "the downtime was billed too: {covered} ms");
    let charged: u64 = charges
        .iter()
        .map(|c| c["amount_msats"].as_u64().unwrap())
        .sum();
    assert_eq!(ledger["totals"]["charged_msats"].as_u64().unwrap(), charged);
    assert_eq!(
        ledger["totals"]["paid_in_msats"].as_u64().unwrap(),
        charged + ledger["totals"]["refunded_msats"].as_u64().unwrap()
    );
    let (_, health) = call(&url, reqwest::Method::GET, "/healthz", "", None).await;
    server.kill();
    // Its warm pool's containers too (nothing else takes them in).
    tests::remove_containers_of(health["instance"].as_str().unwrap());
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_removes_strays_and_fails_sandboxes_whose_container_vanished() {
    let server = TestServer::start().await;
    let key = server.account(100).await;
    let kept = server
        .running_sandbox(&key, json!({"tier": "nano", "initial_credits_cents": 10}))
        .await;
    let lost = server
        .running_sandbox(&key, json!({"tier": "nano", "initial_credits_cents": 10}))
        .await;
    let instance = server.instance_id.clone();
    let data_dir = server.stop().await;

    docker(&["rm", "-f", "-v", &format!("sockt-{lost}")]);
    let stray = docker(&[
        "run",
        "-d",
        "--label",
        "sockt.managed=true",
        "--label",
        &format!("sockt.instance={instance}"),
        "--label",
        "sockt.sandbox_id=ghost",
        adapters::image::DEFAULT_IMAGE,
        "sleep",
        "infinity",
    ]);
    assert!(!stray.is_empty());

    let server = TestServer::start_in(data_dir, &[]).await;
    assert_eq!(
        docker(&["ps", "-aq", "--filter", &format!("id={stray}")]),
        "",
        "the stray container was removed"
    );
    let (_, status) = server.get(&format!("/v1/sandboxes/{kept}"), &key).await;
    assert_eq!(status["status"], "running");
    // Failed after the grace a terminate elsewhere gets to record its end.
    let status = server.wait_for_state(&key, &lost, "failed").await;
    assert!(status["error"].as_str().unwrap().contains("vanished"));
    let (status_code, body) = server
        .post(
            &format!("/v1/sandboxes/{lost}/exec"),
            &key,
            json!({"command": "true"}),
        )
        .await;
    assert_eq!(status_code, StatusCode::GONE, "{body}");
    let (_, ledger) = server
        .get(&format!("/v1/sandboxes/{lost}/ledger"), &key)
        .await;
    let totals = &ledger["totals"];
    assert_eq!(totals["balance_msats"], 0);
    let (_, account) = server.get("/v1/account", &key).await;
    let (_, kept_ledger) = server
        .get(&format!("/v1/sandboxes/{kept}/ledger"), &key)
        .await;
    // 100 cents less the kept sandbox's allocation, less what the lost one used.
    assert_eq!(
        account["credits_msats"].as_u64().unwrap(),
        1_000_000
            - kept_ledger["totals"]["paid_in_msats"].as_u64().unwrap()
            - totals["charged_msats"].as_u64().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_that_dies_while_serving_fails_its_sandbox_and_stops_billing() {
    let server = TestServer::start().await;
    let key = server.account(100).await;
    let id = server
        .running_sandbox(&key, json!({"tier": "nano", "initial_credits_cents": 10}))
        .await;
    docker(&["rm", "-f", &format!("sockt-{id}")]);
    let failed = server.wait_for_state(&key, &id, "failed").await;
    assert!(
        failed["error"].as_str().unwrap().contains("vanished"),
        "{failed}"
    );
    let charged = failed["consumed_msats"].as_u64().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (_, later) = server.get(&format!("/v1/sandboxes/{id}"), &key).await;
    assert_eq!(
        later["consumed_msats"].as_u64().unwrap(),
        charged,
        "no billing after the failure"
    );
    let (_, account) = server.get("/v1/account", &key).await;
    assert_eq!(
        account["credits_msats"].as_u64().unwrap(),
        1_000_000 - charged,
        "the rest came back"
    );
}

/// A process that dies between recording a create and recording the start
/// leaves a `creating` sandbox, with or without a container made for it: the
/// next process provisions it, adopting that container instead of making a
/// second one, and nothing is failed.
#[tokio::test(flavor = "multi_thread")]
async fn sandboxes_a_dead_process_was_creating_are_provisioned_or_adopted() {
    use adapters::docker::{DockerConfig, DockerRuntime};
    use adapters::store::StoreLocation;
    use domain::account::AccountCommand;
    use domain::ports::{SandboxRuntime, SandboxSpec};
    use domain::sandbox::{BillingMethod, Funding, FundingSource, SandboxCommand};
    use domain::{Msats, Tier, TierName};

    let server = TestServer::start().await;
    let key = server.account(100).await;
    let (_, account) = server.get("/v1/account", &key).await;
    let account_id = account["account_id"].as_str().unwrap().to_string();
    let instance = server.instance_id.clone();
    let data_dir = server.stop().await;

    // What the dead process had recorded: the allocation and the create.
    let stores = api::stores::open(&StoreLocation::Sqlite(data_dir.join("events.db")))
        .await
        .unwrap();
    let amount = Msats::from_cents(10).unwrap();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let id = uuid::Uuid::new_v4().to_string();
        let transfer_id = domain::transfers::funding_transfer_id(&id);
        stores
            .events
            .accounts
            .execute(
                &account_id,
                AccountCommand::AllocateCredits {
                    sandbox_id: id.clone(),
                    transfer_id: transfer_id.clone(),
                    amount,
                    now_ms: 1,
                },
            )
            .await
            .unwrap();
        stores
            .events
            .sandboxes
            .execute(
                &id,
                SandboxCommand::CreateSandbox {
                    owner: Some(account_id.clone()),
                    tier: TierName::Nano,
                    billing: BillingMethod::Credits,
                    label: None,
                    image: adapters::image::DEFAULT_IMAGE.into(),
                    token_hash: None,
                    network: Default::default(),
                    runtime: None,
                    lifetime: Default::default(),
                    env: None,
                    initial_funding: Some(Funding {
                        amount,
                        source: FundingSource::Account {
                            account_id: account_id.clone(),
                            transfer_id: Some(transfer_id),
                        },
                    }),
                    now_ms: 1,
                },
            )
            .await
            .unwrap();
        ids.push(id);
    }
    drop(stores);
    // ...and for the second sandbox, the container it had made.
    let runtime = DockerRuntime::connect(DockerConfig {
        instance: instance.clone(),
        ..DockerConfig::default()
    })
    .await
    .unwrap();
    let made = runtime
        .create(&SandboxSpec {
            sandbox_id: ids[1].clone(),
            image: adapters::image::DEFAULT_IMAGE.into(),
            tier: Tier::of(TierName::Nano),
            network: Default::default(),
            runtime: None,
            env: Default::default(),
        })
        .await
        .unwrap();

    let server = TestServer::start_in(data_dir, &[]).await;
    for id in &ids {
        server.wait_for_state(&key, id, "running").await;
    }
    let adopted = server.read.sandbox(&ids[1]).unwrap();
    assert_eq!(adopted.container_id.as_deref(), Some(made.as_str()));
    let containers = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=sockt.sandbox_id={}", ids[1]),
    ]);
    assert_eq!(containers.lines().count(), 1, "one container: {containers}");
    let poll = server
        .exec(&key, &ids[1], json!({"command": "echo adopted"}))
        .await;
    assert_eq!(stream_text(&poll, "stdout"), "adopted\n");
    for id in &ids {
        let (status, _) = server.delete(&format!("/v1/sandboxes/{id}"), &key).await;
        assert_eq!(status, StatusCode::OK);
    }
}

/// SQLite serves one process: a second server on the same store is refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_server_on_one_sqlite_store_is_refused() {
    let server = TestServer::start().await;
    let output = Command::new(sockt_binary())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("SOCKT_DATA_DIR", &server.data_dir)
        .env_remove("SOCKT_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SQLite serves one process"), "{stderr}");
}

/// A graceful stop lets the removals of terminated sandboxes' containers
/// finish: nothing of a sandbox terminated just before outlives the server.
#[tokio::test(flavor = "multi_thread")]
async fn a_graceful_stop_finishes_removing_terminated_containers() {
    let server = TestServer::start().await;
    let key = server.account(10).await;
    let id = server
        .running_sandbox(&key, json!({"tier": "nano", "initial_credits_cents": 5}))
        .await;
    let (status, _) = server.delete(&format!("/v1/sandboxes/{id}"), &key).await;
    assert_eq!(status, StatusCode::OK);
    let data_dir = server.stop().await;
    let left = docker(&["ps", "-aq", "--filter", &format!("name=sockt-{id}")]);
    assert_eq!(
        left, "",
        "the terminated sandbox's container outlived the stop"
    );
    let _ = std::fs::remove_dir_all(data_dir);
}

/// SIGTERM while an execution's output streams (SSE) and a shell is open:
/// the stream ends with an `error` event of code `server_stopping` and a
/// retry delay, the shell closes with WebSocket code 1012 (service
/// restart), both of which clients reconnect on, and the process exits at
/// once, cleanly — a long stream no longer holds a stop for its length.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_ends_streams_and_shells_with_a_reconnect_code_and_exits_at_once() {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use tokio_tungstenite::tungstenite::Message;

    let data_dir = temp_dir("sockt-sigterm");
    let (mut server, url) = spawn_server(&data_dir);
    let (_, health) = call(&url, reqwest::Method::GET, "/healthz", "", None).await;
    let instance = health["instance"].as_str().unwrap().to_string();
    tests::note_instance(&instance);
    let stdout = tests::run_sockt(
        &["accounts", "create", "--credits-cents", "20"],
        &[("SOCKT_DATA_DIR", &data_dir.to_string_lossy())],
    );
    let key = stdout.lines().last().unwrap().trim().to_string();
    let (status, created) = call(
        &url,
        reqwest::Method::POST,
        "/v1/sandboxes",
        &key,
        Some(json!({"tier": "nano", "initial_credits_cents": 5})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["sandbox_id"].as_str().unwrap().to_string();
    wait_running(&url, &key, &id).await;
    let (_, started) = call(
        &url,
        reqwest::Method::POST,
        &format!("/v1/sandboxes/{id}/exec"),
        &key,
        Some(json!({"command": "echo first; sleep 100", "timeout_ms": 120000})),
    )
    .await;
    let execution = started["execution_id"].as_str().unwrap().to_string();
    let response = reqwest::Client::new()
        .get(format!("{url}/v1/executions/{execution}/stream"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.bytes_stream();
    let mut streamed = String::new();
    while !streamed.contains("first") {
        let chunk = tokio::time::timeout(Duration::from_secs(20), body.next())
            .await
            .expect("the first output arrives")
            .unwrap()
            .unwrap();
        streamed.push_str(&String::from_utf8_lossy(&chunk));
    }
    let (_, shell) = call(
        &url,
        reqwest::Method::GET,
        &format!("/v1/sandboxes/{id}/shell-url"),
        &key,
        None,
    )
    .await;
    let (mut socket, _) = tokio_tungstenite::connect_async(shell["url"].as_str().unwrap())
        .await
        .unwrap();

    let stopping = std::time::Instant::now();
    assert!(server.terminate(), "sockt serve exits 0 on SIGTERM");
    let took = stopping.elapsed();
    assert!(took < Duration::from_secs(10), "the stop took {took:?}");

    while let Some(Ok(chunk)) = body.next().await {
        streamed.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        streamed.contains("event: error") && streamed.contains("\"server_stopping\""),
        "{streamed}"
    );
    assert!(streamed.contains("retry: 1000"), "{streamed}");
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
            Ok(Some(Ok(Message::Close(close)))) => break close,
            Ok(Some(Ok(_))) => continue,
            other => panic!("the shell did not close with a frame: {other:?}"),
        }
    };
    assert_eq!(close.map(|c| c.code), Some(CloseCode::Restart));
    tests::remove_containers_of(&instance);
    let _ = std::fs::remove_dir_all(data_dir);
}
