//! Capacity squatting: a sandbox paused because its balance ran out holds
//! a slot, its memory and its disk for nothing, so it ends (with its work
//! and refund settled as any terminate) after the short unfunded grace,
//! while one its owner paused waits out the whole paused TTL.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use std::time::Duration;
use tests::traces::Traces;
use tests::TestServer;

#[tokio::test(flavor = "multi_thread")]
async fn a_cent_does_not_hold_a_slot_for_the_paused_ttl() {
    let server =
        TestServer::start_with(&["--unfunded-grace-secs", "2", "--charge-interval-ms", "1000"])
            .await;
    let key = server.account(50).await;
    // small: 2 500 msat/s — a cent lasts 4 s.
    let unfunded = server
        .running_sandbox(&key, json!({"tier": "small", "initial_credits_cents": 1}))
        .await;
    let requested = server
        .running_sandbox(&key, json!({"tier": "nano", "initial_credits_cents": 5}))
        .await;
    let (status, body) = server
        .post(&format!("/v1/sandboxes/{requested}/pause"), &key, json!({}))
        .await;
    assert!(status.is_success(), "{body}");

    let paused = server
        .wait_status(
            &key,
            &unfunded,
            Duration::from_secs(30),
            |s| s["status"] == "paused",
            "the unfunded sandbox paused",
        )
        .await;
    assert_eq!(paused["pause_reason"], "out_of_balance", "{paused}");
    let traces = Traces::before_terminating(&[&unfunded]);
    let ended = server
        .wait_status(
            &key,
            &unfunded,
            Duration::from_secs(30),
            |s| s["status"] == "terminated",
            "the unfunded sandbox ended after its grace",
        )
        .await;
    assert_eq!(ended["status"], "terminated", "{ended}");
    traces.assert_none_left();
    let (_, still) = server
        .get(&format!("/v1/sandboxes/{requested}"), &key)
        .await;
    assert_eq!(
        still["status"], "paused",
        "a requested pause waits the paused TTL: {still}"
    );

    let traces = Traces::before_terminating(&[&requested]);
    server
        .delete(&format!("/v1/sandboxes/{requested}"), &key)
        .await;
    traces.assert_none_left();
    server.assert_audit_passes().await;
}
