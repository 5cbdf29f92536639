//! Account endpoints: the caller's own account, and the admin endpoints that
//! open accounts and deposit credits (admin token only).

use super::json::JsonBody;
use crate::error::ApiResult;
use crate::presentation::Caller;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use commands::{AppError, Principal};
use projections::AccountView;
use serde::Deserialize;
use serde_json::{json, Value};

fn account_json(view: &AccountView) -> Value {
    json!({
        "account_id": view.account_id,
        "name": view.name,
        "credits_msats": view.balance.0,
        "credits_cents": view.balance.whole_cents(),
    })
}

fn require_admin(caller: &Principal) -> Result<(), AppError> {
    match caller {
        Principal::Admin => Ok(()),
        Principal::Anonymous => Err(AppError::Unauthorized("the admin token is required".into())),
        _ => Err(AppError::Forbidden(
            "only the admin token may manage accounts".into(),
        )),
    }
}

pub async fn my_account(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> ApiResult<Json<Value>> {
    Ok(Json(account_json(&state.app.queries().account(&caller)?)))
}

#[derive(Debug, Deserialize)]
pub struct CreateAccount {
    #[serde(default = "default_name")]
    name: String,
    #[serde(default)]
    credits_cents: u64,
}

fn default_name() -> String {
    "default".into()
}

pub async fn create_account(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<CreateAccount>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    require_admin(&caller)?;
    let (view, key) = state
        .app
        .billing()
        .open_account(&body.name, body.credits_cents)
        .await?;
    let mut answer = account_json(&view);
    answer["api_key"] = json!(key);
    Ok((StatusCode::CREATED, Json(answer)))
}

#[derive(Debug, Deserialize)]
pub struct Deposit {
    credits_cents: u64,
}

pub async fn deposit(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Deposit>,
) -> ApiResult<Json<Value>> {
    require_admin(&caller)?;
    let id: domain::ids::AccountId = crate::presentation::ids::parse(&id)?;
    Ok(Json(account_json(
        &state
            .app
            .billing()
            .deposit_credits(&id, body.credits_cents)
            .await?,
    )))
}

/// The caller's account statement: every deposit, allocation and return.
pub async fn statement(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> ApiResult<Json<Value>> {
    let (account, entries) = state.app.queries().account_statement(&caller)?;
    Ok(Json(
        json!({ "account": account_json(&account), "entries": entries }),
    ))
}

pub async fn statement_csv(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> ApiResult<axum::response::Response> {
    let (account, entries) = state.app.queries().account_statement(&caller)?;
    Ok(super::csv::attachment(
        super::csv::account_statement(&entries),
        &format!("sockt-statement-{}.csv", account.account_id),
    ))
}
