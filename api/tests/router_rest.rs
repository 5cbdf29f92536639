//! The REST API through the real router over fakes (runtime, Lightning
//! gateway, manual clock, in-memory stores): every route's success shape
//! and its main error shapes — missing credentials, another tenant's or an
//! unknown sandbox, bad input, the wrong state, an unpaid Lightning
//! sandbox, oversize bodies — plus the operability routes and the JSON
//! answers for unknown routes and methods. Not here: forwarding to a port
//! inside a sandbox and the shell WebSocket, which need a real connection
//! (tests/tests/ covers them over Docker).
#![allow(clippy::unwrap_used)]

mod support;

use axum::http::{Method, StatusCode};
use commands::testing::{FAKE_DAEMON, FAKE_SLEEP};
use commands::AppConfig;
use domain::sandbox::SandboxState;
use serde_json::{json, Value};
use support::{sorted, Server, ADMIN, PUBLIC_URL, UNKNOWN_ID};

/// 1 cent of credits in msats.
const CENT: u64 = 10_000;

fn keys(value: &Value) -> Vec<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

/// Every route of a sandbox, each with a body it would accept.
const SANDBOX_ROUTES: [&str; 16] = [
    "GET {sb}",
    "DELETE {sb}",
    "POST {sb}/pause",
    "POST {sb}/resume",
    "POST {sb}/processes/kill",
    r#"POST {sb}/balance {"credits_cents":1}"#,
    "GET {sb}/ledger",
    "GET {sb}/ledger.csv",
    r#"POST {sb}/exec {"command":"ls"}"#,
    "GET {sb}/executions",
    r#"POST {sb}/files/write {"path":"a","content":"x"}"#,
    r#"POST {sb}/files/read {"path":"a"}"#,
    "GET {sb}/files",
    "GET {sb}/shell-url",
    "POST {sb}/preview",
    "DELETE {sb}/preview",
];

// ---- tiers, create, list, status -------------------------------------------

#[tokio::test]
async fn tiers_list_every_tier_with_its_prices() {
    let s = Server::new();
    let body = s
        .client(None, "")
        .expect("GET /v1/sandboxes/tiers => 200")
        .await;
    let tiers = body["tiers"].as_array().unwrap();
    let nano = tiers.iter().find(|t| t["tier"] == "nano").unwrap();
    assert_eq!(nano["name"], "nano", "the Go CLI prints name");
    assert_eq!(nano["msats_per_second"], 500);
    assert_eq!(nano["sats_per_second"], 0.5);
    assert_eq!(nano["cost_per_minute_sats"], 30.0);
    for tier in ["nano", "micro", "small", "medium", "large"] {
        assert!(tiers.iter().any(|t| t["tier"] == tier), "{tier}");
    }
}

#[tokio::test]
async fn a_credits_sandbox_is_created_with_its_token_and_moves_credits() {
    let s = Server::new();
    let alice = s.tenant(100).await;
    let created = s
        .client(Some(&alice.key), "")
        .expect(
            r#"POST /v1/sandboxes {"tier":"nano","initial_credits_cents":10,"label":"web"} => 201"#,
        )
        .await;
    let id = created["sandbox_id"].as_str().unwrap();
    assert!(created["sandbox_token"]
        .as_str()
        .unwrap()
        .starts_with("sbx_"));
    assert_eq!(created["billing_method"], "credits");
    assert_eq!(created["tier"], "nano");
    assert_eq!(created["label"], "web");
    assert_eq!(created["prepaid_balance_msats"], 10 * CENT);
    assert_eq!(created["pending_invoice"], Value::Null);
    assert_eq!(
        created["proxy_url"],
        format!("{PUBLIC_URL}/v1/sandboxes/{id}/proxy/")
    );
    s.h.until_state(id, SandboxState::Running).await;
    assert_eq!(s.account(&alice.key).await["credits_cents"], 90);

    let status = s.status(&alice.key, id).await;
    assert_eq!(status["status"], "running");
    assert_eq!(status["sandbox_token"], Value::Null, "shown once");
    assert_eq!(keys(&status), keys(&created), "one status object");
}

#[tokio::test]
async fn create_with_wait_answers_once_the_sandbox_runs() {
    let s = Server::new();
    let alice = s.tenant(100).await;
    let created = s
        .client(Some(&alice.key), "")
        .expect(
            r#"POST /v1/sandboxes {"tier":"nano","initial_credits_cents":5,"wait_ms":5000} => 201"#,
        )
        .await;
    assert_eq!(created["status"], "running");
}

#[tokio::test]
async fn create_refuses_bad_requests_with_their_codes() {
    let s = Server::new();
    let alice = s.tenant(1).await;
    s.client(Some(&alice.key), "")
        .expect_all(&[
            r#"POST /v1/sandboxes {"tier":"huge"} => 400 invalid_tier"#,
            r#"POST /v1/sandboxes {"tier":"nano","billing_method":"barter"} => 400 invalid_billing_method"#,
            r#"POST /v1/sandboxes {"label":"no tier"} => 400 invalid_json"#,
            r#"POST /v1/sandboxes {"tier":"nano","network":{"bogus":1}} => 400 invalid_json"#,
            r#"POST /v1/sandboxes {"tier":"nano","initial_credits_cents":500} => 402 insufficient_credits"#,
            "POST /v1/sandboxes {not json => 400 invalid_json",
        ])
        .await;
    s.post("/v1/sandboxes")
        .auth(&alice.key)
        .body(r#"{"tier":"nano"}"#)
        .send()
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_content_type");
}

#[tokio::test]
async fn create_needs_a_valid_key_for_credits() {
    let s = Server::new();
    s.client(None, "")
        .expect(
            r#"POST /v1/sandboxes {"tier":"nano","billing_method":"credits"} => 401 unauthorized"#,
        )
        .await;
    s.client(Some("sockt_live_invented"), "")
        .expect(r#"POST /v1/sandboxes {"tier":"nano"} => 401 unauthorized"#)
        .await;
    s.post("/v1/sandboxes")
        .header("authorization", "Basic abc")
        .json(json!({ "tier": "nano" }))
        .send()
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn a_lightning_sandbox_awaits_its_invoice_then_runs_when_paid() {
    let s = Server::new();
    let created = s
        .client(None, "")
        .expect(r#"POST /v1/sandboxes {"tier":"nano","billing_method":"lightning","prepaid_sats":100} => 201"#)
        .await;
    assert_eq!(created["status"], "awaiting_payment");
    assert_eq!(created["billing_method"], "lightning");
    let invoice = &created["pending_invoice"];
    assert!(invoice["bolt11"].as_str().unwrap().starts_with("lnfake:"));
    assert_eq!(invoice["amount_msats"], 100_000);
    assert_eq!(invoice["amount_sats"], 100);
    assert_eq!(invoice["payment_hash"].as_str().unwrap().len(), 64);
    let id = created["sandbox_id"].as_str().unwrap();
    let token = created["sandbox_token"].as_str().unwrap();

    // Clients that cannot set headers send the token in the URL.
    let status = s
        .client(None, id)
        .expect(&format!("GET {{sb}}?sandbox_token={token} => 200"))
        .await;
    assert_eq!(status["pending_invoice"], *invoice);

    let hash = invoice["payment_hash"].as_str().unwrap();
    s.h.gateway.settle(hash);
    s.h.app.invoices().settle_payment(hash).await.unwrap();
    s.h.until_state(id, SandboxState::Running).await;
    let status = s.status(token, id).await;
    assert_eq!(status["status"], "running");
    assert_eq!(status["prepaid_balance_msats"], 100_000);
    assert_eq!(status["pending_invoice"], Value::Null);
}

#[tokio::test]
async fn a_lightning_create_refuses_amounts_out_of_range() {
    let s = Server::new();
    s.client(None, "")
        .expect_all(&[
            r#"POST /v1/sandboxes {"tier":"nano","billing_method":"lightning","prepaid_sats":0} => 400 invalid_amount"#,
            r#"POST /v1/sandboxes {"tier":"nano","billing_method":"lightning","prepaid_sats":2000000} => 400 invalid_amount"#,
        ])
        .await;
}

#[tokio::test]
async fn an_api_key_in_the_url_is_refused_not_used() {
    let (s, alice, id) = Server::with_sandbox().await;
    s.client(None, &id)
        .expect(&format!(
            "GET {{sb}}?sandbox_token={} => 401 unauthorized",
            alice.key
        ))
        .await;
}

#[tokio::test]
async fn a_listing_shows_the_callers_sandboxes_filtered_and_paged() {
    let s = Server::new();
    let fleet = s.fleet().await;
    let alice = s.client(Some(&fleet.alice.key), "");
    let all = alice.expect("GET /v1/sandboxes => 200").await;
    assert_eq!(keys(&all), ["next_cursor", "sandboxes", "total"]);
    assert_eq!(all["total"], 2);
    assert_eq!(sorted(&all["sandboxes"], "sandbox_id"), fleet.alices());

    let paused = alice.expect("GET /v1/sandboxes?status=paused => 200").await;
    assert_eq!(paused["total"], 1);
    assert_eq!(paused["sandboxes"][0]["sandbox_id"], fleet.paused.as_str());
    let micro = alice.expect("GET /v1/sandboxes?tier=micro => 200").await;
    assert_eq!(micro["sandboxes"][0]["sandbox_id"], fleet.running.as_str());
    let both = alice
        .expect("GET /v1/sandboxes?status=paused,running => 200")
        .await;
    assert_eq!(both["total"], 2);

    let page = alice.expect("GET /v1/sandboxes?limit=1 => 200").await;
    assert_eq!(page["sandboxes"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = alice
        .expect(&format!("GET /v1/sandboxes?limit=1&cursor={cursor} => 200"))
        .await;
    assert_eq!(rest["sandboxes"].as_array().unwrap().len(), 1);
    assert_ne!(rest["sandboxes"][0], page["sandboxes"][0]);
    assert_eq!(rest["next_cursor"], Value::Null);
    alice
        .expect("GET /v1/sandboxes?cursor=nope => 400 invalid_request")
        .await;

    let everything = s
        .client(Some(ADMIN), "")
        .expect("GET /v1/sandboxes => 200")
        .await;
    assert_eq!(everything["total"], 3, "the admin token sees every tenant");
}

#[tokio::test]
async fn a_listing_needs_credentials_and_a_token_sees_its_one_sandbox() {
    let s = Server::new();
    s.client(None, "")
        .expect("GET /v1/sandboxes => 401 unauthorized")
        .await;
    let sandbox = s.lightning_sandbox(10).await;
    let _other = s.lightning_sandbox(10).await;
    let mine = s
        .client(Some(&sandbox.token), "")
        .expect("GET /v1/sandboxes => 200")
        .await;
    assert_eq!(mine["total"], 1);
    assert_eq!(mine["sandboxes"][0]["sandbox_id"], sandbox.id.as_str());
}

#[tokio::test]
async fn another_tenants_or_an_unknown_sandbox_is_not_found_on_every_sandbox_route() {
    let (s, alice, id) = Server::with_sandbox().await;
    let bob = s.tenant(10).await;
    let not_found: Vec<String> = SANDBOX_ROUTES
        .iter()
        .map(|route| format!("{route} => 404 sandbox_not_found"))
        .collect();
    let cases: Vec<&str> = not_found.iter().map(String::as_str).collect();
    s.client(Some(&bob.key), &id).expect_all(&cases).await;
    s.client(Some(&alice.key), UNKNOWN_ID)
        .expect_all(&cases)
        .await;
    s.client(Some(&alice.key), "not-a-sandbox-id")
        .expect_all(&cases)
        .await;
    // Nothing was done to alice's sandbox.
    assert_eq!(s.h.sandbox(&id).await.state, SandboxState::Running);
}

#[tokio::test]
async fn an_anonymous_caller_or_an_invented_token_cannot_see_a_sandbox() {
    let (s, _, id) = Server::with_sandbox().await;
    for auth in [None, Some("sbx_invented")] {
        s.client(auth, &id)
            .expect("GET {sb} => 404 sandbox_not_found")
            .await;
    }
}

// ---- lifecycle ---------------------------------------------------------------

#[tokio::test]
async fn pause_and_resume_answer_the_status_are_idempotent_and_end_with_the_sandbox() {
    let (s, alice, id) = Server::with_sandbox().await;
    let alice = s.client(Some(&alice.key), &id);
    let paused = alice.expect("POST {sb}/pause => 200").await;
    assert_eq!(paused["status"], "paused");
    assert_eq!(paused["pause_reason"], "requested");
    let again = alice.expect("POST {sb}/pause => 200").await;
    assert_eq!(again, paused, "pausing a paused sandbox changes nothing");
    let resumed = alice.expect("POST {sb}/resume => 200").await;
    assert_eq!(resumed["status"], "running");
    assert_eq!(resumed["pause_reason"], Value::Null);
    let again = alice.expect("POST {sb}/resume => 200").await;
    assert_eq!(again["status"], "running", "resuming a running one neither");
    alice
        .expect_all(&[
            "DELETE {sb} => 200",
            "POST {sb}/pause => 410 sandbox_terminated",
            "POST {sb}/resume => 410 sandbox_terminated",
        ])
        .await;
}

#[tokio::test]
async fn an_unpaid_lightning_sandbox_answers_payment_required() {
    let s = Server::new();
    let sandbox = s.lightning_sandbox(10).await;
    s.client(Some(&sandbox.token), &sandbox.id)
        .expect_all(&[
            r#"POST {sb}/exec {"command":"ls"} => 402 payment_required"#,
            r#"POST {sb}/files/write {"path":"a","content":"x"} => 402 payment_required"#,
            r#"POST {sb}/files/read {"path":"a"} => 402 payment_required"#,
            "GET {sb}/files => 402 payment_required",
            "GET {sb}/shell-url => 402 payment_required",
            "POST {sb}/processes/kill => 402 payment_required",
            "POST {sb}/pause => 409 invalid_state",
            "POST {sb}/resume => 409 invalid_state",
        ])
        .await;
}

#[tokio::test]
async fn terminate_returns_unused_credits_and_ends_the_sandbox() {
    let s = Server::new();
    let alice = s.tenant(100).await;
    let id = s.running_sandbox(&alice, "nano", 10).await;
    // 10 s of nano: 5 000 msats.
    s.h.clock.advance_ms(10_000);
    let client = s.client(Some(&alice.key), &id);
    let ended = client.expect("DELETE {sb} => 200").await;
    assert_eq!(ended["terminated"], true);
    assert_eq!(ended["result"], "terminated");
    assert_eq!(ended["status"], "terminated");
    assert_eq!(ended["consumed_msats"], 5_000);
    assert_eq!(
        ended["refund"],
        json!({ "destination": "account", "amount_msats": 10 * CENT - 5_000 })
    );
    assert_eq!(
        s.account(&alice.key).await["credits_msats"],
        100 * CENT - 5_000
    );
    client
        .expect_all(&[
            r#"POST {sb}/exec {"command":"ls"} => 410 sandbox_terminated"#,
            "GET {sb}/files => 410 sandbox_terminated",
            "POST {sb}/resume => 410 sandbox_terminated",
        ])
        .await;
    let status = client.expect("GET {sb} => 200").await;
    assert_eq!(status["status"], "terminated", "it stays visible");
}

#[tokio::test]
async fn terminate_refuses_a_malformed_body() {
    let (s, alice, id) = Server::with_sandbox().await;
    s.client(Some(&alice.key), &id)
        .expect("DELETE {sb} {nope => 400 invalid_json")
        .await;
    assert_eq!(s.h.sandbox(&id).await.state, SandboxState::Running);
}

#[tokio::test]
async fn terminating_a_lightning_sandbox_pays_its_balance_to_an_address() {
    let s = Server::new();
    let sandbox = s.paid_lightning_sandbox(100).await;
    s.h.clock.advance_ms(10_000);
    let client = s.client(Some(&sandbox.token), &sandbox.id);
    client
        .expect("DELETE {sb}?lightning_address=not-an-address => 400 invalid_lightning_address")
        .await;
    let ended = client
        .expect(r#"DELETE {sb} {"lightning_address":"alice@wallet.example"} => 200"#)
        .await;
    let refund = &ended["refund"];
    assert_eq!(refund["destination"], "lightning_address");
    assert_eq!(refund["status"], "paid");
    assert_eq!(refund["amount_msats"], 95_000);
    assert_eq!(s.h.gateway.paid_msats(), 95_000);
}

// ---- the LNURL-withdraw link and the webhook -----------------------------------

#[tokio::test]
async fn without_an_address_the_balance_is_claimed_through_the_withdraw_link_once() {
    let s = Server::new();
    let sandbox = s.paid_lightning_sandbox(100).await;
    let ended = s
        .client(Some(&sandbox.token), &sandbox.id)
        .expect("DELETE {sb} => 200")
        .await;
    let refund = &ended["refund"];
    assert_eq!(refund["destination"], "lnurl_withdraw");
    assert_eq!(refund["status"], "claimable");
    assert_eq!(refund["amount_msats"], 100_000);
    assert!(refund["lnurl"].as_str().unwrap().starts_with("LNURL1"));
    let path = refund["url"]
        .as_str()
        .unwrap()
        .strip_prefix(PUBLIC_URL)
        .unwrap();
    let k1 = path.rsplit('/').next().unwrap();

    let wallet = s.client(None, "");
    let offer = wallet.expect(&format!("GET {path} => 200")).await;
    assert_eq!(
        offer,
        json!({
            "tag": "withdrawRequest", "k1": k1, "minWithdrawable": 1000, "maxWithdrawable": 100_000,
            "callback": format!("{PUBLIC_URL}/v1/lnurl/withdraw/{k1}/callback"),
            "defaultDescription": format!("Sockt refund of sandbox {}", sandbox.id),
        })
    );

    let callback = |query: &str| format!("GET {path}/callback?{query} => 200");
    let mismatch = wallet.expect(&callback("k1=other&pr=x")).await;
    assert_eq!(mismatch["status"], "ERROR");
    let missing = wallet.expect(&callback(&format!("k1={k1}"))).await;
    assert_eq!(missing["status"], "ERROR");
    assert!(missing["reason"].as_str().unwrap().contains("pr"));

    let invoice = s.h.gateway.invoice_string(domain::Msats(100_000));
    let claimed = wallet
        .expect(&callback(&format!("k1={k1}&pr={invoice}")))
        .await;
    assert_eq!(claimed, json!({ "status": "OK" }));
    assert_eq!(s.h.gateway.paid_msats(), 100_000);
    let again = s.h.gateway.invoice_string(domain::Msats(100_000));
    let twice = wallet
        .expect(&callback(&format!("k1={k1}&pr={again}")))
        .await;
    assert_eq!(twice["status"], "ERROR");
    assert_eq!(s.h.gateway.paid_msats(), 100_000, "paid once");
}

#[tokio::test]
async fn an_unknown_withdraw_link_answers_an_lnurl_error() {
    let s = Server::new();
    let offer = s
        .client(None, "")
        .expect("GET /v1/lnurl/withdraw/nosuchlink => 200")
        .await;
    assert_eq!(offer["status"], "ERROR");
    assert!(offer["reason"].as_str().is_some_and(|r| !r.is_empty()));
}

#[tokio::test]
async fn the_webhook_settles_a_paid_invoice_and_ignores_the_rest() {
    let s = Server::new();
    let sandbox = s.lightning_sandbox(100).await;
    let gateway = s.client(None, "");
    let hash = &sandbox.payment_hash;
    let report = format!(r#"POST /v1/lightning/webhook {{"payment_hash":"{hash}"}} => 200"#);
    // Reported before it is paid: nothing starts.
    assert_eq!(gateway.expect(&report).await, json!({ "ok": true }));
    assert_eq!(
        s.h.sandbox(&sandbox.id).await.state,
        SandboxState::AwaitingPayment
    );
    s.h.gateway.settle(hash);
    // LNbits encodes its body twice.
    let twice = Value::String(json!({ "payment_hash": hash }).to_string());
    let settled = gateway
        .expect(&format!("POST /v1/lightning/webhook {twice} => 200"))
        .await;
    assert_eq!(settled, json!({ "ok": true }));
    s.h.until_state(&sandbox.id, SandboxState::Running).await;

    let no_hash = gateway.expect("POST /v1/lightning/webhook {} => 200").await;
    assert_eq!(no_hash, json!({ "ok": false, "reason": "no payment_hash" }));
    let garbage = gateway
        .expect("POST /v1/lightning/webhook nope => 200")
        .await;
    assert_eq!(garbage["ok"], false);
    let unknown = format!(
        r#"POST /v1/lightning/webhook {{"payment_hash":"{}"}} => 200"#,
        "ab".repeat(32)
    );
    assert_eq!(
        gateway.expect(&unknown).await,
        json!({ "ok": true }),
        "unknown hashes are ignored"
    );
}

// ---- processes, balance, ledger, statement ------------------------------------

#[tokio::test]
async fn killing_processes_cancels_running_commands_and_keeps_the_sandbox() {
    let (s, alice, id) = Server::with_sandbox().await;
    let alice = s.client(Some(&alice.key), &id);
    let daemon = alice
        .expect(&format!(
            r#"POST {{sb}}/exec {{"command":"{FAKE_DAEMON}","wait_ms":2000}} => 201"#
        ))
        .await;
    assert_eq!(daemon["status"], "completed");
    let sleeping = alice
        .expect(&format!(
            r#"POST {{sb}}/exec {{"command":"{FAKE_SLEEP}"}} => 201"#
        ))
        .await;
    s.h.yield_a_while().await;
    let killed = alice.expect("POST {sb}/processes/kill => 200").await;
    assert_eq!(
        killed,
        json!({ "sandbox_id": id, "killed": 1, "cancelled_executions": [sleeping["execution_id"]] })
    );
    assert_eq!(alice.expect("GET {sb} => 200").await["status"], "running");
    alice
        .expect_all(&[
            "POST {sb}/pause => 200",
            "POST {sb}/processes/kill => 409 sandbox_paused",
        ])
        .await;
}

#[tokio::test]
async fn extending_a_balance_moves_credits_or_asks_for_an_invoice() {
    let (s, alice, id) = Server::with_sandbox().await;
    let alice = s.client(Some(&alice.key), &id);
    let extended = alice
        .expect(r#"POST {sb}/balance {"credits_cents":2} => 200"#)
        .await;
    assert_eq!(extended["prepaid_balance_msats"], 3 * CENT);
    alice
        .expect_all(&[
            r#"POST {sb}/balance {"credits_cents":1000} => 402 insufficient_credits"#,
            r#"POST {sb}/balance {"credits_cents":"two"} => 400 invalid_json"#,
            r#"POST {sb}/balance {"sats":10} => 400 invalid_request"#,
            r#"POST {sb}/balance {} => 400 invalid_request"#,
            r#"POST {sb}/balance {"credits_cents":0} => 400 invalid_request"#,
        ])
        .await;

    let sandbox = s.paid_lightning_sandbox(10).await;
    let wallet = s.client(Some(&sandbox.token), &sandbox.id);
    let topped = wallet
        .expect(r#"POST {sb}/balance {"sats":50} => 200"#)
        .await;
    assert_eq!(topped["pending_invoice"]["amount_msats"], 50_000);
    assert_eq!(topped["prepaid_balance_msats"], 10_000, "not paid yet");
    wallet
        .expect(r#"POST {sb}/balance {"credits_cents":1} => 400 invalid_request"#)
        .await;
}

/// A CSV download as `auth`: asserts its headers, returns its lines.
async fn csv(s: &Server, auth: &str, path: &str, file: &str) -> Vec<String> {
    let csv = s.get(path).auth(auth).send().await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.text());
    assert!(csv.header("content-type").starts_with("text/csv"));
    assert!(csv.header("content-disposition").contains(file));
    csv.text().lines().map(str::to_string).collect()
}

#[tokio::test]
async fn the_ledger_lists_charges_with_totals_and_as_csv() {
    let s = Server::new();
    let alice = s.tenant(10).await;
    let id = s.running_sandbox(&alice, "nano", 2).await;
    s.h.clock.advance_ms(10_000);
    s.h.app.meter_tick().await;
    let ledger = s
        .client(Some(&alice.key), &id)
        .expect("GET {sb}/ledger => 200")
        .await;
    assert_eq!(ledger["sandbox_id"], id.as_str());
    assert_eq!(ledger["billing_method"], "credits");
    assert_eq!(
        ledger["totals"],
        json!({
            "paid_in_msats": 2 * CENT, "charged_msats": 5_000, "refunded_msats": 0,
            "reserved_msats": 0, "balance_msats": 2 * CENT - 5_000,
        })
    );
    let entries = ledger["entries"].as_array().unwrap();
    let charge = entries
        .iter()
        .find(|e| e["duration_ms"] == 10_000)
        .unwrap_or_else(|| panic!("no 10 s charge in {ledger}"));
    assert_eq!(charge["amount_msats"], 5_000);
    assert_eq!(charge["msats_per_second"], 500);

    let path = format!("/v1/sandboxes/{id}/ledger.csv");
    let lines = csv(&s, &alice.key, &path, &format!("sockt-ledger-{id}.csv")).await;
    assert_eq!(lines.len(), entries.len() + 1, "a header, a line per entry");
    assert!(lines.iter().any(|l| l.contains("5000")), "{lines:?}");
}

#[tokio::test]
async fn the_account_statement_lists_deposits_and_allocations() {
    let s = Server::new();
    let alice = s.tenant(10).await;
    let _id = s.running_sandbox(&alice, "nano", 3).await;
    let statement = s
        .client(Some(&alice.key), "")
        .expect("GET /v1/account/statement => 200")
        .await;
    let account = &statement["account"];
    assert_eq!(account["account_id"], alice.account_id.as_str());
    assert_eq!(account["credits_cents"], 7);
    let entries = statement["entries"].as_array().unwrap();
    assert!(entries.len() >= 2, "a deposit, an allocation: {statement}");

    let file = format!("sockt-statement-{}.csv", alice.account_id);
    let lines = csv(&s, &alice.key, "/v1/account/statement.csv", &file).await;
    assert_eq!(lines.len(), entries.len() + 1);

    s.client(None, "")
        .expect_all(&[
            "GET /v1/account/statement => 401 unauthorized",
            "GET /v1/account/statement.csv => 401 unauthorized",
            "GET /v1/account => 401 unauthorized",
        ])
        .await;
}

// ---- executions ----------------------------------------------------------------

#[tokio::test]
async fn a_command_starts_and_its_poll_shows_the_cumulative_output() {
    let (s, alice, id) = Server::with_sandbox().await;
    let alice = s.client(Some(&alice.key), &id);
    let started = alice
        .expect(r#"POST {sb}/exec {"command":"echo hi","timeout_ms":5000} => 201"#)
        .await;
    let execution = started["execution_id"].as_str().unwrap();
    assert_eq!(
        started,
        json!({
            "execution_id": execution, "status": "running", "sandbox_id": id, "command": "echo hi",
            "timeout_ms": 5000, "background": false,
            "stream_url": format!("{PUBLIC_URL}/v1/executions/{execution}/stream"),
        })
    );

    let poll = alice
        .expect(&format!(
            "GET /v1/executions/{execution}?wait_ms=5000 => 200"
        ))
        .await;
    assert_eq!(poll["status"], "completed", "{poll}");
    assert_eq!(poll["exit_code"], 0);
    assert_eq!(
        poll["output"],
        json!([{ "stream": "stdout", "chunk": "echo hi\n" }])
    );
    assert_eq!(poll["pending_invoice"], Value::Null);
    let later = alice
        .expect(&format!("GET /v1/executions/{execution}?offset=1 => 200"))
        .await;
    assert_eq!(later["output"], json!([]), "nothing after the cursor");
}

#[tokio::test]
async fn an_exec_with_wait_answers_with_its_result() {
    let (s, alice, id) = Server::with_sandbox().await;
    let done = s
        .client(Some(&alice.key), &id)
        .expect(r#"POST {sb}/exec {"command":"true","wait_ms":5000} => 201"#)
        .await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["exit_code"], 0);
    assert_eq!(done["output"][0]["chunk"], "true\n");
}

#[tokio::test]
async fn exec_refuses_bad_requests_and_the_wrong_state() {
    let (s, alice, id) = Server::with_sandbox().await;
    s.client(Some(&alice.key), &id)
        .expect_all(&[
            r#"POST {sb}/exec {"cmd":"ls"} => 400 invalid_json"#,
            r#"POST {sb}/exec {"command":""} => 400 invalid_request"#,
            r#"POST {sb}/exec {"command":"ls","env":{"1BAD":"x"}} => 400 invalid_request"#,
            r#"POST {sb}/exec {"command":"ls","timeout_ms":999999999} => 400 invalid_request"#,
            "POST {sb}/pause => 200",
            r#"POST {sb}/exec {"command":"ls"} => 409 sandbox_paused"#,
        ])
        .await;
}

#[tokio::test]
async fn a_running_command_is_cancelled_and_listed() {
    let (s, alice, id) = Server::with_sandbox().await;
    let bob = s.tenant(10).await;
    let alice = s.client(Some(&alice.key), &id);
    let started = alice
        .expect(&format!(
            r#"POST {{sb}}/exec {{"command":"{FAKE_SLEEP}","background":true}} => 201"#
        ))
        .await;
    assert_eq!(started["background"], true);
    let execution = started["execution_id"].as_str().unwrap();
    s.h.yield_a_while().await;

    let listed = alice
        .expect("GET {sb}/executions?status=running => 200")
        .await;
    let running = listed["executions"].as_array().unwrap();
    assert_eq!(running.len(), 1, "{listed}");
    assert_eq!(running[0]["execution_id"], execution);
    assert_eq!(running[0]["command"], FAKE_SLEEP);
    assert_eq!(
        keys(&running[0]),
        [
            "command",
            "duration_ms",
            "execution_id",
            "exit_code",
            "started_at_ms",
            "status",
            "timeout_ms"
        ]
    );

    let cancel = format!("DELETE /v1/executions/{execution}");
    s.client(Some(&bob.key), &id)
        .expect(&format!("{cancel} => 404 execution_not_found"))
        .await;
    let cancelled = alice.expect(&format!("{cancel} => 200")).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    alice
        .expect(&format!("{cancel} => 409 execution_finished"))
        .await;
    let none_running = alice
        .expect("GET {sb}/executions?status=running => 200")
        .await;
    assert_eq!(none_running["executions"], json!([]));
    let all = alice.expect("GET {sb}/executions => 200").await;
    assert_eq!(all["executions"][0]["status"], "cancelled");
}

/// The events of a server-sent event stream: (event, data as JSON).
fn sse_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}:")))
                    .map(|v| v.trim().to_string())
                    .unwrap()
            };
            (
                field("event"),
                serde_json::from_str(&field("data")).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_executions_output_streams_as_server_sent_events() {
    let (s, alice, id) = Server::with_sandbox().await;
    let bob = s.tenant(10).await;
    let done = s
        .client(Some(&alice.key), &id)
        .expect(r#"POST {sb}/exec {"command":"echo hi","wait_ms":5000} => 201"#)
        .await;
    let stream = format!(
        "/v1/executions/{}/stream",
        done["execution_id"].as_str().unwrap()
    );
    let events = s.get(&stream).auth(&alice.key).send().await;
    assert_eq!(events.status, StatusCode::OK);
    assert_eq!(events.header("content-type"), "text/event-stream");
    let text = events.text();
    let events = sse_events(&text);
    assert_eq!(events.len(), 2, "{text}");
    assert_eq!(events[0].0, "stdout");
    assert_eq!(events[0].1, json!({ "chunk": "echo hi\n", "offset": 0 }));
    assert_eq!(events[1].0, "end");
    assert_eq!(events[1].1["status"], "completed");
    assert_eq!(events[1].1["exit_code"], 0);
    assert!(text.contains("id: 1"), "the cursor after the chunk: {text}");

    let resumed = s
        .get(&stream)
        .auth(&alice.key)
        .header("last-event-id", "1")
        .send()
        .await;
    let resumed = sse_events(&resumed.text());
    assert_eq!(resumed.len(), 1, "nothing seen twice: {resumed:?}");
    assert_eq!(resumed[0].0, "end");

    s.client(Some(&bob.key), &id)
        .expect(&format!("GET {stream} => 404 execution_not_found"))
        .await;
}

#[tokio::test]
async fn an_unknown_or_foreign_execution_is_not_found() {
    let (s, alice, id) = Server::with_sandbox().await;
    let bob = s.tenant(10).await;
    let started = s
        .client(Some(&alice.key), &id)
        .expect(r#"POST {sb}/exec {"command":"ls"} => 201"#)
        .await;
    let execution = started["execution_id"].as_str().unwrap();
    for (who, execution) in [(&bob.key, execution), (&alice.key, UNKNOWN_ID)] {
        let get = format!("GET /v1/executions/{execution} => 404 execution_not_found");
        let stdin = format!(
            r#"POST /v1/executions/{execution}/stdin {{"data":"x"}} => 404 execution_not_found"#
        );
        s.client(Some(who), &id).expect_all(&[&get, &stdin]).await;
    }
}

#[tokio::test]
async fn standard_input_is_written_to_a_command_that_opened_it() {
    let (s, alice, id) = Server::with_sandbox().await;
    let alice = s.client(Some(&alice.key), &id);
    let reading = alice
        .expect(&format!(
            r#"POST {{sb}}/exec {{"command":"{FAKE_SLEEP}","stdin":true}} => 201"#
        ))
        .await;
    let stdin = format!(
        "POST /v1/executions/{}/stdin",
        reading["execution_id"].as_str().unwrap()
    );
    s.h.yield_a_while().await;
    let written = alice
        .expect(&format!(r#"{stdin} {{"data":"hello\n"}} => 200"#))
        .await;
    assert_eq!(written, json!({ "written": 6, "closed": false }));
    let binary = alice
        .expect(&format!(
            r#"{stdin} {{"data":"AAEC","encoding":"base64","close":true}} => 200"#
        ))
        .await;
    assert_eq!(binary, json!({ "written": 3, "closed": true }));
    let late = format!(r#"{stdin} {{"data":"late"}} => 409 invalid_state"#);
    let bad = format!(r#"{stdin} {{"data":"%%%","encoding":"base64"}} => 400 invalid_base64"#);
    alice.expect_all(&[&late, &bad]).await;

    let closed = alice
        .expect(&format!(
            r#"POST {{sb}}/exec {{"command":"{FAKE_SLEEP}"}} => 201"#
        ))
        .await;
    let execution = closed["execution_id"].as_str().unwrap();
    alice
        .expect(&format!(
            r#"POST /v1/executions/{execution}/stdin {{"data":"x"}} => 409 invalid_state"#
        ))
        .await;
}

// ---- files ---------------------------------------------------------------------

#[tokio::test]
async fn files_are_written_and_read_as_text_or_base64() {
    let (s, alice, id) = Server::with_sandbox().await;
    let alice = s.client(Some(&alice.key), &id);
    let written = alice
        .expect(r#"POST {sb}/files/write {"path":"notes.txt","content":"héllo"} => 200"#)
        .await;
    assert_eq!(
        written,
        json!({ "path": "/home/sandbox/notes.txt", "size": 6, "written": true })
    );
    let read = alice
        .expect(r#"POST {sb}/files/read {"path":"/home/sandbox/notes.txt"} => 200"#)
        .await;
    assert_eq!(
        read,
        json!({ "path": "/home/sandbox/notes.txt", "size": 6, "truncated": false, "content": "héllo", "encoding": "utf8" })
    );
    let head = alice
        .expect(r#"POST {sb}/files/read {"path":"notes.txt","max_bytes":1} => 200"#)
        .await;
    assert_eq!(
        (&head["content"], &head["truncated"]),
        (&json!("h"), &json!(true))
    );

    alice
        .expect(r#"POST {sb}/files/write {"path":"blob.bin","content":"/wABAg==","encoding":"base64"} => 200"#)
        .await;
    let binary = alice
        .expect(r#"POST {sb}/files/read {"path":"blob.bin","encoding":"base64"} => 200"#)
        .await;
    assert_eq!(
        binary,
        json!({ "content_b64": "/wABAg==", "path": "/home/sandbox/blob.bin", "size": 4, "truncated": false, "encoding": "base64" })
    );
    alice
        .expect(r#"POST {sb}/files/read {"path":"blob.bin"} => 400 not_utf8"#)
        .await;
}

#[tokio::test]
async fn files_refuse_bad_input_and_missing_files() {
    let (s, alice, id) = Server::with_sandbox().await;
    s.client(Some(&alice.key), &id)
        .expect_all(&[
            r#"POST {sb}/files/read {"path":"missing.txt"} => 404 file_not_found"#,
            r#"POST {sb}/files/write {"path":"a","content":"!!","encoding":"base64"} => 400 invalid_base64"#,
            r#"POST {sb}/files/write {"path":"a","content":"x","encoding":"rot13"} => 400 invalid_json"#,
            r#"POST {sb}/files/write {"content":"x"} => 400 invalid_json"#,
            r#"POST {sb}/files/read {"path":""} => 400 invalid_request"#,
            "GET {sb}/files?recursive=maybe => 400 invalid_request",
        ])
        .await;
}

#[tokio::test]
async fn a_directory_is_listed() {
    let (s, alice, id) = Server::with_sandbox().await;
    let listed = s
        .client(Some(&alice.key), &id)
        .expect("GET {sb}/files?path=.&recursive=true&max_depth=2 => 200")
        .await;
    assert_eq!(listed, json!({ "path": "/home/sandbox", "entries": [] }));
}

#[tokio::test]
async fn an_oversize_file_is_refused() {
    let s = Server::with_config(AppConfig {
        max_file_bytes: 1024,
        ..AppConfig::default()
    });
    let alice = s.tenant(10).await;
    let id = s.running_sandbox(&alice, "nano", 1).await;
    // Past the file limit, then past the router's body limit.
    for size in [2048, 200_000] {
        s.post(&format!("/v1/sandboxes/{id}/files/write"))
            .auth(&alice.key)
            .json(json!({ "path": "big", "content": "x".repeat(size) }))
            .send()
            .await
            .error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    }
}

// ---- previews, the proxy, the shell URL -----------------------------------------

/// A request to port 8000 of the sandbox's proxy origin.
fn on_proxy_origin<'a>(s: &'a Server, id: &str, method: Method, path: &str) -> support::Call<'a> {
    s.call(method, path)
        .header("host", &format!("{id}-8000.localhost:8080"))
}

#[tokio::test]
async fn a_preview_token_opens_the_proxy_origin_until_it_is_revoked() {
    let (s, alice, id) = Server::with_sandbox().await;
    let owner = s.client(Some(&alice.key), &id);
    let issued = owner.expect("POST {sb}/preview => 201").await;
    let token = issued["preview_token"].as_str().unwrap();
    assert_eq!(issued["header"], "X-Sockt-Preview-Token");
    assert_eq!(
        issued["url_template"],
        format!("http://{id}-{{port}}.localhost:8080/.sockt/preview#{token}")
    );

    let page = on_proxy_origin(&s, &id, Method::GET, "/.sockt/preview")
        .send()
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.header("content-type").starts_with("text/html"));
    let login = |token: &str| {
        on_proxy_origin(&s, &id, Method::POST, "/.sockt/preview")
            .header("x-sockt-preview-token", token)
    };
    // The token is accepted; the fake runtime has no address to open
    // (the cookie itself is tested over Docker).
    login(token)
        .send()
        .await
        .error(StatusCode::CONFLICT, "sandbox_offline");
    login("nope")
        .send()
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");

    let revoked = owner.expect("DELETE {sb}/preview => 200").await;
    assert_eq!(revoked, json!({ "revoked": true }));
    login(token)
        .send()
        .await
        .error(StatusCode::NOT_FOUND, "sandbox_not_found");
}

#[tokio::test]
async fn the_proxy_origin_needs_credentials_and_never_serves_the_api() {
    let (s, alice, id) = Server::with_sandbox().await;
    for (path, status, code) in [
        ("/", StatusCode::UNAUTHORIZED, "unauthorized"),
        (
            "/v1/sandboxes/tiers",
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        ("/.sockt/elsewhere", StatusCode::NOT_FOUND, "not_found"),
    ] {
        on_proxy_origin(&s, &id, Method::GET, path)
            .send()
            .await
            .error(status, code);
    }
    // The fake runtime has no network: the owner gets the port's error,
    // not the app (forwarding itself is tested over Docker).
    on_proxy_origin(&s, &id, Method::GET, "/")
        .auth(&alice.key)
        .send()
        .await
        .error(StatusCode::CONFLICT, "sandbox_offline");
}

#[tokio::test]
async fn the_old_proxy_path_redirects_to_the_proxy_origin() {
    let (s, _, id) = Server::with_sandbox().await;
    let moved = s
        .get(&format!(
            "/v1/sandboxes/{id}/proxy/8000/app/x?q=1&sandbox_token=sbx_x"
        ))
        .send()
        .await;
    assert_eq!(moved.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        moved.header("location"),
        format!("http://{id}-8000.localhost:8080/app/x?q=1")
    );
    s.client(None, &id)
        .expect("GET {sb}/proxy/0/ => 400 invalid_request")
        .await;
    // The id becomes a host name: one that is not a sandbox id sends
    // nobody anywhere (an open redirect otherwise).
    for forged in ["evil.com%2Fx%3F", "evil.com", "x@evil.com"] {
        let refused = s
            .get(&format!("/v1/sandboxes/{forged}/proxy/8000/"))
            .send()
            .await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND, "{forged}");
        assert!(refused.headers.get("location").is_none(), "{forged}");
        assert_eq!(refused.json()["code"], "sandbox_not_found", "{forged}");
    }
}

#[tokio::test]
async fn the_shell_url_carries_a_ticket() {
    let (s, alice, id) = Server::with_sandbox().await;
    let owner = s.client(Some(&alice.key), &id);
    let shell = owner.expect("GET {sb}/shell-url => 200").await;
    assert_eq!(shell["expires_in_secs"], 60);
    let url = shell["url"].as_str().unwrap();
    let prefix = format!("ws://127.0.0.1:8080/v1/sandboxes/{id}/shell?ticket=");
    assert!(
        url.starts_with(&prefix) && url.len() > prefix.len(),
        "{url}"
    );
    s.client(None, &id)
        .expect("GET {sb}/shell-url => 404 sandbox_not_found")
        .await;
    owner
        .expect_all(&[
            "POST {sb}/pause => 200",
            "GET {sb}/shell-url => 409 sandbox_paused",
        ])
        .await;
}

/// A plain request for the shell: credentials are checked first, then the
/// missing upgrade is refused in the usual JSON shape.
#[tokio::test]
async fn the_shell_refuses_a_plain_request_with_a_json_error() {
    let (s, alice, id) = Server::with_sandbox().await;
    s.client(None, &id)
        .expect("GET {sb}/shell => 401 unauthorized")
        .await;
    s.client(Some(&alice.key), &id)
        .expect("GET {sb}/shell => 400 invalid_request")
        .await;
}

// ---- accounts and admin --------------------------------------------------------

#[tokio::test]
async fn the_account_shows_its_balance() {
    let s = Server::new();
    let alice = s.tenant(25).await;
    assert_eq!(
        s.account(&alice.key).await,
        json!({ "account_id": alice.account_id, "name": "tenant", "credits_msats": 25 * CENT, "credits_cents": 25 })
    );
}

#[tokio::test]
async fn only_the_admin_token_opens_accounts_and_deposits() {
    let s = Server::new();
    let alice = s.tenant(0).await;
    let open = r#"POST /v1/admin/accounts {"name":"carol","credits_cents":5}"#;
    s.client(None, "")
        .expect(&format!("{open} => 401 unauthorized"))
        .await;
    s.client(Some(&alice.key), "")
        .expect(&format!("{open} => 403 forbidden"))
        .await;
    s.client(Some("not-the-admin-token"), "")
        .expect(&format!("{open} => 401 unauthorized"))
        .await;
    let admin = s.client(Some(ADMIN), "");
    let carol = admin.expect(&format!("{open} => 201")).await;
    assert_eq!(carol["name"], "carol");
    assert_eq!(carol["credits_cents"], 5);
    let key = carol["api_key"].as_str().unwrap();
    assert!(key.starts_with("sockt_live_"), "{key}");
    let account_id = carol["account_id"].as_str().unwrap();
    assert_eq!(s.account(key).await["account_id"], account_id);

    let deposit = format!(r#"POST /v1/admin/accounts/{account_id}/credits {{"credits_cents":10}}"#);
    s.client(None, "")
        .expect(&format!("{deposit} => 401 unauthorized"))
        .await;
    s.client(Some(key), "")
        .expect(&format!("{deposit} => 403 forbidden"))
        .await;
    let topped = admin.expect(&format!("{deposit} => 200")).await;
    assert_eq!(topped["credits_cents"], 15);
    admin
        .expect_all(&[
            r#"POST /v1/admin/accounts/acc_nobody/credits {"credits_cents":10} => 404 account_not_found"#,
            &format!("POST /v1/admin/accounts/{account_id}/credits {{}} => 400 invalid_json"),
            r#"POST /v1/admin/accounts {"credits_cents":-1} => 400 invalid_json"#,
        ])
        .await;
}

// ---- operability, unknown routes, rate limit -----------------------------------

#[tokio::test]
async fn health_reports_the_store_and_the_live_sandboxes() {
    let (s, _, _) = Server::with_sandbox().await;
    let health = s.client(None, "").expect("GET /healthz => 200").await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["store"], "memory");
    assert_eq!(health["instance"], "router-tests");
    assert_eq!(health["live_sandboxes"], 1);
    assert_eq!(health["leader"], false);
    assert_eq!(
        health["read_model"],
        json!({ "checkpoint_position": 0, "replayed_at_start": 0 })
    );
}

#[tokio::test]
async fn live_and_ready_answer_without_credentials() {
    let s = Server::new();
    let live = s.client(None, "").expect("GET /livez => 200").await;
    assert_eq!(live, json!({ "status": "live" }));
    let ready = s.client(None, "").expect("GET /readyz => 200").await;
    assert_eq!(
        ready,
        json!({ "status": "ready", "stopping": false, "checks": {} })
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_sandboxes_by_state() {
    let (s, _, _) = Server::with_sandbox().await;
    let metrics = s.get("/metrics").send().await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(metrics.header("content-type").starts_with("text/plain"));
    let text = metrics.text();
    assert!(
        text.contains("sockt_sandboxes{state=\"running\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("/v1/sandboxes"),
        "the create is counted: {text}"
    );
    assert!(text.contains("sockt_leader 0"), "{text}");
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let s = Server::new();
    let spec = s.get("/v1/openapi.json").send().await;
    assert_eq!(spec.header("content-type"), "application/json");
    let spec = spec.ok(StatusCode::OK);
    let documented = |path: &str| spec["paths"].get(path).is_some();
    for route in SANDBOX_ROUTES {
        let path = route
            .split(' ')
            .nth(1)
            .unwrap()
            .replace("{sb}", "/v1/sandboxes/{id}");
        assert!(documented(&path) || path.ends_with(".csv"), "{path}");
    }
    for path in [
        "/v1/sandboxes/tiers",
        "/v1/sandboxes",
        "/v1/executions/{id}",
        "/v1/executions/{id}/stdin",
        "/v1/account",
        "/v1/account/statement",
        "/v1/admin/accounts",
        "/v1/admin/accounts/{id}/credits",
    ] {
        assert!(documented(path), "{path} is documented");
    }
}

#[tokio::test]
async fn the_dashboard_is_one_page() {
    let s = Server::new();
    let page = s.get("/dashboard").send().await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.header("content-type").starts_with("text/html"));
    assert!(page
        .header("content-security-policy")
        .contains("default-src 'self'"));
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json_errors() {
    let s = Server::new();
    s.client(None, "")
        .expect_all(&[
            "GET /v1/nothing-here => 404 not_found",
            "PUT /v1/sandboxes/tiers => 405 method_not_allowed",
            "DELETE /healthz => 405 method_not_allowed",
        ])
        .await;
}

#[tokio::test]
async fn a_caller_over_its_rate_is_answered_429_with_retry_after() {
    let s = Server::with_rate_limit(2);
    let alice = s.tenant(10).await;
    for _ in 0..2 {
        s.account(&alice.key).await;
    }
    let limited = s.get("/v1/account").auth(&alice.key).send().await;
    let retry: u64 = limited.header("retry-after").parse().unwrap();
    assert!(retry >= 1);
    limited.error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // Another caller has its own bucket.
    let bob = s.tenant(10).await;
    s.account(&bob.key).await;
    // Health is never limited.
    for _ in 0..3 {
        s.client(None, "").expect("GET /healthz => 200").await;
    }
}
