//! Attacks on our own work, from a caller who is another tenant or nobody.
//! (Isolation attacks from inside sandboxes join these as they are built.)
#![allow(clippy::unwrap_used)]

use reqwest::StatusCode;
use serde_json::json;
use tests::TestServer;

/// Inventing credentials buys no requests: 2,000 calls with made-up sandbox
/// tokens (and made-up API keys) from one address are limited like calls
/// with none, while a real key keeps its own allowance.
#[tokio::test(flavor = "multi_thread")]
async fn invented_credentials_count_against_the_callers_address() {
    let server = TestServer::start_with(&["--rate-limit-per-minute", "100"]).await;
    let key = server.account(10).await;
    let mut limited = 0;
    let mut answered = 0;
    for i in 0..2_000 {
        let secret = if i % 2 == 0 {
            format!("sbx_invented{i}")
        } else {
            format!("sockt_live_invented{i}")
        };
        let (status, _) = server.get("/v1/sandboxes/nope", &secret).await;
        match status {
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            _ => answered += 1,
        }
    }
    assert!(
        answered <= 110,
        "{answered} invented credentials were answered"
    );
    assert!(limited >= 1_890, "only {limited} got 429");
    let (status, body) = server
        .post(
            "/v1/sandboxes",
            &key,
            json!({"tier": "nano", "initial_credits_cents": 1}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "a real key is not limited by the flood: {body}"
    );
    let id = body["sandbox_id"].as_str().unwrap();
    server.wait_for_state(&key, id, "running").await;
    let (status, _) = server.delete(&format!("/v1/sandboxes/{id}"), &key).await;
    assert_eq!(status, StatusCode::OK);
}
