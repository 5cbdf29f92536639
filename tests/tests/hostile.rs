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

/// An MCP session belongs to the credential that opened it: another tenant
/// (or nobody) presenting its session id gets no answer from it.
#[tokio::test(flavor = "multi_thread")]
async fn an_mcp_session_answers_only_the_credential_that_opened_it() {
    let server = TestServer::start().await;
    let alice = server.account(10).await;
    let mallory = server.account(10).await;
    let client = reqwest::Client::new();
    let mcp = |auth: Option<&str>, session: Option<&str>, body: serde_json::Value| {
        let mut request = client
            .post(format!("{}/v1/mcp", server.url))
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(auth) = auth {
            request = request.bearer_auth(auth);
        }
        if let Some(session) = session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-03-26");
        }
        request.send()
    };
    let opened = mcp(
        Some(&alice),
        None,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
               "params": {"protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}),
    )
    .await
    .unwrap();
    assert_eq!(opened.status(), StatusCode::OK);
    let session = opened.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let _ = opened.text().await;
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let accepted = mcp(Some(&alice), Some(&session), initialized.clone())
        .await
        .unwrap();
    assert!(accepted.status().is_success(), "{}", accepted.status());
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    for intruder in [Some(mallory.as_str()), None, Some("sbx_guessed")] {
        let refused = mcp(intruder, Some(&session), list.clone()).await.unwrap();
        assert_eq!(refused.status(), StatusCode::NOT_FOUND, "{intruder:?}");
    }
    let owner = mcp(Some(&alice), Some(&session), list).await.unwrap();
    assert_eq!(owner.status(), StatusCode::OK);
    assert!(owner.text().await.unwrap().contains("sandbox_create"));
}
