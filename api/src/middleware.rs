//! Cross-cutting HTTP behaviour: per-caller rate limiting, and request
//! metrics with structured access logs.

use crate::error::ApiError;
use crate::presentation::caller::{is_admin_token, presented_secret, KnownCaller};
use crate::rate_limit::{bucket_of, retry_after_secs};
use crate::state::AppState;
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
    let (mut parts, body) = request.into_parts();
    let secret = presented_secret(&parts).ok().flatten();
    let known = secret.as_deref().and_then(|s| known_caller(&state, s));
    let client = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let key = bucket_of(known.as_ref(), client);
    if let Err(wait) = state.limiter.check(&key) {
        let error = ApiError {
            error: AppError::RateLimited(
                "rate limit exceeded; retry after the time in Retry-After".into(),
            ),
            retry_after_secs: Some(retry_after_secs(wait)),
        };
        return error.into_response();
    }
    // The extractor of the caller need not look the credential up again.
    if let Some(principal) = known {
        parts.extensions.insert(KnownCaller(principal));
    }
    next.run(Request::from_parts(parts, body)).await
}

/// The caller a credential stands for if this process knows it, from
/// memory alone.
fn known_caller(state: &AppState, secret: &str) -> Option<Principal> {
    if is_admin_token(state, secret) {
        return Some(Principal::Admin);
    }
    state.app.queries().known_principal(secret)
}

/// Requests slower than this are logged at info (the rest at debug: one
/// line per request would cost the busiest path its stderr lock).
const SLOW_REQUEST_MS: f64 = 1000.0;

/// Count and time every request by its route template, and log it: server
/// errors as warnings, slow requests at info, the rest at debug.
pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    // Cheap clones: a method's name and the route template are shared.
    let method = request.method().clone();
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let response = next.run(request).await;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
    state
        .metrics
        .record(method.as_str(), route, status, elapsed_ms);
    if status >= 500 {
        tracing::warn!(target: "sockt::http", %method, %route, status, elapsed_ms, "request");
    } else if elapsed_ms >= SLOW_REQUEST_MS {
        tracing::info!(target: "sockt::http", %method, %route, status, elapsed_ms, "request");
    } else {
        tracing::debug!(target: "sockt::http", %method, %route, status, elapsed_ms, "request");
    }
    response
}
