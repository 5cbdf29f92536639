//! Lightning billing against a live LNbits (FakeWallet): an agent with no
//! account pays, uses, tops up, runs dry, pays again, and gets its unused
//! sats back — to its Lightning Address or through an LNURL-withdraw link.
//! After every scenario, paid = charged + refunded + balance, in msats.
#![allow(clippy::unwrap_used)]

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;
use tests::lnbits::Lnbits;
use tests::{stream_text, LightningSandbox, TestServer};

async fn wait_status(
    server: &TestServer,
    token: &str,
    id: &str,
    done: impl Fn(&Value) -> bool,
    what: &str,
) -> Value {
    server
        .wait_status(token, id, Duration::from_secs(90), done, what)
        .await
}

/// The auditor's verdict on the server's whole store, with money in it.
async fn assert_audit_passes(server: &TestServer) {
    assert!(server.assert_audit_passes().await.paid_in_msats > 0);
}

async fn assert_conserved(server: &TestServer, token: &str, id: &str) -> Value {
    let (_, ledger) = server
        .get(&format!("/v1/sandboxes/{id}/ledger"), token)
        .await;
    let t = &ledger["totals"];
    let (paid, charged, refunded, balance) = (
        t["paid_in_msats"].as_u64().unwrap(),
        t["charged_msats"].as_u64().unwrap(),
        t["refunded_msats"].as_u64().unwrap(),
        t["balance_msats"].as_u64().unwrap(),
    );
    assert_eq!(paid, charged + refunded + balance, "conservation: {ledger}");
    ledger
}

#[tokio::test(flavor = "multi_thread")]
async fn pay_use_top_up_run_dry_pay_again_and_get_refunded_to_an_address() {
    let Some(lnbits) = Lnbits::from_env() else {
        return;
    };
    let server = TestServer::start_lightning(
        &lnbits,
        &[
            "--low-balance-secs",
            "6",
            "--charge-interval-ms",
            "1000",
            "--lightning-topup-sats",
            "6",
        ],
    )
    .await;
    let agent = lnbits.funded_wallet("agent", 1_000).await;

    // Anonymous create: an invoice and a token, no account.
    let LightningSandbox { id, token, created } = server.lightning_sandbox("micro", 10).await;
    assert_eq!(created["status"], "awaiting_payment");
    let invoice = &created["pending_invoice"];
    assert_eq!(invoice["amount_msats"], 10_000);
    assert!(invoice["bolt11"].as_str().unwrap().starts_with("lnbc"));
    assert_eq!(invoice["payment_hash"].as_str().unwrap().len(), 64);
    let (status, _) = server
        .call(Method::GET, &format!("/v1/sandboxes/{id}"), None, None)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "without the token the sandbox is invisible"
    );
    let (status, body) = server
        .post(
            &format!("/v1/sandboxes/{id}/exec"),
            &token,
            json!({"command": "true"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::PAYMENT_REQUIRED, Some("payment_required"))
    );

    lnbits
        .pay(&agent, invoice["bolt11"].as_str().unwrap())
        .await;
    wait_status(
        &server,
        &token,
        &id,
        |s| s["status"] == "running",
        "running",
    )
    .await;
    let poll = server
        .exec(&token, &id, json!({"command": "echo paid in sats"}))
        .await;
    assert_eq!(stream_text(&poll, "stdout"), "paid in sats\n");

    // Low balance: a top-up invoice appears in status and in execution polls.
    let low = wait_status(
        &server,
        &token,
        &id,
        |s| s["warning_level"] == "low_balance" && !s["pending_invoice"].is_null(),
        "a top-up invoice",
    )
    .await;
    assert_eq!(low["pending_invoice"]["amount_msats"], 6_000);
    let poll = server.exec(&token, &id, json!({"command": "true"})).await;
    assert_eq!(
        poll["pending_invoice"]["payment_hash"],
        low["pending_invoice"]["payment_hash"]
    );
    lnbits
        .pay(&agent, low["pending_invoice"]["bolt11"].as_str().unwrap())
        .await;
    let topped = wait_status(
        &server,
        &token,
        &id,
        |s| s["paid_in_msats"] == 16_000,
        "the top-up credited",
    )
    .await;
    if topped["status"] != "running" {
        // When the credit came too late, the ledger says which step was slow.
        let (_, ledger) = server
            .get(&format!("/v1/sandboxes/{id}/ledger"), &token)
            .await;
        panic!("the top-up did not keep the sandbox running: {topped}\nledger: {ledger}");
    }

    // Run dry: paused out of balance, nothing lost; paying resumes it.
    server
        .post(
            &format!("/v1/sandboxes/{id}/files/write"),
            &token,
            json!({"path": "work.txt", "content": "kept"}),
        )
        .await;
    let paused = wait_status(
        &server,
        &token,
        &id,
        |s| s["status"] == "paused",
        "out of balance",
    )
    .await;
    assert_eq!(paused["warning_level"], "out_of_balance");
    assert_eq!(paused["prepaid_balance_msats"], 0);
    let again = wait_status(
        &server,
        &token,
        &id,
        |s| !s["pending_invoice"].is_null(),
        "an invoice to resume",
    )
    .await;
    lnbits
        .pay(&agent, again["pending_invoice"]["bolt11"].as_str().unwrap())
        .await;
    wait_status(
        &server,
        &token,
        &id,
        |s| s["status"] == "running",
        "resumed after paying",
    )
    .await;
    let poll = server
        .exec(&token, &id, json!({"command": "cat work.txt"}))
        .await;
    assert_eq!(stream_text(&poll, "stdout"), "kept");

    // Terminate with the agent's Lightning Address: the rest comes back.
    let before = lnbits.balance_msat(&agent).await;
    let (status, ended) = server
        .call(
            Method::DELETE,
            &format!("/v1/sandboxes/{id}"),
            Some(&token),
            Some(json!({"lightning_address": agent.address})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert_eq!(ended["refund"]["status"], "paid", "{ended}");
    let refunded = ended["refund"]["amount_msats"].as_u64().unwrap();
    assert!(refunded > 0);
    assert_eq!(
        lnbits.balance_msat(&agent).await,
        before + refunded,
        "the refund arrived in the agent's wallet"
    );
    let ledger = assert_conserved(&server, &token, &id).await;
    assert_eq!(ledger["totals"]["paid_in_msats"], 22_000);
    assert_audit_passes(&server).await;
    assert!(
        ledger["totals"]["balance_msats"].as_u64().unwrap() < 1000,
        "only sub-sat dust may stay"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_an_address_the_balance_waits_behind_an_lnurl_withdraw_link() {
    let Some(lnbits) = Lnbits::from_env() else {
        return;
    };
    let server = TestServer::start_lightning(&lnbits, &[]).await;
    let agent = lnbits.funded_wallet("agent", 1_000).await;
    let (id, token) = server.paid_lightning_sandbox(&lnbits, &agent, 200).await;

    // The explicit extend-balance operation answers with a top-up invoice.
    let (status, extended) = server
        .post(
            &format!("/v1/sandboxes/{id}/balance"),
            &token,
            json!({"sats": 7}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{extended}");
    assert_eq!(extended["pending_invoice"]["amount_msats"], 7_000);
    let (status, body) = server
        .post(
            &format!("/v1/sandboxes/{id}/balance"),
            &token,
            json!({"credits_cents": 7}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (status, ended) = server.delete(&format!("/v1/sandboxes/{id}"), &token).await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert_eq!(ended["refund"]["status"], "claimable", "{ended}");
    assert!(ended["refund"]["lnurl"]
        .as_str()
        .unwrap()
        .starts_with("LNURL1"));
    let url = ended["refund"]["url"].as_str().unwrap().to_string();
    let amount = ended["refund"]["amount_msats"].as_u64().unwrap();
    // Ten claims of the one link at once: it pays once.
    lnbits.claim_exactly(&agent, &url, amount, 10).await;
    // A link pays out once.
    let offer: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(offer["status"], "ERROR", "{offer}");
    let ledger = assert_conserved(&server, &token, &id).await;
    assert_eq!(ledger["totals"]["refunded_msats"].as_u64().unwrap(), amount);
    assert_audit_passes(&server).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn replayed_notifications_credit_once_and_expired_invoices_never() {
    let Some(lnbits) = Lnbits::from_env() else {
        return;
    };
    let server =
        TestServer::start_lightning(&lnbits, &["--lightning-invoice-expiry-secs", "10"]).await;
    let agent = lnbits.funded_wallet("agent", 1_000).await;

    let sandbox = server.lightning_sandbox("nano", 50).await;
    let hash = sandbox.payment_hash().to_string();
    lnbits.pay(&agent, sandbox.bolt11()).await;
    let LightningSandbox { id, token, .. } = sandbox;
    // LNbits double-encodes webhook bodies; send it several times, both ways.
    let inner = json!({ "payment_hash": hash }).to_string();
    for body in [json!(inner), json!({ "payment_hash": hash }), json!(inner)] {
        let (status, _) = server
            .call(Method::POST, "/v1/lightning/webhook", None, Some(body))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let running = wait_status(
        &server,
        &token,
        &id,
        |s| s["status"] == "running",
        "running",
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, later) = server.get(&format!("/v1/sandboxes/{id}"), &token).await;
    assert_eq!(later["paid_in_msats"], 50_000, "credited once: {running}");

    // An unpaid invoice expires and is never credited: its sandbox ends `expired`.
    let LightningSandbox {
        id: waiting_id,
        token: waiting_token,
        ..
    } = server.lightning_sandbox("nano", 5).await;
    let expired = wait_status(
        &server,
        &waiting_token,
        &waiting_id,
        |s| s["status"] == "expired",
        "the unpaid sandbox to expire",
    )
    .await;
    assert_eq!(expired["paid_in_msats"], 0);
    assert!(expired["pending_invoice"].is_null(), "{expired}");
    let (status, _) = server
        .delete(&format!("/v1/sandboxes/{waiting_id}"), &waiting_token)
        .await;
    assert_eq!(status, StatusCode::GONE);
    let (status, _) = server.delete(&format!("/v1/sandboxes/{id}"), &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_conserved(&server, &token, &id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lightning_amounts_are_bounded() {
    let Some(lnbits) = Lnbits::from_env() else {
        return;
    };
    let server = TestServer::start_lightning(&lnbits, &["--lightning-max-sats", "1000"]).await;
    for sats in [json!(0), json!(1001), Value::Null] {
        let (status, body) = server
            .call(
                Method::POST,
                "/v1/sandboxes",
                None,
                Some(json!({"tier": "nano", "billing_method": "lightning", "prepaid_sats": sats})),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_amount")),
            "{sats}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payment_made_while_the_server_is_down_is_credited_on_restart() {
    let Some(lnbits) = Lnbits::from_env() else {
        return;
    };
    let sockt_wallet = lnbits.wallet("sockt").await;
    let mut flags = lnbits.serve_flags(&sockt_wallet);
    flags.extend(["--lightning-webhooks", "false"]);
    let server = TestServer::start_with(&flags).await;
    let agent = lnbits.funded_wallet("agent", 1_000).await;
    let sandbox = server.lightning_sandbox("nano", 20).await;
    let data_dir = server.stop().await;

    lnbits.pay(&agent, sandbox.bolt11()).await;
    let LightningSandbox { id, token, .. } = sandbox;

    let server = TestServer::start_in(data_dir, &flags).await;
    let running = wait_status(
        &server,
        &token,
        &id,
        |s| s["status"] == "running",
        "running after the restart",
    )
    .await;
    assert_eq!(running["paid_in_msats"], 20_000);

    // A refund that cannot be paid is recorded and retried, never lost.
    let (status, ended) = server
        .call(
            Method::DELETE,
            &format!("/v1/sandboxes/{id}"),
            Some(&token),
            Some(json!({"lightning_address": "nobody@127.0.0.1:9"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert_eq!(ended["refund"]["status"], "retrying", "{ended}");
    assert!(
        ended["refund"]["reason"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "{ended}"
    );
    let ledger = assert_conserved(&server, &token, &id).await;
    assert_eq!(ledger["totals"]["refunded_msats"], 0);
    assert!(
        ledger["totals"]["balance_msats"].as_u64().unwrap() > 0,
        "the balance stays until a refund succeeds"
    );
    // The retries go on after a restart.
    let (_, before) = server.get(&format!("/v1/sandboxes/{id}"), &token).await;
    let attempts = before["refund_attempts"].as_u64().unwrap();
    assert!(attempts >= 1);
    let data_dir = server.stop().await;
    let server = TestServer::start_in(data_dir, &flags).await;
    wait_status(
        &server,
        &token,
        &id,
        |s| s["refund_attempts"].as_u64().unwrap_or(0) > attempts,
        "a retry after the restart",
    )
    .await;
    let (status, body) = server
        .call(
            Method::DELETE,
            &format!("/v1/sandboxes/{id}"),
            Some(&token),
            Some(json!({"lightning_address": "not an address"})),
        )
        .await;
    assert_eq!(status, StatusCode::GONE, "{body}");
}
