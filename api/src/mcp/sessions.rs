//! MCP sessions belong to the credential that opened them: a request naming
//! a session (`Mcp-Session-Id`) with another credential — another tenant's
//! key, a key on an anonymous session, or none on a keyed one — is answered
//! as if the session did not exist, so a leaked session id is not a key.

use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

const SESSION_HEADER: &str = "mcp-session-id";

/// A hash of the request's Authorization header (empty without one).
fn credential(headers: &HeaderMap) -> String {
    headers
        .get(header::AUTHORIZATION)
        .map(|value| commands::hash_secret(&String::from_utf8_lossy(value.as_bytes())))
        .unwrap_or_default()
}

/// Refuse a session to anyone but its opener, and note who opens new ones.
pub async fn bind_sessions(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let caller = credential(request.headers());
    let named = request
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(session) = &named {
        if !state.mcp.owners.allows(session, &caller) {
            return (
                StatusCode::NOT_FOUND,
                axum::Json(serde_json::json!({
                    "code": "session_not_found",
                    "message": "no such MCP session for these credentials; start a new one with initialize"
                })),
            )
                .into_response();
        }
    }
    let response = next.run(request).await;
    if named.is_none() {
        if let Some(opened) = response
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
        {
            let idle = Duration::from_secs(state.mcp.session_idle_secs);
            state.mcp.owners.record(opened, &caller, idle);
        }
    }
    response
}
