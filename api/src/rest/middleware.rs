//! Cross-cutting HTTP behaviour: per-caller rate limiting, and request
//! metrics with structured access logs.

use super::caller::presented_secret;
use crate::error::ApiError;
use crate::server::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use commands::{hash_secret, AppError};
use std::net::SocketAddr;
use std::time::Instant;

/// 429 with Retry-After once a caller exceeds its requests per minute.
pub async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let key = match presented_secret(&parts) {
        Ok(Some(secret)) => format!("secret:{}", hash_secret(&secret)),
        _ => match parts.extensions.get::<ConnectInfo<SocketAddr>>() {
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

/// Count and time every request by its route template, and log it.
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
    tracing::info!(target: "sockt::http", %method, %route, status, elapsed_ms, "request");
    response
}
