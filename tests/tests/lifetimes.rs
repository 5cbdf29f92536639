//! Lifetimes chosen at create, against a real server and containers: a
//! sandbox ends at its `timeout_secs` with its balance back on the account
//! and its container gone; an idle one pauses itself after
//! `idle_pause_secs` while a busy one keeps running.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use std::time::Duration;
use tests::TestServer;

#[tokio::test(flavor = "multi_thread")]
async fn sandboxes_end_at_their_timeout_and_pause_when_idle() {
    let server = TestServer::start().await;
    let key = server.account(50).await;
    let (status, refused) = server
        .post(
            "/v1/sandboxes",
            &key,
            json!({"tier": "nano", "timeout_secs": 0}),
        )
        .await;
    assert_eq!(status.as_u16(), 400, "{refused}");
    let timed = server
        .running_sandbox(
            &key,
            json!({"tier": "nano", "initial_credits_cents": 10, "timeout_secs": 3}),
        )
        .await;
    let idle = server
        .running_sandbox(
            &key,
            json!({"tier": "nano", "initial_credits_cents": 10, "idle_pause_secs": 2}),
        )
        .await;
    let busy = server
        .running_sandbox(
            &key,
            json!({"tier": "nano", "initial_credits_cents": 10, "idle_pause_secs": 2}),
        )
        .await;
    let (_, shown) = server.get(&format!("/v1/sandboxes/{timed}"), &key).await;
    assert_eq!(shown["timeout_secs"], 3);
    assert!(shown["ends_at_ms"].as_i64().unwrap() > shown["created_at_ms"].as_i64().unwrap());
    let (status, _) = server
        .post(
            &format!("/v1/sandboxes/{busy}/exec"),
            &key,
            json!({"command": "sleep 30", "background": true}),
        )
        .await;
    assert_eq!(status.as_u16(), 201);

    let ended = server
        .wait_status(
            &key,
            &timed,
            Duration::from_secs(20),
            |s| s["status"] == "terminated",
            "the timeout",
        )
        .await;
    assert!(ended["refunded_msats"].as_u64().unwrap() > 0, "{ended}");
    let gone = tests::containers_left(&format!("name=sockt-{timed}")).await;
    assert!(gone.is_empty(), "container left: {gone}");
    let paused = server
        .wait_status(
            &key,
            &idle,
            Duration::from_secs(20),
            |s| s["status"] == "paused",
            "the idle pause",
        )
        .await;
    assert_eq!(paused["pause_reason"], "idle");
    let (_, still) = server.get(&format!("/v1/sandboxes/{busy}"), &key).await;
    assert_eq!(still["status"], "running", "a running command is activity");
    let (status, resumed) = server
        .post(&format!("/v1/sandboxes/{idle}/resume"), &key, json!({}))
        .await;
    assert_eq!(status.as_u16(), 200, "{resumed}");
    for id in [&idle, &busy] {
        let (status, _) = server.delete(&format!("/v1/sandboxes/{id}"), &key).await;
        assert_eq!(status.as_u16(), 200);
    }
    server.assert_audit_passes().await;
}
