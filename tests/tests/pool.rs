//! The warm pool: containers started ahead of demand are taken by creates
//! that fit (same tier, no environment, the open network), are never billed
//! or shown while they wait, refill after a take, and survive a restart
//! only as far as the new size wants them — nothing leaks.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tests::{docker, TestServer};

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
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = pooled(&server.instance_id);
        let (_, health) = server.get("/healthz", "").await;
        let ready = health["warm_pool"]["nano"].as_u64().unwrap_or(0);
        if now.len() == count && ready == count as u64 {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "the pool holds {} containers, not {count}",
            now.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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

    // A restart with a smaller pool keeps what it wants and removes the
    // rest; the claimed sandbox is the sandbox it was.
    let data_dir = server.stop().await;
    let server = TestServer::start_in(data_dir, &["--pool", "nano=1"]).await;
    let kept = pool_holds(&server, 1).await;
    assert!(
        kept.is_subset(&refilled),
        "a waiting container was taken in"
    );
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
