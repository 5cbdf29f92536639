//! Preview tokens over REST: the owner issues one (shown once, with the
//! address that opens a port in a browser) or revokes it.

use crate::error::ApiResult;
use crate::presentation::ids::IdPath;
use crate::presentation::Caller;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::ids::SandboxId;
use serde_json::{json, Value};

pub async fn issue(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath<SandboxId>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let token = state
        .app
        .sandboxes()
        .issue_preview_token(&caller, &id)
        .await?;
    let origin = state.proxy_origins.origin(&id, "{port}");
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "preview_token": token,
            "header": "X-Sockt-Preview-Token",
            // The token rides in the fragment, which no request carries.
            "url_template": format!("{origin}/.sockt/preview#{token}"),
        })),
    ))
}

pub async fn revoke(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath<SandboxId>,
) -> ApiResult<Json<Value>> {
    state
        .app
        .sandboxes()
        .revoke_preview_token(&caller, &id)
        .await?;
    Ok(Json(json!({ "revoked": true })))
}
