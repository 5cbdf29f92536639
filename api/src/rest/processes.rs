//! Stopping every process of a sandbox but its agent, over REST: the
//! running commands end `cancelled`, the rest (background servers, a fork
//! bomb) is killed, and the sandbox keeps running.

use crate::error::ApiResult;
use crate::presentation::ids::IdPath;
use crate::presentation::wire;
use crate::presentation::Caller;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use domain::ids::SandboxId;
use serde_json::Value;

pub async fn kill(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath<SandboxId>,
) -> ApiResult<Json<Value>> {
    let stopped = state.app.executions().kill_processes(&caller, &id).await?;
    Ok(Json(wire::processes_killed(&id, &stopped)))
}
