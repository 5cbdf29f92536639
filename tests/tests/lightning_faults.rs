//! Lightning money where things go wrong, against a live LNbits: payments
//! seen without a webhook (LNbits' websocket push), a payment that arrives
//! after terminate, and a sandbox that fails while holding sats. Nothing is
//! stranded, nothing is paid twice, and the audit stays clean.
#![allow(clippy::unwrap_used)]

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use tests::lnbits::Lnbits;
use tests::{LightningSandbox, TestServer};

/// With webhooks off, a payment is seen through LNbits' websocket push at
/// once — well before the fallback poll (every 10 s while pushes flow).
#[tokio::test(flavor = "multi_thread")]
async fn a_payment_is_seen_through_the_gateway_push_without_a_webhook() {
    let Some(lnbits) = Lnbits::from_env() else {
        return;
    };
    let server = TestServer::start_lightning(&lnbits, &["--lightning-webhooks", "false"]).await;
    let agent = lnbits.funded_wallet("agent", 1_000).await;
    // Let the first poll pass: from now on only a push sees a payment early.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sandbox = server.lightning_sandbox("nano", 20).await;
    lnbits.pay(&agent, sandbox.bolt11()).await;
    let LightningSandbox { id, token, .. } = sandbox;
    let paid = server
        .wait_status(
            &token,
            &id,
            Duration::from_secs(5),
            |s| s["paid_in_msats"] == 20_000,
            "the payment credited by push",
        )
        .await;
    assert_ne!(paid["status"], "awaiting_payment", "{paid}");
    let (status, _) = server.delete(&format!("/v1/sandboxes/{id}"), &token).await;
    assert_eq!(status, StatusCode::OK);
    server.assert_audit_passes().await;
}

/// A top-up invoice paid after terminate is credited and goes out through
/// the withdraw link the agent already holds (which now offers it too).
#[tokio::test(flavor = "multi_thread")]
async fn a_payment_after_terminate_is_refunded_through_the_link_already_held() {
    let Some(lnbits) = Lnbits::from_env() else {
        return;
    };
    let server = TestServer::start_lightning(&lnbits, &[]).await;
    let agent = lnbits.funded_wallet("agent", 1_000).await;
    let (id, token) = server.paid_lightning_sandbox(&lnbits, &agent, 100).await;
    let (status, topped) = server
        .post(
            &format!("/v1/sandboxes/{id}/balance"),
            &token,
            json!({"sats": 50}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{topped}");
    let late_invoice = topped["pending_invoice"]["bolt11"]
        .as_str()
        .unwrap()
        .to_string();

    let (status, ended) = server.delete(&format!("/v1/sandboxes/{id}"), &token).await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    let url = ended["refund"]["url"].as_str().unwrap().to_string();
    let first = ended["refund"]["amount_msats"].as_u64().unwrap();
    let (_, after) = server.get(&format!("/v1/sandboxes/{id}"), &token).await;
    assert_eq!(
        after["pending_invoice"],
        Value::Null,
        "no invoice to pay after the end"
    );
    assert_eq!(
        after["refund"]["url"],
        url.as_str(),
        "the status shows the link"
    );

    lnbits.pay(&agent, &late_invoice).await;
    let grown = server
        .wait_status(
            &token,
            &id,
            Duration::from_secs(30),
            |s| s["refund"]["amount_msats"].as_u64() == Some(first + 50_000),
            "the late payment offered through the same link",
        )
        .await;
    assert_eq!(
        grown["refund"]["url"],
        url.as_str(),
        "the link held stays valid"
    );
    lnbits.claim_exactly(&agent, &url, first + 50_000, 5).await;
    let (_, done) = server.get(&format!("/v1/sandboxes/{id}"), &token).await;
    assert_eq!(done["refund"], Value::Null, "claimed: {done}");
    assert_eq!(
        done["paid_in_msats"].as_u64().unwrap(),
        done["consumed_msats"].as_u64().unwrap()
            + done["refunded_msats"].as_u64().unwrap()
            + done["prepaid_balance_msats"].as_u64().unwrap(),
        "{done}"
    );
    server.assert_audit_passes().await;
}

/// A sandbox whose container dies fails; its sats wait behind a withdraw
/// link its status shows, which pays once.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_lightning_sandbox_shows_a_withdraw_link_for_its_sats() {
    let Some(lnbits) = Lnbits::from_env() else {
        return;
    };
    let server = TestServer::start_lightning(&lnbits, &[]).await;
    let agent = lnbits.funded_wallet("agent", 1_000).await;
    let (id, token) = server.paid_lightning_sandbox(&lnbits, &agent, 100).await;
    let container = server
        .read
        .sandbox(&id)
        .unwrap()
        .container_id
        .clone()
        .unwrap();
    tests::docker(&["rm", "-f", &container]);
    let failed = server
        .wait_status(
            &token,
            &id,
            Duration::from_secs(60),
            |s| s["status"] == "failed" && s["refund"]["url"].is_string(),
            "failed, with a link",
        )
        .await;
    let url = failed["refund"]["url"].as_str().unwrap().to_string();
    let amount = failed["refund"]["amount_msats"].as_u64().unwrap();
    assert!(amount > 0 && amount % 1000 == 0, "{failed}");
    lnbits.claim_exactly(&agent, &url, amount, 5).await;
    server.assert_audit_passes().await;
}
