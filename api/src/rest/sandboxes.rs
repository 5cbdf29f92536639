//! Sandbox endpoints: tiers, create, status, pause, resume, terminate,
//! balance and ledger.

use super::json::{optional_json, JsonBody};
use crate::error::ApiResult;
use crate::presentation::ids::IdPath;
use crate::presentation::wire;
use crate::presentation::Caller;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use commands::{CreateSandbox, DefaultBilling, SandboxQuery};
use domain::ids::SandboxId;
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;

pub async fn tiers() -> Json<Value> {
    Json(wire::tiers())
}

#[derive(Debug, Deserialize)]
pub struct CreateRequest {
    tier: String,
    billing_method: Option<String>,
    prepaid_sats: Option<u64>,
    initial_credits_cents: Option<u64>,
    label: Option<String>,
    network: Option<wire::NetworkParams>,
    timeout_secs: Option<u64>,
    idle_pause_secs: Option<u64>,
    #[serde(default)]
    env: std::collections::BTreeMap<String, String>,
    /// Answer once the sandbox runs (or failed, or awaits its payment), or
    /// after this many milliseconds (at most a minute), whichever is first.
    wait_ms: Option<u64>,
}

fn status_of(state: &AppState, view: projections::SandboxView, token: Option<&str>) -> Value {
    wire::sandbox_status(
        &state.app.queries().present(view),
        &state.public_url,
        &state.proxy_origins,
        token,
    )
}

pub async fn create(
    State(state): State<AppState>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<CreateRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let request = CreateSandbox {
        tier: body.tier,
        billing_method: body.billing_method,
        prepaid_sats: body.prepaid_sats,
        initial_credits_cents: body.initial_credits_cents,
        label: body.label,
        default_billing: DefaultBilling::Credits,
        client: client.map(|Extension(ConnectInfo(addr))| addr.ip().to_string()),
        network: body.network.map(Into::into),
        timeout_secs: body.timeout_secs,
        idle_pause_secs: body.idle_pause_secs,
        env: body.env,
    };
    let (view, token) = match body.wait_ms.filter(|ms| *ms > 0) {
        Some(ms) => {
            let wait = std::time::Duration::from_millis(ms);
            state
                .app
                .sandboxes()
                .create_sandbox_and_wait(&caller, request, wait)
                .await?
        }
        None => {
            state
                .app
                .sandboxes()
                .create_sandbox(&caller, request)
                .await?
        }
    };
    Ok((
        StatusCode::CREATED,
        Json(status_of(&state, view, Some(&token))),
    ))
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    /// One state or several, comma-separated.
    status: Option<String>,
    label: Option<String>,
    tier: Option<String>,
    billing_method: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

/// The caller's sandboxes, newest first, filtered, one page at a time.
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<Value>> {
    let query = SandboxQuery {
        states: params
            .status
            .iter()
            .flat_map(|s| s.split(','))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        tier: params.tier,
        billing_method: params.billing_method,
        label: params.label,
    };
    let page = state.app.queries().list_sandboxes(
        &caller,
        &query,
        params.cursor.as_deref(),
        params.limit.unwrap_or(50),
    )?;
    let sandboxes: Vec<Value> = page
        .sandboxes
        .into_iter()
        .map(|view| status_of(&state, view, None))
        .collect();
    Ok(Json(json!({
        "sandboxes": sandboxes,
        "next_cursor": page.next_cursor,
        "total": page.total,
    })))
}

pub async fn status(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath<SandboxId>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let view = state
        .app
        .queries()
        .present(state.app.queries().sandbox(&caller, &id)?);
    let status = wire::SandboxStatusJson {
        view: &view,
        public_url: &state.public_url,
        proxy: &state.proxy_origins,
        token: None,
    };
    Ok(Json(status).into_response())
}

pub async fn pause(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath<SandboxId>,
) -> ApiResult<Json<Value>> {
    let view = state.app.sandboxes().pause(&caller, &id).await?;
    Ok(Json(status_of(&state, view, None)))
}

pub async fn resume(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath<SandboxId>,
) -> ApiResult<Json<Value>> {
    let view = state.app.sandboxes().resume(&caller, &id).await?;
    Ok(Json(status_of(&state, view, None)))
}

#[derive(Debug, Default, Deserialize)]
pub struct TerminateRequest {
    /// Where Lightning sandboxes refund their unused balance.
    lightning_address: Option<String>,
}

pub async fn terminate(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath<SandboxId>,
    Query(query): Query<TerminateQuery>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let request: TerminateRequest = optional_json(&body)?;
    let address = request.lightning_address.or(query.lightning_address);
    let (view, refund) = state
        .app
        .sandboxes()
        .terminate(&caller, &id, address.as_deref())
        .await?;
    let refunded = view.refunded;
    let mut status = status_of(&state, view, None);
    let refund = crate::presentation::refunds::terminate_refund_json(&state, refund, refunded);
    if let Value::Object(map) = &mut status {
        map.insert("terminated".into(), json!(true));
        map.insert("result".into(), json!("terminated"));
        map.insert("refund".into(), refund);
    }
    Ok(Json(status))
}

#[derive(Debug, Default, Deserialize)]
pub struct TerminateQuery {
    lightning_address: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct BalanceRequest {
    credits_cents: Option<u64>,
    sats: Option<u64>,
}

pub async fn extend_balance(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath<SandboxId>,
    JsonBody(body): JsonBody<BalanceRequest>,
) -> ApiResult<Json<Value>> {
    let view = state
        .app
        .sandboxes()
        .extend_balance(&caller, &id, body.credits_cents, body.sats, None)
        .await?;
    Ok(Json(status_of(&state, view, None)))
}

pub async fn ledger(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath<SandboxId>,
) -> ApiResult<Json<Value>> {
    let (view, entries) = state.app.queries().ledger(&caller, &id)?;
    Ok(Json(wire::ledger(&view, &entries)))
}

pub async fn ledger_csv(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath<SandboxId>,
) -> ApiResult<axum::response::Response> {
    let (_, entries) = state.app.queries().ledger(&caller, &id)?;
    Ok(super::csv::attachment(
        super::csv::sandbox_ledger(&entries),
        &format!("sockt-ledger-{id}.csv"),
    ))
}
