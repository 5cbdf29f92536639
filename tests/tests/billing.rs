//! Credits running out against a real sandbox: a low-balance warning first,
//! then a pause with `out_of_balance` (nothing lost), and an automatic resume
//! after a top-up.
#![allow(clippy::unwrap_used)]

use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};
use tests::{stream_text, TestServer};

#[tokio::test(flavor = "multi_thread")]
async fn exhausted_credits_warn_pause_and_resume_after_top_up() {
    // nano costs 500 msat/s; one cent buys 10 000 msat, i.e. 20 s.
    let server =
        TestServer::start_with(&["--low-balance-secs", "12", "--charge-interval-ms", "1000"]).await;
    let key = server.account(10).await;
    let id = server
        .running_sandbox(&key, json!({"tier": "nano", "initial_credits_cents": 1}))
        .await;
    server
        .post(
            &format!("/v1/sandboxes/{id}/files/write"),
            &key,
            json!({"path": "keep.txt", "content": "kept"}),
        )
        .await;

    let deadline = Instant::now() + Duration::from_secs(40);
    let mut saw_low = false;
    let paused = loop {
        let (_, status) = server.get(&format!("/v1/sandboxes/{id}"), &key).await;
        if status["status"] == "paused" {
            break status;
        }
        if status["warning_level"] == "low_balance" {
            saw_low = true;
        }
        assert!(Instant::now() < deadline, "never ran out: {status}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(saw_low, "low_balance came before the pause");
    assert_eq!(paused["warning_level"], "out_of_balance");
    assert_eq!(paused["pause_reason"], "out_of_balance");
    assert_eq!(paused["prepaid_balance_msats"], 0);
    assert_eq!(
        paused["consumed_msats"], 10_000,
        "charged exactly what was paid, never more"
    );
    let (status, body) = server
        .post(&format!("/v1/sandboxes/{id}/resume"), &key, json!({}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::PAYMENT_REQUIRED, Some("out_of_balance"))
    );

    let (status, topped) = server
        .post(
            &format!("/v1/sandboxes/{id}/balance"),
            &key,
            json!({"credits_cents": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{topped}");
    assert_eq!(topped["status"], "running");
    let poll = server
        .exec(&key, &id, json!({"command": "cat keep.txt"}))
        .await;
    assert_eq!(stream_text(&poll, "stdout"), "kept", "nothing was lost");

    let (status, _) = server.delete(&format!("/v1/sandboxes/{id}"), &key).await;
    assert_eq!(status, StatusCode::OK);
    let (_, ledger) = server
        .get(&format!("/v1/sandboxes/{id}/ledger"), &key)
        .await;
    let totals = &ledger["totals"];
    assert_eq!(totals["paid_in_msats"], 30_000);
    assert_eq!(
        totals["paid_in_msats"].as_u64().unwrap(),
        totals["charged_msats"].as_u64().unwrap() + totals["refunded_msats"].as_u64().unwrap()
    );
    let (_, account) = server.get("/v1/account", &key).await;
    assert_eq!(
        account["credits_msats"].as_u64().unwrap(),
        100_000 - totals["charged_msats"].as_u64().unwrap()
    );
}
