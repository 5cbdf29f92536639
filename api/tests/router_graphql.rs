//! GraphQL at `/v1/graphql` through the real router over fakes: every query
//! the schema offers (tiers, sandboxes with filters and pages, a sandbox
//! with its events, ledger and executions with their output, accounts,
//! stats) as a tenant, a sandbox token, the admin token and an anonymous
//! caller; errors carrying the REST `code`; another tenant's sandbox; the
//! depth and complexity limits; and bodies over 1 MiB refused with 413.
#![allow(clippy::unwrap_used)]

mod support;

use axum::http::StatusCode;
use serde_json::{json, Value};
use support::{sorted, Server, ADMIN, UNKNOWN_ID};

/// A query as `auth` (None: anonymous); the whole GraphQL response.
async fn gql(s: &Server, auth: Option<&str>, query: &str) -> Value {
    let mut call = s.post("/v1/graphql").json(json!({ "query": query }));
    if let Some(auth) = auth {
        call = call.auth(auth);
    }
    call.send().await.ok(StatusCode::OK)
}

/// The `data` of a response that must have no errors.
async fn data(s: &Server, auth: Option<&str>, query: &str) -> Value {
    let response = gql(s, auth, query).await;
    assert!(response.get("errors").is_none(), "{response}");
    response["data"].clone()
}

/// The one error of a response, as `(message, extensions.code)`.
async fn error(s: &Server, auth: Option<&str>, query: &str) -> (String, Value) {
    let response = gql(s, auth, query).await;
    let errors = response["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"));
    assert_eq!(errors.len(), 1, "{response}");
    (
        errors[0]["message"].as_str().unwrap().to_string(),
        errors[0]["extensions"]["code"].clone(),
    )
}

#[tokio::test]
async fn tiers_are_public() {
    let s = Server::new();
    let tiers = data(
        &s,
        None,
        "{ tiers { tier name msatsPerSecond vcpus memoryMib diskMib } }",
    )
    .await;
    let nano = tiers["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tier"] == "nano")
        .unwrap()
        .clone();
    assert_eq!(nano["msatsPerSecond"], 500);
    assert!(nano["memoryMib"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn a_tenant_lists_its_sandboxes_filtered_and_paged() {
    let s = Server::new();
    let fleet = s.fleet().await;
    let key = Some(fleet.alice.key.as_str());

    let all = data(&s, key, "{ sandboxes { totalCount hasNextPage endCursor nodes { sandboxId status tier billingMethod balanceMsats } } }").await;
    let page = &all["sandboxes"];
    assert_eq!(page["totalCount"], 2);
    assert_eq!(page["hasNextPage"], false);
    assert_eq!(page["endCursor"], Value::Null);
    assert_eq!(sorted(&page["nodes"], "sandboxId"), fleet.alices());

    let paused = data(
        &s,
        key,
        r#"{ sandboxes(filter: { state: "paused" }) { nodes { sandboxId status } } }"#,
    )
    .await;
    assert_eq!(
        paused["sandboxes"]["nodes"],
        json!([{ "sandboxId": fleet.paused, "status": "paused" }])
    );
    let micro = data(
        &s,
        key,
        r#"{ sandboxes(filter: { tier: "micro" }) { nodes { sandboxId } } }"#,
    )
    .await;
    assert_eq!(
        micro["sandboxes"]["nodes"],
        json!([{ "sandboxId": fleet.running }])
    );

    let one = data(
        &s,
        key,
        "{ sandboxes(first: 1) { hasNextPage endCursor nodes { sandboxId } } }",
    )
    .await;
    assert_eq!(one["sandboxes"]["hasNextPage"], true);
    let cursor = one["sandboxes"]["endCursor"].as_str().unwrap();
    let next = data(
        &s,
        key,
        &format!(r#"{{ sandboxes(first: 1, after: "{cursor}") {{ hasNextPage nodes {{ sandboxId }} }} }}"#),
    )
    .await;
    assert_eq!(next["sandboxes"]["hasNextPage"], false);
    assert_ne!(next["sandboxes"]["nodes"][0], one["sandboxes"]["nodes"][0]);

    let everything = data(&s, Some(ADMIN), "{ sandboxes { totalCount } }").await;
    assert_eq!(everything["sandboxes"]["totalCount"], 3);
}

#[tokio::test]
async fn an_unknown_cursor_is_the_same_error_as_in_rest() {
    let s = Server::new();
    let alice = s.tenant(10).await;
    let (message, code) = error(
        &s,
        Some(&alice.key),
        r#"{ sandboxes(after: "nope") { totalCount } }"#,
    )
    .await;
    assert_eq!(code, "invalid_request");
    let rest = s
        .client(Some(&alice.key), "")
        .expect("GET /v1/sandboxes?cursor=nope => 400 invalid_request")
        .await;
    assert_eq!(message, rest["message"]);
}

#[tokio::test]
async fn a_sandbox_shows_its_events_ledger_and_executions() {
    let s = Server::new();
    let alice = s.tenant(10).await;
    let id = s.running_sandbox(&alice, "nano", 2).await;
    let started = s
        .post(&format!("/v1/sandboxes/{id}/exec"))
        .auth(&alice.key)
        .json(json!({ "command": "echo hi", "wait_ms": 5000 }))
        .send()
        .await
        .ok(StatusCode::CREATED);
    s.h.clock.advance_ms(10_000);
    s.h.app.meter_tick().await;

    let query = format!(
        r#"{{ sandbox(id: "{id}") {{
            sandboxId status tier billingMethod msatsPerSecond balanceMsats consumedMsats paidInMsats
            events {{ sandboxId sequence eventType atMs payload }}
            ledger {{ sequence kind durationMs msatsPerSecond amountMsats balanceAfterMsats }}
            executions {{ executionId command status exitCode stdoutBytes output {{ stdout stderr omittedBytes available }} }}
        }} }}"#
    );
    let sandbox = data(&s, Some(&alice.key), &query).await["sandbox"].clone();
    assert_eq!(sandbox["sandboxId"], id.as_str());
    assert_eq!(sandbox["status"], "running");
    assert_eq!(sandbox["paidInMsats"], 20_000);
    assert_eq!(sandbox["consumedMsats"], 5_000);
    assert_eq!(sandbox["balanceMsats"], 15_000);

    let events = sandbox["events"].as_array().unwrap();
    assert_eq!(events[0]["eventType"], "SandboxCreated");
    let sequences: Vec<u64> = events
        .iter()
        .map(|e| e["sequence"].as_u64().unwrap())
        .collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{sequences:?}");
    assert!(events.iter().all(|e| e["sandboxId"] == id.as_str()));
    assert!(events.iter().any(|e| e["eventType"] == "UsageCharged"));
    assert!(events[0]["payload"].is_object());

    let charge = sandbox["ledger"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["durationMs"] == 10_000)
        .unwrap_or_else(|| panic!("{sandbox}"))
        .clone();
    assert_eq!(charge["amountMsats"], 5_000);
    assert_eq!(charge["balanceAfterMsats"], 15_000);

    assert_eq!(
        sandbox["executions"],
        json!([{
            "executionId": started["execution_id"], "command": "echo hi", "status": "completed",
            "exitCode": 0, "stdoutBytes": 8,
            "output": { "stdout": "echo hi\n", "stderr": "", "omittedBytes": 0, "available": true },
        }])
    );
}

#[tokio::test]
async fn another_tenants_or_an_unknown_sandbox_is_null() {
    let (s, alice, id) = Server::with_sandbox().await;
    let bob = s.tenant(10).await;
    for (who, sandbox) in [
        (Some(bob.key.as_str()), id.as_str()),
        (None, id.as_str()),
        (Some(alice.key.as_str()), UNKNOWN_ID),
    ] {
        let found = data(
            &s,
            who,
            &format!(r#"{{ sandbox(id: "{sandbox}") {{ sandboxId events {{ sequence }} }} }}"#),
        )
        .await;
        assert_eq!(found, json!({ "sandbox": null }));
    }
    let bobs = data(
        &s,
        Some(&bob.key),
        "{ sandboxes { totalCount nodes { sandboxId } } }",
    )
    .await;
    assert_eq!(bobs["sandboxes"], json!({ "totalCount": 0, "nodes": [] }));
}

#[tokio::test]
async fn a_sandbox_token_sees_its_one_sandbox() {
    let s = Server::new();
    let sandbox = s.paid_lightning_sandbox(10).await;
    let _other = s.paid_lightning_sandbox(10).await;
    let seen = data(
        &s,
        Some(&sandbox.token),
        &format!(
            r#"{{ sandboxes {{ totalCount }} sandbox(id: "{}") {{ billingMethod paidInMsats }} }}"#,
            sandbox.id
        ),
    )
    .await;
    assert_eq!(
        seen,
        json!({ "sandboxes": { "totalCount": 1 }, "sandbox": { "billingMethod": "lightning", "paidInMsats": 10_000 } })
    );
}

#[tokio::test]
async fn an_anonymous_caller_sees_nothing_private() {
    let (s, _, _) = Server::with_sandbox().await;
    let seen = data(
        &s,
        None,
        "{ accounts { accountId } stats { burnRateMsatsPerSecond paidInMsats sandboxesByState { state count } } }",
    )
    .await;
    assert_eq!(
        seen,
        json!({ "accounts": [], "stats": { "burnRateMsatsPerSecond": 0, "paidInMsats": 0, "sandboxesByState": [] } })
    );
}

#[tokio::test]
async fn an_anonymous_listing_is_refused_as_in_rest() {
    let s = Server::new();
    let (message, code) = error(&s, None, "{ sandboxes { totalCount } }").await;
    assert_eq!(code, "unauthorized");
    let rest = s
        .client(None, "")
        .expect("GET /v1/sandboxes => 401 unauthorized")
        .await;
    assert_eq!(message, rest["message"]);
}

#[tokio::test]
async fn a_bad_credential_is_refused_before_the_query_runs() {
    let s = Server::new();
    s.post("/v1/graphql")
        .auth("sockt_live_invented")
        .json(json!({ "query": "{ tiers { tier } }" }))
        .send()
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn accounts_are_the_callers_own_or_all_for_the_admin() {
    let s = Server::new();
    let alice = s.tenant(10).await;
    let bob = s.tenant(20).await;
    let own = data(
        &s,
        Some(&alice.key),
        "{ accounts { accountId name creditsCents creditsMsats } }",
    )
    .await;
    assert_eq!(
        own["accounts"],
        json!([{ "accountId": alice.account_id, "name": "tenant", "creditsCents": 10, "creditsMsats": 100_000 }])
    );
    let all = data(&s, Some(ADMIN), "{ accounts { accountId } }").await;
    let ids = sorted(&all["accounts"], "accountId");
    assert!(
        ids.contains(&alice.account_id) && ids.contains(&bob.account_id),
        "{ids:?}"
    );
}

#[tokio::test]
async fn stats_total_the_callers_sandboxes() {
    let s = Server::new();
    let fleet = s.fleet().await;
    let stats = data(
        &s,
        Some(&fleet.alice.key),
        "{ stats { burnRateMsatsPerSecond paidInMsats chargedMsats refundedMsats sandboxesByState { state count } } }",
    )
    .await;
    assert_eq!(
        stats["stats"],
        json!({
            "burnRateMsatsPerSecond": 1_000, "paidInMsats": 20_000, "chargedMsats": 0, "refundedMsats": 0,
            "sandboxesByState": [{ "state": "paused", "count": 1 }, { "state": "running", "count": 1 }],
        }),
        "the running micro burns; bob's sandbox is not counted"
    );
}

#[tokio::test]
async fn a_query_nested_too_deep_is_refused() {
    let s = Server::new();
    let (message, _) = error(
        &s,
        None,
        "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { name } } } } } } } } }",
    )
    .await;
    assert!(message.contains("nested too deep"), "{message}");
}

#[tokio::test]
async fn a_query_too_complex_is_refused() {
    let s = Server::new();
    let fields: String = (0..1_001)
        .map(|i| format!("t{i}: tiers {{ tier }} "))
        .collect();
    let (message, _) = error(&s, None, &format!("{{ {fields} }}")).await;
    assert!(message.contains("too complex"), "{message}");
}

#[tokio::test]
async fn a_malformed_query_is_a_graphql_error() {
    let s = Server::new();
    let (message, _) = error(&s, None, "{ tiers { ").await;
    assert!(!message.is_empty());
    let (message, _) = error(&s, None, "{ nosuchfield }").await;
    assert!(message.contains("nosuchfield"), "{message}");
    let mutation = gql(&s, None, "mutation { anything }").await;
    assert!(mutation["errors"].is_array(), "no mutations: {mutation}");
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_refused_with_413() {
    let s = Server::new();
    let padding = " ".repeat(api::graphql::MAX_BODY_BYTES);
    s.post("/v1/graphql")
        .json(json!({ "query": format!("{{ tiers {{ tier }} }}{padding}") }))
        .send()
        .await
        .error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // Just under the limit is read.
    let under = " ".repeat(api::graphql::MAX_BODY_BYTES - 100);
    let fits = data(&s, None, &format!("{{ tiers {{ tier }} }}{under}")).await;
    assert!(fits["tiers"].is_array());
}

#[tokio::test]
async fn only_post_reaches_graphql_over_http() {
    let s = Server::new();
    s.get("/v1/graphql")
        .send()
        .await
        .error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}
