//! Execution endpoints: start a command, poll it (cumulative output by
//! default, `offset` cursor and `wait_ms` long-poll optional), cancel it.

use super::caller::Caller;
use super::json::JsonBody;
use super::wire;
use crate::error::ApiResult;
use crate::server::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Debug, Deserialize)]
pub struct ExecRequest {
    command: String,
    working_dir: Option<String>,
    timeout_ms: Option<u64>,
}

pub async fn start(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ExecRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let execution = state
        .app
        .exec(
            &caller,
            &id,
            &body.command,
            body.working_dir.as_deref(),
            body.timeout_ms,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "execution_id": execution.execution_id,
            "status": execution.status.as_str(),
            "sandbox_id": execution.sandbox_id,
            "command": execution.command,
            "timeout_ms": execution.timeout_ms,
        })),
    ))
}

#[derive(Debug, Deserialize)]
pub struct PollQuery {
    /// Return only output chunks from this index on (from `next_offset`).
    offset: Option<usize>,
    /// Wait up to this long for new output while the command runs.
    wait_ms: Option<u64>,
}

pub async fn poll(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Query(query): Query<PollQuery>,
) -> ApiResult<Json<Value>> {
    let wait = Duration::from_millis(query.wait_ms.unwrap_or(0));
    let poll = state
        .app
        .poll_execution(&caller, &id, query.offset, wait)
        .await?;
    Ok(Json(wire::execution(&poll)))
}

pub async fn cancel(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let poll = state.app.cancel_execution(&caller, &id).await?;
    Ok(Json(wire::execution(&poll)))
}
