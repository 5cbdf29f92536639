//! The dashboard and operability: health, Prometheus metrics, the OpenAPI
//! document, and the JSON answers for unknown routes and methods.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::Json;
use commands::{AppError, ErrorCode};
use serde_json::{json, Value};

const OPENAPI: &str = include_str!("../openapi.json");
const DASHBOARD: &str = include_str!("../dashboard/index.html");

/// The dashboard, health, metrics and the OpenAPI document (no rate limit).
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/dashboard", get(dashboard))
        .route("/metrics", get(metrics))
        .route("/v1/openapi.json", get(openapi))
}

pub async fn healthz(State(state): State<AppState>) -> Json<Value> {
    Json(
        json!({ "status": "ok", "store": state.store_backend, "instance": state.instance_id, "leader": state.leadership.is_leading(), "read_model": { "checkpoint_position": state.read_model_start.0, "replayed_at_start": state.read_model_start.1 }, "live_sandboxes": state.app.queries().read_model().live_sandbox_count(), "warm_pool": state.app.warm_pool(), "removing": state.app.removals_in_flight() }),
    )
}

/// Live: the process answers (a supervisor restarts one that does not).
pub async fn livez() -> Json<Value> {
    Json(json!({ "status": "live" }))
}

/// Ready: the store and the engine answer and the process is not stopping
/// (a load balancer sends requests only to ready replicas); 503 otherwise,
/// naming what does not answer.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let checks = state.readiness.check().await;
    let stopping = state.stopping.is_cancelled();
    let ready = !stopping && checks.iter().all(|(_, answer)| answer.is_ok());
    let checks: serde_json::Map<String, Value> = checks
        .into_iter()
        .map(|(name, answer)| {
            (
                name.to_string(),
                json!(answer.err().unwrap_or_else(|| "ok".into())),
            )
        })
        .collect();
    let status = if ready {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(
            json!({ "status": if ready { "ready" } else { "not_ready" }, "stopping": stopping, "checks": checks }),
        ),
    )
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let read = state.app.queries().read_model();
    let by_state = read
        .count_by_state()
        .into_iter()
        .map(|(s, n)| (format!("state=\"{}\"", s.as_str()), n as f64))
        .collect();
    let running = read.running_executions().len() as f64;
    let (commits, batches) = state.commit_stats.as_ref().map_or((0, 0), |s| {
        use std::sync::atomic::Ordering::Relaxed;
        (s.commits.load(Relaxed), s.batches.load(Relaxed))
    });
    let text = state.metrics.render(&[
        (
            "sockt_store_commits",
            "Aggregate commits written by this process (SQLite; grouped into transactions).",
            vec![(String::new(), commits as f64)],
        ),
        (
            "sockt_store_commit_transactions",
            "Transactions (disk syncs) those commits took: commits arriving together share one.",
            vec![(String::new(), batches as f64)],
        ),
        ("sockt_sandboxes", "Sandboxes by state.", by_state),
        (
            "sockt_running_executions",
            "Commands running now.",
            vec![(String::new(), running)],
        ),
        (
            "sockt_leader",
            "1 while this process holds the leader lease and runs the background duties.",
            vec![(
                String::new(),
                f64::from(u8::from(state.leadership.is_leading())),
            )],
        ),
    ]);
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

pub async fn openapi() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], OPENAPI)
}

pub async fn not_found() -> ApiError {
    AppError::NotFound {
        code: ErrorCode::NotFound,
        message: "no such endpoint; see /v1/openapi.json".into(),
    }
    .into()
}

pub async fn method_not_allowed() -> impl IntoResponse {
    (
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        Json(
            json!({ "code": "method_not_allowed", "message": "this endpoint does not accept that method; see /v1/openapi.json" }),
        ),
    )
}

/// The web dashboard: one self-contained page (no CDN, no build step).
pub async fn dashboard() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (axum::http::header::CONTENT_SECURITY_POLICY, "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self' ws: wss:"),
        ],
        DASHBOARD,
    )
}
