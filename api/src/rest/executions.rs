//! Execution endpoints: start a command, poll it (cumulative output by
//! default, `offset` cursor and `wait_ms` long-poll optional), cancel it.

use super::json::JsonBody;
use crate::error::ApiResult;
use crate::presentation::ids::IdPath;
use crate::presentation::wire;
use crate::presentation::Caller;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use domain::ids::{ExecutionId, SandboxId};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Debug, Deserialize)]
pub struct ExecRequest {
    command: String,
    working_dir: Option<String>,
    timeout_ms: Option<u64>,
    /// Meant to outlive the request: without `timeout_ms`, it may run for
    /// the longest allowed time. Follow it with the stream, list it, cancel it.
    #[serde(default)]
    background: bool,
    /// Variables for this command (values are never recorded).
    #[serde(default)]
    env: std::collections::BTreeMap<String, String>,
    /// Open its standard input (`POST /v1/executions/{id}/stdin`).
    #[serde(default)]
    stdin: bool,
    /// Wait up to this long (at most 30 s) for the command to end and answer
    /// with its result: a short command costs one round trip.
    wait_ms: Option<u64>,
}

pub async fn start(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath<SandboxId>,
    JsonBody(body): JsonBody<ExecRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let execution = state
        .app
        .executions()
        .exec(
            &caller,
            &id,
            &body.command,
            body.working_dir.as_deref(),
            body.timeout_ms.or(body
                .background
                .then(|| state.app.executions().background_timeout_ms())),
            commands::ExecOptions {
                env: domain::env::EnvVars::new(body.env).map_err(commands::AppError::invalid)?,
                stdin: body.stdin,
            },
        )
        .await?;
    let mut answer = json!({
        "execution_id": execution.execution_id,
        "status": execution.status.as_str(),
        "sandbox_id": execution.sandbox_id,
        "command": execution.command,
        "timeout_ms": execution.timeout_ms,
        "background": body.background,
        "stream_url": format!("{}/v1/executions/{}/stream", state.public_url, execution.execution_id),
    });
    if let Some(wait_ms) = body.wait_ms.filter(|ms| *ms > 0) {
        let poll = state
            .app
            .executions()
            .wait_as_asked(
                &caller,
                &ExecutionId::recorded(execution.execution_id.as_str()),
                Duration::from_millis(wait_ms),
            )
            .await?;
        if let (Value::Object(answer), Value::Object(result)) =
            (&mut answer, wire::execution(&poll))
        {
            answer.extend(result);
        }
    }
    Ok((StatusCode::CREATED, Json(answer)))
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
    IdPath(id): IdPath<ExecutionId>,
    Query(query): Query<PollQuery>,
) -> ApiResult<Json<Value>> {
    let wait = Duration::from_millis(query.wait_ms.unwrap_or(0));
    let poll = state
        .app
        .executions()
        .poll_execution(&caller, &id, query.offset, wait)
        .await?;
    Ok(Json(wire::execution(&poll)))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// `running`, `completed`, `failed` or `cancelled`; all when absent.
    status: Option<String>,
}

/// The sandbox's executions, newest first (running ones are the
/// background commands still going).
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath<SandboxId>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let mut executions = state.app.queries().sandbox_executions(&caller, &id)?;
    executions.retain(|e| {
        query
            .status
            .as_deref()
            .is_none_or(|s| e.status.as_str() == s)
    });
    executions.sort_by_key(|e| std::cmp::Reverse(e.started_at_ms));
    let listed: Vec<Value> = executions
        .iter()
        .map(|e| {
            json!({
                "execution_id": e.execution_id,
                "command": e.command,
                "status": e.status.as_str(),
                "exit_code": e.exit_code,
                "started_at_ms": e.started_at_ms,
                "duration_ms": e.duration_ms,
                "timeout_ms": e.timeout_ms,
            })
        })
        .collect();
    Ok(Json(json!({ "executions": listed })))
}

#[derive(Debug, Deserialize)]
pub struct StdinRequest {
    /// Text (or base64 with `encoding: "base64"`) to write.
    #[serde(default)]
    data: String,
    #[serde(default)]
    encoding: crate::presentation::encoding::Encoding,
    /// Close the input after writing: the command reads end-of-file.
    #[serde(default)]
    close: bool,
}

/// Write to a running command's standard input (and close it).
pub async fn stdin(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath<ExecutionId>,
    JsonBody(body): JsonBody<StdinRequest>,
) -> ApiResult<Json<Value>> {
    let bytes = body.encoding.decode(body.data, "data")?;
    let written = state
        .app
        .executions()
        .write_stdin(&caller, &id, bytes, body.close)
        .await?;
    Ok(Json(json!({ "written": written, "closed": body.close })))
}

pub async fn cancel(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath<ExecutionId>,
) -> ApiResult<Json<Value>> {
    let poll = state
        .app
        .executions()
        .cancel_execution(&caller, &id)
        .await?;
    Ok(Json(wire::execution(&poll)))
}
