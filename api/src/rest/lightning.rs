//! Lightning endpoints: the gateway's payment webhook, and the LNURL-withdraw
//! link (LUD-03) through which a wallet claims a terminated sandbox's balance.

use crate::server::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Json;
use bech32::{Bech32, Hrp};
use commands::{RefundOutcome, WithdrawLink};
use serde::Deserialize;
use serde_json::{json, Value};

/// A withdraw link as a bech32 `LNURL1...` string (LUD-01).
pub fn lnurl(url: &str) -> Option<String> {
    let hrp = Hrp::parse("lnurl").ok()?;
    bech32::encode::<Bech32>(hrp, url.as_bytes())
        .ok()
        .map(|s| s.to_uppercase())
}

pub fn refund_json(state: &AppState, outcome: RefundOutcome) -> Value {
    match outcome {
        RefundOutcome::Nothing => {
            json!({ "destination": "none", "status": "nothing_to_refund", "amount_msats": 0 })
        }
        RefundOutcome::Paid {
            amount,
            payment_hash,
        } => {
            json!({ "destination": "lightning_address", "status": "paid", "amount_msats": amount.0, "payment_hash": payment_hash })
        }
        RefundOutcome::Pending {
            amount,
            payment_hash,
        } => {
            json!({ "destination": "lightning_address", "status": "pending", "amount_msats": amount.0, "payment_hash": payment_hash })
        }
        RefundOutcome::Retrying { amount, reason } => {
            json!({ "destination": "lightning_address", "status": "retrying", "amount_msats": amount.0, "reason": reason })
        }
        RefundOutcome::Withdraw { amount, k1 } => super::wire::withdraw_json(&WithdrawLink {
            url: state.app.withdraw_url(&k1),
            amount,
        }),
    }
}

/// LNbits posts the payment (its body is JSON encoded twice). Only the
/// payment hash is taken from it; the gateway is asked whether it is paid.
pub async fn webhook(State(state): State<AppState>, body: Bytes) -> Json<Value> {
    let mut value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Value::String(inner) = &value {
        value = serde_json::from_str(inner).unwrap_or(Value::Null);
    }
    let Some(hash) = value["payment_hash"]
        .as_str()
        .filter(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
    else {
        return Json(json!({ "ok": false, "reason": "no payment_hash" }));
    };
    match state.app.settle_payment(hash).await {
        Ok(()) => Json(json!({ "ok": true })),
        Err(e) => {
            tracing::warn!(payment_hash = hash, error = %e, "webhook settlement failed; polling will retry");
            Json(json!({ "ok": false }))
        }
    }
}

fn lnurl_error(reason: impl Into<String>) -> Json<Value> {
    Json(json!({ "status": "ERROR", "reason": reason.into() }))
}

pub async fn withdraw_request(
    State(state): State<AppState>,
    Path(k1): Path<String>,
) -> Json<Value> {
    match state.app.withdraw_offer(&k1).await {
        Ok((sandbox_id, amount)) => Json(json!({
            "tag": "withdrawRequest",
            "callback": format!("{}/v1/lnurl/withdraw/{k1}/callback", state.public_url),
            "k1": k1,
            "minWithdrawable": 1000,
            "maxWithdrawable": amount.0,
            "defaultDescription": format!("Sockt refund of sandbox {sandbox_id}"),
        })),
        Err(e) => lnurl_error(e.to_string()),
    }
}

#[derive(Debug, Deserialize)]
pub struct WithdrawCallback {
    k1: Option<String>,
    pr: Option<String>,
}

pub async fn withdraw_callback(
    State(state): State<AppState>,
    Path(k1): Path<String>,
    Query(query): Query<WithdrawCallback>,
) -> Json<Value> {
    if query.k1.as_deref() != Some(k1.as_str()) {
        return lnurl_error("k1 does not match the link");
    }
    let Some(pr) = query.pr else {
        return lnurl_error("pr (the invoice to pay) is missing");
    };
    match state.app.claim_withdraw(&k1, &pr).await {
        Ok(_) => Json(json!({ "status": "OK" })),
        Err(e) => lnurl_error(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::lnurl;

    #[test]
    fn lnurls_are_bech32_of_the_url() {
        let encoded = lnurl("https://example.com/v1/lnurl/withdraw/abc").unwrap();
        assert!(encoded.starts_with("LNURL1"));
        let (hrp, data) = bech32::decode(&encoded.to_lowercase()).unwrap();
        assert_eq!(hrp.as_str(), "lnurl");
        assert_eq!(data, b"https://example.com/v1/lnurl/withdraw/abc");
    }
}
