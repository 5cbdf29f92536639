//! Tenancy, authentication, rate limiting and malformed input.
#![allow(clippy::unwrap_used)]

use reqwest::{Method, StatusCode};
use serde_json::json;
use tests::{TestServer, ADMIN_TOKEN};

#[tokio::test(flavor = "multi_thread")]
async fn a_key_sees_only_its_own_sandboxes() {
    let server = TestServer::start().await;
    let alice = server.account(100).await;
    let bob = server.account(100).await;
    let (_, created) = server
        .post("/v1/sandboxes", &alice, json!({"tier": "nano"}))
        .await;
    let id = created["sandbox_id"].as_str().unwrap().to_string();
    let token = created["sandbox_token"].as_str().unwrap().to_string();
    server.wait_for_state(&alice, &id, "running").await;
    let (_, started) = server
        .post(
            &format!("/v1/sandboxes/{id}/exec"),
            &alice,
            json!({"command": "sleep 5"}),
        )
        .await;
    let execution = started["execution_id"].as_str().unwrap().to_string();

    for (method, path) in [
        (Method::GET, format!("/v1/sandboxes/{id}")),
        (Method::POST, format!("/v1/sandboxes/{id}/exec")),
        (Method::POST, format!("/v1/sandboxes/{id}/files/read")),
        (Method::GET, format!("/v1/sandboxes/{id}/files")),
        (Method::GET, format!("/v1/sandboxes/{id}/ledger")),
        (Method::POST, format!("/v1/sandboxes/{id}/pause")),
        (Method::DELETE, format!("/v1/sandboxes/{id}")),
        (Method::GET, format!("/v1/executions/{execution}")),
        (Method::DELETE, format!("/v1/executions/{execution}")),
    ] {
        let (status, body) = server
            .call(
                method.clone(),
                &path,
                Some(&bob),
                Some(json!({"command": "id", "path": "x"})),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{method} {path} as another tenant: {body}"
        );
    }

    // The sandbox token opens its own sandbox (header or query), nothing else.
    let (status, _) = server.get(&format!("/v1/sandboxes/{id}"), &token).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .call(
            Method::GET,
            &format!("/v1/sandboxes/{id}?sandbox_token={token}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .get(&format!("/v1/executions/{execution}"), &token)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, other) = server
        .post("/v1/sandboxes", &bob, json!({"tier": "nano"}))
        .await;
    let other_id = other["sandbox_id"].as_str().unwrap();
    server.wait_for_state(&bob, other_id, "running").await;
    let (status, _) = server
        .get(&format!("/v1/sandboxes/{other_id}"), &token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // No or bad credentials.
    let (status, body) = server
        .call(
            Method::POST,
            "/v1/sandboxes",
            None,
            Some(json!({"tier": "nano"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let (status, _) = server
        .get(&format!("/v1/sandboxes/{id}"), "sockt_live_forged")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server
        .post("/v1/admin/accounts", &alice, json!({"credits_cents": 5}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = server
        .call(Method::GET, &format!("/v1/sandboxes/{id}"), None, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .get(&format!("/v1/sandboxes/{id}"), ADMIN_TOKEN)
        .await;
    assert_eq!(status, StatusCode::OK, "the operator sees everything");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_clear_errors() {
    let server = TestServer::start().await;
    let key = server.account(100).await;
    let cases = [
        (
            json!({"tier": "huge"}),
            StatusCode::BAD_REQUEST,
            "invalid_tier",
        ),
        (
            json!({"tier": "nano", "billing_method": "barter"}),
            StatusCode::BAD_REQUEST,
            "invalid_billing_method",
        ),
        (
            json!({"tier": "nano", "initial_credits_cents": 0}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"tier": "nano", "label": "a\u{7}b"}),
            StatusCode::BAD_REQUEST,
            "invalid_label",
        ),
        (json!({"tier": 5}), StatusCode::BAD_REQUEST, "invalid_json"),
        (
            json!({"tier": "gpu-small"}),
            StatusCode::SERVICE_UNAVAILABLE,
            "no_capacity",
        ),
        (
            json!({"tier": "nano", "billing_method": "lightning", "prepaid_sats": 100}),
            StatusCode::SERVICE_UNAVAILABLE,
            "lightning_unavailable",
        ),
    ];
    for (body, status, code) in cases {
        let (got, answer) = server.post("/v1/sandboxes", &key, body.clone()).await;
        assert_eq!(
            (got, answer["code"].as_str()),
            (status, Some(code)),
            "{body} → {answer}"
        );
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/v1/sandboxes", server.url))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "invalid_json");
    assert_eq!(
        status_of_announced_huge_body(&server.url, &key).await,
        413,
        "a body over the limit is refused before it is read"
    );
    let (status, body) = server.get("/v1/nowhere", &key).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, _) = server
        .call(Method::PUT, "/v1/sandboxes", Some(&key), None)
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _) = server.get("/v1/executions/nope", &key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The server still serves.
    let (status, tiers) = server.get("/v1/sandboxes/tiers", &key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tiers["tiers"].as_array().unwrap().len(), 6);
    assert_eq!(tiers["tiers"][0]["tier"], "nano");
    assert_eq!(
        tiers["tiers"][0]["name"], "nano",
        "the clients print name: the id"
    );
    assert_eq!(tiers["tiers"][0]["sats_per_second"], 0.5);
}

/// The status a POST of a 100 MiB body gets. Over raw TCP, writing and
/// reading apart: the server answers once the body passes its limit and
/// closes without reading the rest, which an HTTP client still writing the
/// body may report as a broken pipe instead of the answer.
async fn status_of_announced_huge_body(url: &str, key: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = url.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST /v1/sandboxes HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        100u64 << 20
    );
    let writing = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        let chunk = vec![b'x'; 64 << 10];
        for _ in 0..1600 {
            writer.write_all(&chunk).await?;
        }
        Ok::<(), std::io::Error>(())
    });
    let mut answer = vec![0u8; 64];
    let read = tokio::time::timeout(std::time::Duration::from_secs(60), reader.read(&mut answer))
        .await
        .expect("an answer within 60 s")
        .unwrap();
    writing.abort();
    let line = String::from_utf8_lossy(&answer[..read]).to_string();
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {line:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_over_the_rate_limit_get_429_with_retry_after() {
    let server = TestServer::start_with(&["--rate-limit-per-minute", "5"]).await;
    let key = server.account(100).await;
    let other = server.account(100).await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..7 {
        let response = client
            .get(format!("{}/v1/sandboxes/tiers", server.url))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["code"], "rate_limited");
        }
    }
    assert_eq!(statuses, vec![200, 200, 200, 200, 200, 429, 429]);
    assert!(retry_after.is_some_and(|s| (1..=60).contains(&s)));
    let (status, _) = server.get("/v1/sandboxes/tiers", &other).await;
    assert_eq!(status, StatusCode::OK, "limits are per key");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_metrics_and_openapi() {
    let server = TestServer::start().await;
    let (status, health) = server.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(
        (status, health["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    assert_eq!(health["store"], "sqlite");
    let (status, metrics) = server.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let text = metrics.as_str().unwrap();
    assert!(
        text.contains(
            "sockt_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"
        ),
        "{text}"
    );
    let (status, spec) = server
        .call(Method::GET, "/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        spec["openapi"].as_str().map(|v| v.starts_with("3.")),
        Some(true)
    );
    for path in [
        "/v1/sandboxes/tiers",
        "/v1/sandboxes",
        "/v1/sandboxes/{id}",
        "/v1/sandboxes/{id}/exec",
        "/v1/executions/{id}",
        "/v1/sandboxes/{id}/files/write",
        "/v1/sandboxes/{id}/files/read",
        "/v1/sandboxes/{id}/files",
        "/v1/sandboxes/{id}/pause",
        "/v1/sandboxes/{id}/resume",
        "/v1/sandboxes/{id}/processes/kill",
        "/v1/sandboxes/{id}/balance",
        "/v1/sandboxes/{id}/ledger",
        "/v1/account",
        "/v1/admin/accounts",
        "/v1/admin/accounts/{id}/credits",
        "/healthz",
        "/metrics",
    ] {
        assert!(spec["paths"].get(path).is_some(), "{path} is documented");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mcp_endpoint_checks_hosts_and_is_rate_limited() {
    let server = TestServer::start_with(&["--rate-limit-per-minute", "3"]).await;
    let client = reqwest::Client::new();
    let initialize = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}
    });
    let send = |host: Option<&'static str>| {
        let mut request = client
            .post(format!("{}/v1/mcp", server.url))
            .header("accept", "application/json, text/event-stream")
            .json(&initialize);
        if let Some(host) = host {
            request = request.header("host", host);
        }
        request.send()
    };
    let first = send(None).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert!(first.headers().get("mcp-session-id").is_some());
    let body = first.text().await.unwrap();
    assert!(body.contains("\"name\":\"sockt\""), "{body}");
    let foreign = send(Some("evil.example")).await.unwrap();
    assert!(
        foreign.status().is_client_error(),
        "a foreign Host is refused: {}",
        foreign.status()
    );
    let _third = send(None).await.unwrap();
    let limited = send(None).await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
}
