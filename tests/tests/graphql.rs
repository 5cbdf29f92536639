//! GraphQL against a real server: queries of sandboxes with their events,
//! ledger and executions, filters, pagination, stats, limits; a subscription
//! that receives live events during a real sandbox's lifecycle; and
//! authorization for both.
#![allow(clippy::unwrap_used)]

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tests::{TestServer, ADMIN_TOKEN};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

async fn gql(server: &TestServer, auth: &str, query: &str) -> Value {
    let (status, body) = server
        .post("/v1/graphql", auth, json!({ "query": query }))
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn queries_show_a_tenant_its_own_sandboxes_in_depth() {
    let server = TestServer::start().await;
    let alice = server.account(100).await;
    let bob = server.account(100).await;
    let first = server
        .running_sandbox(
            &alice,
            json!({"tier": "nano", "initial_credits_cents": 5, "label": "one"}),
        )
        .await;
    let second = server
        .running_sandbox(
            &alice,
            json!({"tier": "micro", "initial_credits_cents": 5, "label": "two"}),
        )
        .await;
    server
        .exec(&alice, &first, json!({"command": "echo hi"}))
        .await;
    server
        .post(&format!("/v1/sandboxes/{second}/pause"), &alice, json!({}))
        .await;
    let theirs = server
        .running_sandbox(&bob, json!({"tier": "nano", "initial_credits_cents": 5}))
        .await;

    // REST lists the same, with the same filters and cursors.
    let (status, listed) = server.get("/v1/sandboxes", &alice).await;
    assert_eq!(status.as_u16(), 200, "{listed}");
    assert_eq!(listed["total"], 2, "{listed}");
    let ids: Vec<&str> = listed["sandboxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sandbox_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![second.as_str(), first.as_str()], "newest first");
    assert!(!ids.contains(&theirs.as_str()), "never another tenant's");
    assert!(
        listed["sandboxes"][0]["sandbox_token"].is_null(),
        "no token in a listing"
    );
    let (_, paused_only) = server.get("/v1/sandboxes?status=paused", &alice).await;
    assert_eq!(paused_only["total"], 1);
    assert_eq!(paused_only["sandboxes"][0]["sandbox_id"], second.as_str());
    let (_, both) = server
        .get("/v1/sandboxes?status=paused,running&label=one", &alice)
        .await;
    assert_eq!(both["total"], 1);
    assert_eq!(both["sandboxes"][0]["sandbox_id"], first.as_str());
    let (_, page_one) = server.get("/v1/sandboxes?limit=1", &alice).await;
    let cursor = page_one["next_cursor"].as_str().unwrap().to_string();
    let (_, page_two) = server
        .get(&format!("/v1/sandboxes?limit=1&cursor={cursor}"), &alice)
        .await;
    assert_eq!(page_two["sandboxes"][0]["sandbox_id"], first.as_str());
    assert!(page_two["next_cursor"].is_null());
    let (status, _) = server.get("/v1/sandboxes?cursor=nope", &alice).await;
    assert_eq!(status.as_u16(), 400);
    let (status, _) = server.get("/v1/sandboxes", "").await;
    assert_eq!(status.as_u16(), 401);

    let all = gql(
        &server,
        &alice,
        "{ sandboxes { totalCount nodes { sandboxId status tier label } } }",
    )
    .await;
    assert_eq!(all["data"]["sandboxes"]["totalCount"], 2, "{all}");
    let page = gql(
        &server,
        &alice,
        "{ sandboxes(first: 1) { nodes { sandboxId } endCursor hasNextPage } }",
    )
    .await;
    let cursor = page["data"]["sandboxes"]["endCursor"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(page["data"]["sandboxes"]["hasNextPage"], true);
    let next = gql(&server, &alice, &format!("{{ sandboxes(first: 1, after: \"{cursor}\") {{ nodes {{ sandboxId }} hasNextPage }} }}")).await;
    assert_eq!(next["data"]["sandboxes"]["hasNextPage"], false);
    assert_ne!(
        next["data"]["sandboxes"]["nodes"][0]["sandboxId"],
        page["data"]["sandboxes"]["nodes"][0]["sandboxId"]
    );
    let paused = gql(
        &server,
        &alice,
        "{ sandboxes(filter: {state: \"paused\"}) { nodes { sandboxId } } }",
    )
    .await;
    assert_eq!(
        paused["data"]["sandboxes"]["nodes"],
        json!([{ "sandboxId": second }])
    );
    let labelled = gql(
        &server,
        &alice,
        "{ sandboxes(filter: {label: \"one\", tier: \"nano\", billingMethod: \"credits\"}) { totalCount } }",
    )
    .await;
    assert_eq!(labelled["data"]["sandboxes"]["totalCount"], 1);

    let detail = gql(
        &server,
        &alice,
        &format!("{{ sandbox(id: \"{first}\") {{ status events {{ sequence eventType }} ledger {{ kind amountMsats }} executions {{ command exitCode stdoutBytes output {{ stdout omittedBytes available }} }} }} }}"),
    )
    .await;
    let sandbox = &detail["data"]["sandbox"];
    let types: Vec<&str> = sandbox["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(
        &types[..3],
        ["SandboxCreated", "BalanceExtended", "SandboxStarted"]
    );
    assert!(types.contains(&"ExecFinished"));
    assert_eq!(sandbox["ledger"][0]["kind"], "deposit");
    assert_eq!(
        sandbox["executions"][0],
        json!({ "command": "echo hi", "exitCode": 0, "stdoutBytes": 3,
                "output": { "stdout": "hi\n", "omittedBytes": 0, "available": true } })
    );

    // Another tenant sees none of it.
    let hidden = gql(
        &server,
        &alice,
        &format!("{{ sandbox(id: \"{theirs}\") {{ status }} }}"),
    )
    .await;
    assert!(hidden["data"]["sandbox"].is_null());
    let bobs = gql(
        &server,
        &bob,
        "{ sandboxes { totalCount } accounts { name } }",
    )
    .await;
    assert_eq!(bobs["data"]["sandboxes"]["totalCount"], 1);
    assert_eq!(bobs["data"]["accounts"].as_array().unwrap().len(), 1);
    let anonymous = server
        .call(
            reqwest::Method::POST,
            "/v1/graphql",
            None,
            Some(json!({"query": "{ sandboxes { totalCount } }"})),
        )
        .await
        .1;
    // Refused as in REST: the rule is the application's.
    assert_eq!(
        anonymous["errors"][0]["extensions"]["code"], "unauthorized",
        "{anonymous}"
    );

    let stats = gql(&server, ADMIN_TOKEN, "{ stats { burnRateMsatsPerSecond paidInMsats sandboxesByState { state count } } accounts { accountId } tiers { tier } }").await;
    assert_eq!(
        stats["data"]["stats"]["burnRateMsatsPerSecond"],
        500 + 500,
        "two nano sandboxes run: {stats}"
    );
    assert_eq!(stats["data"]["stats"]["paidInMsats"], 150_000);
    assert_eq!(stats["data"]["accounts"].as_array().unwrap().len(), 2);
    assert_eq!(stats["data"]["tiers"].as_array().unwrap().len(), 6);

    // Application errors carry the same code as REST.
    let bad = gql(
        &server,
        &alice,
        r#"{ sandboxes(after: "no-such-cursor") { totalCount } }"#,
    )
    .await;
    assert_eq!(
        bad["errors"][0]["extensions"]["code"], "invalid_request",
        "{bad}"
    );

    // Complexity is bounded.
    let wide: String = (0..2_100)
        .map(|i| format!("a{i}: tiers {{ tier }} "))
        .collect();
    let refused = gql(&server, &alice, &format!("{{ {wide} }}")).await;
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("complex"),
        "{refused}"
    );
}

async fn subscribe(
    server: &TestServer,
    key: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = format!("{}/v1/graphql/ws", server.url.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {key}") } });
    socket
        .send(Message::Text(init.to_string().into()))
        .await
        .unwrap();
    let ack = socket.next().await.unwrap().unwrap();
    assert!(ack.to_text().unwrap().contains("connection_ack"), "{ack}");
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { sandboxEvents { sandboxId eventType } }" } });
    socket
        .send(Message::Text(subscribe.to_string().into()))
        .await
        .unwrap();
    socket
}

/// The next event a subscription delivers, if one comes within `wait`.
async fn next_event(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    wait: Duration,
) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(wait, socket.next())
            .await
            .ok()??
            .ok()?;
        let value: Value = serde_json::from_str(message.to_text().ok()?).ok()?;
        if value["type"] == "next" {
            return Some(value["payload"]["data"]["sandboxEvents"].clone());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subscription_receives_live_events_of_its_own_sandboxes_only() {
    let server = TestServer::start().await;
    let alice = server.account(100).await;
    let bob = server.account(100).await;
    let mut alices = subscribe(&server, &alice).await;
    let mut bobs = subscribe(&server, &bob).await;

    let id = server
        .running_sandbox(&alice, json!({"tier": "nano", "initial_credits_cents": 5}))
        .await;
    let mut seen = Vec::new();
    while let Some(event) = next_event(&mut alices, Duration::from_secs(5)).await {
        assert_eq!(event["sandboxId"], id);
        seen.push(event["eventType"].as_str().unwrap().to_string());
        if seen.contains(&"SandboxStarted".to_string()) {
            break;
        }
    }
    assert_eq!(
        seen,
        ["SandboxCreated", "BalanceExtended", "SandboxStarted"]
    );
    server.delete(&format!("/v1/sandboxes/{id}"), &alice).await;
    let mut ending = Vec::new();
    while let Some(event) = next_event(&mut alices, Duration::from_secs(5)).await {
        ending.push(event["eventType"].as_str().unwrap().to_string());
        if ending.contains(&"RefundIssued".to_string()) {
            break;
        }
    }
    assert!(
        ending.contains(&"SandboxTerminated".to_string()),
        "{ending:?}"
    );

    // Bob's subscription saw none of Alice's events, but sees his own.
    let bobs_own = server
        .running_sandbox(&bob, json!({"tier": "nano", "initial_credits_cents": 5}))
        .await;
    let first = next_event(&mut bobs, Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        first["sandboxId"], bobs_own,
        "Bob never sees Alice's sandbox"
    );
}
