//! The sandbox HTTP proxy: `/v1/sandboxes/{id}/proxy/{port}/{path}` forwards
//! to that port inside the caller's running sandbox (the `proxy_url` of the
//! status object). Only sandbox addresses Docker reports are ever dialled.

use super::caller::Caller;
use crate::error::ApiResult;
use crate::server::AppState;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderName};
use axum::response::Response;
use commands::{AppError, ErrorCode};
use std::time::Duration;

/// Headers that belong to one hop, or to Sockt (credentials), and are never forwarded.
const DROPPED: [HeaderName; 8] = [
    header::HOST,
    header::AUTHORIZATION,
    header::CONNECTION,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

fn forwardable(headers: &HeaderMap) -> HeaderMap {
    let mut kept = headers.clone();
    for name in DROPPED {
        kept.remove(name);
    }
    kept.remove("keep-alive");
    kept
}

/// The query string without Sockt's own `sandbox_token`.
fn upstream_query(query: Option<&str>) -> String {
    let kept: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("sandbox_token="))
        .collect();
    if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    }
}

pub async fn root(
    state: State<AppState>,
    caller: Caller,
    Path((id, port)): Path<(String, u16)>,
    request: Request,
) -> ApiResult<Response> {
    forward(state, caller, id, port, String::new(), request).await
}

pub async fn path(
    state: State<AppState>,
    caller: Caller,
    Path((id, port, rest)): Path<(String, u16, String)>,
    request: Request,
) -> ApiResult<Response> {
    forward(state, caller, id, port, rest, request).await
}

async fn forward(
    State(state): State<AppState>,
    Caller(caller): Caller,
    id: String,
    port: u16,
    rest: String,
    request: Request,
) -> ApiResult<Response> {
    let target = state.app.sandbox_endpoint(&caller, &id, port).await?;
    let url = format!(
        "http://{target}/{rest}{}",
        upstream_query(request.uri().query())
    );
    let (parts, body) = request.into_parts();
    let upstream = state
        .proxy
        .request(parts.method, url)
        .headers(forwardable(&parts.headers))
        .body(reqwest::Body::wrap_stream(body.into_data_stream()))
        .timeout(Duration::from_secs(300))
        .send()
        .await
        .map_err(|e| AppError::Unavailable {
            code: ErrorCode::SandboxPortUnreachable,
            message: format!(
                "nothing answered on port {port} in the sandbox: {}",
                if e.is_timeout() {
                    "timed out"
                } else {
                    "connection failed"
                }
            ),
        })?;
    let mut response = Response::builder().status(upstream.status());
    if let Some(headers) = response.headers_mut() {
        *headers = forwardable(upstream.headers());
    }
    response
        .body(Body::from_stream(upstream.bytes_stream()))
        .map_err(|e| AppError::Internal(format!("building the proxied response: {e}")).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_token_is_not_forwarded() {
        assert_eq!(
            upstream_query(Some("a=1&sandbox_token=sbx_x&b=2")),
            "?a=1&b=2"
        );
        assert_eq!(upstream_query(Some("sandbox_token=sbx_x")), "");
        assert_eq!(upstream_query(None), "");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            "Bearer sockt_live_x".parse().unwrap(),
        );
        headers.insert(header::ACCEPT, "text/html".parse().unwrap());
        let kept = forwardable(&headers);
        assert!(kept.get(header::AUTHORIZATION).is_none() && kept.get(header::ACCEPT).is_some());
    }
}
