//! Replicas: two `sockt serve` processes on one PostgreSQL and one Docker
//! engine serve the whole API behind the same clients. Agents spread their
//! creates, execs and terminates across both while the leader is killed with
//! `kill -9`; the follower takes over the background duties within 5 s, no
//! sandbox fails, every ledger stays gap-free, and `sockt audit` is clean.
#![allow(clippy::unwrap_used)]

use reqwest::Method;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tests::process::{call, ServerProcess};
use tests::{postgres_database, sockt_binary, ADMIN_TOKEN};

const AGENTS: usize = 6;
const ROUNDS: usize = 6;

fn replica(database_url: &str) -> ServerProcess {
    ServerProcess::spawn(
        &[
            "--admin-token",
            ADMIN_TOKEN,
            "--charge-interval-ms",
            "1000",
            "--rate-limit-per-minute",
            "100000",
        ],
        &[
            ("SOCKT_DATABASE_URL", database_url),
            (
                "SOCKT_DATA_DIR",
                tests::temp_dir("sockt-replica").to_str().unwrap(),
            ),
        ],
    )
}

/// The URLs still answering; requests go to them in turn.
#[derive(Clone)]
struct Fleet(Arc<Mutex<Vec<String>>>);

impl Fleet {
    fn pick(&self, n: usize) -> String {
        let urls = self.0.lock().unwrap();
        urls[n % urls.len()].clone()
    }

    fn remove(&self, url: &str) {
        self.0.lock().unwrap().retain(|u| u != url);
    }

    /// One request, to server `n` (in turn), retried on another when a
    /// server does not answer (it may just have been killed).
    async fn call(
        &self,
        n: usize,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        for attempt in 0..20 {
            let url = self.pick(n + attempt);
            let mut request = reqwest::Client::new()
                .request(method.clone(), format!("{url}{path}"))
                .timeout(Duration::from_secs(30))
                .bearer_auth(key);
            if let Some(body) = &body {
                request = request.json(body);
            }
            match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    return (status, response.json().await.unwrap_or(Value::Null));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        panic!("no server answered {path}");
    }

    async fn wait_state(&self, n: usize, key: &str, id: &str, state: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, status) = self
                .call(n, Method::GET, &format!("/v1/sandboxes/{id}"), key, None)
                .await;
            if status["status"] == state {
                return;
            }
            assert_ne!(status["status"], "failed", "sandbox {id} failed: {status}");
            assert!(
                Instant::now() < deadline,
                "sandbox {id} never reached {state}: {status}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// One agent: create on one server, see it run on the other, run a command,
/// terminate on the other; returns the sandboxes it made.
async fn agent(fleet: Fleet, key: String, agent: usize) -> Vec<String> {
    let mut made = Vec::new();
    for round in 0..ROUNDS {
        let n = agent + round;
        let (status, created) = fleet
            .call(
                n,
                Method::POST,
                "/v1/sandboxes",
                &key,
                Some(json!({"tier": "nano", "initial_credits_cents": 5})),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        let id = created["sandbox_id"].as_str().unwrap().to_string();
        made.push(id.clone());
        fleet.wait_state(n + 1, &key, &id, "running").await;
        // A command and its polls go to one server (its output lives there).
        // (one attempt: the server may be the one just killed)
        let exec_server = fleet.pick(n);
        let started = reqwest::Client::new()
            .post(format!("{exec_server}/v1/sandboxes/{id}/exec"))
            .bearer_auth(&key)
            .json(&json!({"command": format!("echo {agent}-{round}")}))
            .send()
            .await;
        let started = match started {
            Ok(response) if response.status().as_u16() == 201 => {
                response.json::<Value>().await.ok()
            }
            _ => None,
        };
        if let Some(started) = started {
            let execution = started["execution_id"].as_str().unwrap().to_string();
            let (_, poll) = fleet
                .call(
                    n,
                    Method::GET,
                    &format!("/v1/executions/{execution}?wait_ms=5000"),
                    &key,
                    None,
                )
                .await;
            assert!(poll["status"].is_string(), "{poll}");
        }
        let (status, ended) = fleet
            .call(
                n + 1,
                Method::DELETE,
                &format!("/v1/sandboxes/{id}"),
                &key,
                None,
            )
            .await;
        assert!(status == 200 || status == 410, "{status} {ended}");
    }
    made
}

/// Every charge starts where the one before it ended, unless the sandbox was
/// paused in between.
fn assert_gap_free(id: &str, ledger: &Value) {
    let mut last_to: Option<i64> = None;
    for entry in ledger["entries"].as_array().unwrap() {
        if entry["kind"] != "charge" {
            continue;
        }
        let (from, to) = (
            entry["from_ms"].as_i64().unwrap(),
            entry["to_ms"].as_i64().unwrap(),
        );
        if let Some(last) = last_to {
            assert!(from >= last, "sandbox {id}: overlapping charges {ledger}");
        }
        assert!(to >= from);
        last_to = Some(to);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_share_the_work_and_survive_the_leaders_death() {
    let Some(database) = postgres_database().await else {
        return;
    };
    let mut servers = vec![replica(&database), replica(&database)];
    let urls: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();
    let health: Vec<Value> = futures::future::join_all(
        urls.iter()
            .map(|u| async move { call(u, Method::GET, "/healthz", "", None).await.1 }),
    )
    .await;
    let leaders: Vec<usize> = (0..2).filter(|&i| health[i]["leader"] == true).collect();
    assert_eq!(leaders.len(), 1, "exactly one leader: {health:?}");
    assert_eq!(
        health[0]["instance"], health[1]["instance"],
        "one store, one identity"
    );
    let leader = leaders[0];
    let follower = 1 - leader;

    // An account made through one replica works on the other at once.
    let (status, account) = call(
        &urls[follower],
        Method::POST,
        "/v1/admin/accounts",
        ADMIN_TOKEN,
        Some(json!({"name": "replicas", "credits_cents": 10_000})),
    )
    .await;
    assert_eq!(status.as_u16(), 201, "{account}");
    let key = account["api_key"].as_str().unwrap().to_string();
    let (status, _) = call(&urls[leader], Method::GET, "/v1/account", &key, None).await;
    assert_eq!(status.as_u16(), 200);

    // A sandbox that keeps running across the takeover, billed by both leaders.
    let fleet = Fleet(Arc::new(Mutex::new(urls.clone())));
    let (_, created) = fleet
        .call(
            follower,
            Method::POST,
            "/v1/sandboxes",
            &key,
            Some(json!({"tier": "nano", "initial_credits_cents": 50})),
        )
        .await;
    let long_lived = created["sandbox_id"].as_str().unwrap().to_string();
    fleet.wait_state(leader, &key, &long_lived, "running").await;

    let agents: Vec<_> = (0..AGENTS)
        .map(|a| tokio::spawn(agent(fleet.clone(), key.clone(), a)))
        .collect();
    tokio::time::sleep(Duration::from_secs(4)).await;
    servers[leader].kill();
    let killed = Instant::now();
    fleet.remove(&urls[leader]);
    loop {
        let (_, health) = call(&urls[follower], Method::GET, "/healthz", "", None).await;
        if health["leader"] == true {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(5),
            "no takeover within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took_over = killed.elapsed();

    let mut made = vec![long_lived.clone()];
    for agent in agents {
        made.extend(agent.await.unwrap());
    }
    // The new leader bills the long-lived sandbox from where the old one stopped.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let survivor = &urls[follower];
    let (status, _) = call(
        survivor,
        Method::DELETE,
        &format!("/v1/sandboxes/{long_lived}"),
        &key,
        None,
    )
    .await;
    assert_eq!(status.as_u16(), 200);
    // A create whose server died before answering was retried on the other:
    // the first one exists too (provisioned by the new leader, not failed).
    // Every sandbox of the account is ended by its owner, as a client would.
    let (_, listed) = call(
        survivor,
        Method::POST,
        "/v1/graphql",
        &key,
        Some(json!({"query": "{ sandboxes(first: 100) { nodes { sandboxId status } } }"})),
    )
    .await;
    for node in listed["data"]["sandboxes"]["nodes"].as_array().unwrap() {
        let id = node["sandboxId"].as_str().unwrap().to_string();
        assert_ne!(node["status"], "failed", "no sandbox fails: {node}");
        if node["status"] != "terminated" {
            let (status, _) = call(
                survivor,
                Method::DELETE,
                &format!("/v1/sandboxes/{id}"),
                &key,
                None,
            )
            .await;
            assert_eq!(status.as_u16(), 200);
        }
        if !made.contains(&id) {
            made.push(id);
        }
    }
    // Every transfer of credits is settled before the store is audited.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for id in &made {
        let (_, view) = call(
            survivor,
            Method::GET,
            &format!("/v1/sandboxes/{id}"),
            &key,
            None,
        )
        .await;
        assert_eq!(view["status"], "terminated", "{view}");
        let (_, ledger) = call(
            survivor,
            Method::GET,
            &format!("/v1/sandboxes/{id}/ledger"),
            &key,
            None,
        )
        .await;
        assert_gap_free(id, &ledger);
    }
    let (_, ledger) = call(
        survivor,
        Method::GET,
        &format!("/v1/sandboxes/{long_lived}/ledger"),
        &key,
        None,
    )
    .await;
    let charged: i64 = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "charge")
        .map(|e| e["to_ms"].as_i64().unwrap() - e["from_ms"].as_i64().unwrap())
        .sum();
    let running_for = ledger["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "charge")
        .map(|e| e["to_ms"].as_i64().unwrap())
        .max()
        .unwrap()
        - ledger["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "charge")
            .map(|e| e["from_ms"].as_i64().unwrap())
            .min()
            .unwrap();
    assert_eq!(
        charged, running_for,
        "no gap in the long-lived sandbox's billing: {ledger}"
    );
    assert!(running_for > 6_000, "billed across the takeover: {ledger}");

    // Credits the killed leader had allocated to a sandbox it never made
    // are undone by the survivor's leader duty once they are ten seconds
    // old: the ledger balances within seconds of that, with the survivor
    // still serving.
    let audit_deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let audit = std::process::Command::new(sockt_binary())
            .args(["audit", "--database-url", &database])
            .output()
            .unwrap();
        if audit.status.success() {
            break;
        }
        assert!(
            Instant::now() < audit_deadline,
            "the audit still fails 30 s on: {}",
            String::from_utf8_lossy(&audit.stdout)
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    servers.clear();
    let instance = health[0]["instance"].as_str().unwrap();
    let left = tests::sandbox_containers_of(instance);
    tests::remove_containers_of(instance);
    assert!(
        left.is_empty(),
        "every sandbox's container is gone: {left:?}"
    );
    eprintln!(
        "takeover after kill -9 of the leader: {} ms",
        took_over.as_millis()
    );
}
