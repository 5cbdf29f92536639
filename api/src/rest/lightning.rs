//! Lightning endpoints: the gateway's payment webhook, and the LNURL-withdraw
//! link (LUD-03) through which a wallet claims a terminated sandbox's balance.

use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

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
    match state.app.invoices().settle_payment(hash).await {
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
    match state.app.payouts().withdraw_offer(&k1).await {
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
    match state.app.payouts().claim_withdraw(&k1, &pr).await {
        Ok(_) => Json(json!({ "status": "OK" })),
        Err(e) => lnurl_error(e.to_string()),
    }
}
