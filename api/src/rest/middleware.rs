//! Cross-cutting HTTP behaviour: per-caller rate limiting, and request
//! metrics with structured access logs.

use super::caller::{is_admin_token, presented_secret};
use crate::error::ApiError;
use crate::server::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use commands::{AppError, Principal};
use std::net::SocketAddr;
use std::time::Instant;

/// 429 with Retry-After once a caller exceeds its requests per minute. The
/// caller is the validated principal; an invalid or invented credential (or
/// none) counts against the client's address, so minting fake tokens buys
/// no extra requests.
pub async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let secret = presented_secret(&parts).ok().flatten();
    let key = match secret.as_deref().and_then(|s| known_caller(&state, s)) {
        Some(caller) => caller,
        None => match parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(addr)) => format!("addr:{}", addr.ip()),
            None => "addr:unknown".to_string(),
        },
    };
    if let Err(wait) = state.limiter.check(&key) {
        let error = ApiError {
            error: AppError::RateLimited(
                "rate limit exceeded; retry after the time in Retry-After".into(),
            ),
            retry_after_secs: Some(wait.as_secs_f64().ceil() as u64),
        };
        return error.into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

/// The rate-limit key of a caller this process knows, from memory alone.
fn known_caller(state: &AppState, secret: &str) -> Option<String> {
    if is_admin_token(state, secret) {
        return Some("admin".to_string());
    }
    match state.app.known_principal(secret)? {
        Principal::Account(id) => Some(format!("account:{id}")),
        Principal::SandboxToken(hash) => Some(format!("sandbox:{hash}")),
        Principal::Admin | Principal::Anonymous => None,
    }
}

/// Requests slower than this are logged at info (the rest at debug: one
/// line per request would cost the busiest path its stderr lock).
const SLOW_REQUEST_MS: f64 = 1000.0;

/// Count and time every request by its route template, and log it: server
/// errors as warnings, slow requests at info, the rest at debug.
pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let response = next.run(request).await;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
    state.metrics.record(&method, &route, status, elapsed_ms);
    if status >= 500 {
        tracing::warn!(target: "sockt::http", %method, %route, status, elapsed_ms, "request");
    } else if elapsed_ms >= SLOW_REQUEST_MS {
        tracing::info!(target: "sockt::http", %method, %route, status, elapsed_ms, "request");
    } else {
        tracing::debug!(target: "sockt::http", %method, %route, status, elapsed_ms, "request");
    }
    response
}
