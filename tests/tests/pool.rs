//! The warm pool: containers started ahead of demand are taken by creates
//! that fit (same tier, no environment, the open network), are never billed
//! or shown while they wait, and refill after a take. A clean stop removes
//! them; after a crash the next start takes in as many as its pool wants,
//! and replicas of a shared store remove those of a replica that died,
//! never a live one's — nothing leaks.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tests::process::ServerProcess;
use tests::{docker, postgres_database, TestServer};

/// The ids of this server's containers waiting in the pool.
fn pooled(instance: &str) -> BTreeSet<String> {
    docker(&[
        "ps",
        "-aq",
        "--no-trunc",
        "--filter",
        &format!("label=sockt.instance={instance}"),
        "--filter",
        "name=sockt-pool-",
    ])
    .split_whitespace()
    .map(str::to_string)
    .collect()
}

/// Wait until exactly `count` containers wait in the pool, ready.
async fn pool_holds(server: &TestServer, count: usize) -> BTreeSet<String> {
    process_pool_holds(&server.url, &server.instance_id, count).await
}

#[tokio::test(flavor = "multi_thread")]
async fn creates_take_from_the_pool_which_refills_and_restarts_clean() {
    let server = TestServer::start_with(&["--pool", "nano=2"]).await;
    let instance = server.instance_id.clone();
    let waiting = pool_holds(&server, 2).await;
    let key = server.account(300).await;

    // Invisible and unbilled while they wait.
    let (_, listed) = server.get("/v1/sandboxes", &key).await;
    assert_eq!(listed["sandboxes"].as_array().unwrap().len(), 0, "{listed}");

    // A fitting create takes a waiting container, and the pool refills.
    let id = server.running_sandbox(&key, json!({"tier": "nano"})).await;
    let container = docker(&["inspect", "-f", "{{.Id}}", &format!("sockt-{id}")]);
    assert!(
        waiting.contains(&container),
        "{container} came from the pool"
    );
    let refilled = pool_holds(&server, 2).await;
    assert!(!refilled.contains(&container));
    let poll = server
        .exec(&key, &id, json!({"command": "echo from-the-pool; id -un"}))
        .await;
    assert_eq!(
        tests::stream_text(&poll, "stdout"),
        "from-the-pool\nsandbox\n"
    );

    // A create with its own environment (or another tier) is made cold.
    let with_env = server
        .running_sandbox(&key, json!({"tier": "nano", "env": {"GREETING": "hi"}}))
        .await;
    let cold = docker(&["inspect", "-f", "{{.Id}}", &format!("sockt-{with_env}")]);
    assert!(!refilled.contains(&cold));
    let poll = server
        .exec(&key, &with_env, json!({"command": "echo $GREETING"}))
        .await;
    assert_eq!(tests::stream_text(&poll, "stdout"), "hi\n");
    assert_eq!(pooled(&instance), refilled, "the pool was not touched");

    // A clean stop empties the pool (sandboxes stay); the next start
    // makes its own, and the claimed sandbox is the sandbox it was.
    let data_dir = server.stop().await;
    assert!(
        pooled(&instance).is_empty(),
        "a stopped server left its pool"
    );
    let sandboxes = tests::sandbox_containers_of(&instance);
    assert_eq!(sandboxes.len(), 2, "the sandboxes stay: {sandboxes:?}");
    let server = TestServer::start_in(data_dir, &["--pool", "nano=1"]).await;
    let fresh = pool_holds(&server, 1).await;
    assert!(fresh.is_disjoint(&refilled), "the pool was made anew");
    let status = server.wait_for_state(&key, &id, "running").await;
    assert_eq!(status["status"], "running");

    // Size 0: the pool empties; sandboxes stay.
    let data_dir = server.stop().await;
    let server = TestServer::start_in(data_dir, &["--pool", "0"]).await;
    pool_holds(&server, 0).await;
    for sandbox in [&id, &with_env] {
        let (status, _) = server
            .delete(&format!("/v1/sandboxes/{sandbox}"), &key)
            .await;
        assert!(status.is_success());
    }
    let left = tests::containers_left(&format!("label=sockt.instance={instance}")).await;
    assert!(left.is_empty(), "containers left: {left}");
    let agents = server.data_dir.join("agents");
    let slots: Vec<_> = std::fs::read_dir(&agents).unwrap().flatten().collect();
    assert!(slots.is_empty(), "agent directories left: {slots:?}");
    // Only the two sandboxes were ever billed.
    let report = server.assert_audit_passes().await;
    assert_eq!(report.sandboxes, 2, "{report:?}");
}

/// Wait until `url`'s pool has `count` ready nano containers and the
/// engine holds `count` waiting containers of the store.
async fn process_pool_holds(url: &str, instance: &str, count: usize) -> BTreeSet<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = pooled(instance);
        let (_, health) =
            tests::process::call(url, reqwest::Method::GET, "/healthz", "", None).await;
        let ready = health["warm_pool"]["nano"].as_u64().unwrap_or(0);
        if now.len() == count && ready == count as u64 {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "{url}: the engine holds {} waiting containers and the pool {ready} ready, not {count}",
            now.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The store's instance id, noted for scripts/test.sh to sweep after a failure.
async fn instance_of(url: &str) -> String {
    let (_, health) = tests::process::call(url, reqwest::Method::GET, "/healthz", "", None).await;
    let instance = health["instance"].as_str().unwrap().to_string();
    tests::note_instance(&instance);
    instance
}

/// `kill -9` leaves the waiting containers; the next start on the store
/// takes in as many as its pool wants and removes the rest; SIGTERM then
/// leaves nothing of the pool on the engine.
#[tokio::test(flavor = "multi_thread")]
async fn after_a_crash_the_next_start_takes_the_pool_in_and_sigterm_leaves_none() {
    let data_dir = tests::temp_dir("sockt-pool-crash");
    let env = [("SOCKT_DATA_DIR", data_dir.to_str().unwrap())];
    let mut server = ServerProcess::spawn(&["--pool", "nano=2"], &env);
    let instance = instance_of(&server.url).await;
    let waiting = process_pool_holds(&server.url, &instance, 2).await;
    server.kill();
    assert_eq!(
        pooled(&instance),
        waiting,
        "kill -9 leaves the pool as it was"
    );

    let mut server = ServerProcess::spawn(&["--pool", "nano=1"], &env);
    let kept = process_pool_holds(&server.url, &instance, 1).await;
    let (status, ready) =
        tests::process::call(&server.url, reqwest::Method::GET, "/readyz", "", None).await;
    assert_eq!(status.as_u16(), 200, "{ready}");
    assert_eq!(ready["checks"], json!({"store": "ok", "engine": "ok"}));
    assert!(kept.is_subset(&waiting), "a waiting container was taken in");
    assert!(server.terminate(), "sockt serve exits 0 on SIGTERM");
    let left = tests::containers_left(&format!("label=sockt.instance={instance}")).await;
    assert!(left.is_empty(), "containers left after SIGTERM: {left}");
}

/// Replicas on one PostgreSQL store: a replica's start leaves a live
/// replica's waiting containers alone and removes those of one killed
/// with -9.
#[tokio::test(flavor = "multi_thread")]
async fn replicas_remove_the_pool_of_a_replica_that_died_and_no_other() {
    let Some(database) = postgres_database().await else {
        return;
    };
    let replica = |pool: &str| {
        ServerProcess::spawn(
            &["--pool", pool],
            &[
                ("SOCKT_DATABASE_URL", database.as_str()),
                (
                    "SOCKT_DATA_DIR",
                    tests::temp_dir("sockt-pool-replica").to_str().unwrap(),
                ),
            ],
        )
    };
    let mut first = replica("nano=1");
    let instance = instance_of(&first.url).await;
    let firsts = process_pool_holds(&first.url, &instance, 1).await;
    let mut second = replica("nano=1");
    let deadline = Instant::now() + Duration::from_secs(60);
    let both = loop {
        let now = pooled(&instance);
        if now.len() == 2 {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "the second replica's pool: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        firsts.is_subset(&both),
        "the second replica left the first's pool alone"
    );
    let (_, health) =
        tests::process::call(&first.url, reqwest::Method::GET, "/healthz", "", None).await;
    assert_eq!(health["warm_pool"]["nano"], 1, "{health}");

    first.kill();
    let mut third = replica("0");
    let left = pooled(&instance);
    assert!(
        left.is_disjoint(&firsts),
        "the dead replica's pool was removed"
    );
    assert_eq!(left.len(), 1, "the live replica's pool stays: {left:?}");
    assert!(second.terminate() && third.terminate());
    let left = tests::containers_left(&format!("label=sockt.instance={instance}")).await;
    assert!(left.is_empty(), "containers left: {left}");
}
