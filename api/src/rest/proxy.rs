//! The sandbox HTTP proxy. Every request whose `Host` is a proxy origin
//! (`proxy_origin`) is forwarded to that port inside the running sandbox —
//! and nothing else is ever served on those origins. Access: the owner's
//! API key or the sandbox token in `Authorization`, or the sandbox's
//! preview token (revocable) in `X-Sockt-Preview-Token`, in a cookie of that
//! origin. A browser gets the cookie from `/.sockt/preview#<token>`: the
//! token rides in the fragment, which no request carries, and a script of
//! Sockt's posts it back in the header (`preview_login`). Sockt's
//! credentials are never forwarded, and `/.sockt/` is Sockt's on every
//! proxy origin. The app's cookies stay host-only (`proxy_cookie`).
//! The old path form on the API origin (`/v1/sandboxes/{id}/proxy/{port}/…`)
//! only redirects to the proxy origin. Only sandbox addresses Docker reports
//! are ever dialled.

use crate::error::{ApiError, ApiResult};
use crate::presentation::principal_for;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use commands::{AppError, ErrorCode, ProxyAccess};
use domain::ids::SandboxId;
use std::time::Duration;

/// Header carrying a preview token.
const PREVIEW_HEADER: &str = "x-sockt-preview-token";
/// Cookie carrying a preview token on a proxy origin.
const PREVIEW_COOKIE: &str = "sockt_preview";

/// Headers that belong to one hop and are never forwarded (Sockt's own
/// credentials are removed too: `forwardable`).
const DROPPED: [HeaderName; 7] = [
    header::HOST,
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
    kept.remove(PREVIEW_HEADER);
    if sockt_bearer(headers).is_some() {
        kept.remove(header::AUTHORIZATION);
    }
    if let Some(cookies) = without_preview_cookie(headers) {
        kept.insert(header::COOKIE, cookies);
    } else {
        kept.remove(header::COOKIE);
    }
    kept
}

/// The API key or sandbox token in `Authorization`, if it holds one of
/// Sockt's (any other scheme or token is the app's own, and passes).
fn sockt_bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?
        .trim();
    (token.starts_with(commands::API_KEY_PREFIX)
        || token.starts_with(commands::SANDBOX_TOKEN_PREFIX))
    .then(|| token.to_string())
}

/// The request's cookies minus Sockt's preview cookie (None: none left).
fn without_preview_cookie(headers: &HeaderMap) -> Option<HeaderValue> {
    let kept: Vec<&str> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.starts_with(&format!("{PREVIEW_COOKIE}=")))
        .collect();
    (!kept.is_empty())
        .then(|| HeaderValue::from_str(&kept.join("; ")).ok())
        .flatten()
}

/// The preview token in the request's cookies.
fn preview_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(&format!("{PREVIEW_COOKIE}=")))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// The query string without Sockt's own parameters.
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

/// Serve requests for proxy origins; pass every other request on.
pub async fn by_host(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().host())
        .map(str::to_string);
    match host.and_then(|h| state.proxy_origins.target(&h)) {
        Some((sandbox_id, port)) => match proxied(&state, sandbox_id, port, request).await {
            Ok(response) => response,
            Err(error) => error.into_response(),
        },
        None => next.run(request).await,
    }
}

/// Who the request says it is, on a proxy origin.
async fn access_of(state: &AppState, headers: &HeaderMap) -> Result<ProxyAccess, AppError> {
    if let Some(secret) = sockt_bearer(headers) {
        return Ok(ProxyAccess::Principal(
            principal_for(state, Some(&secret)).await?,
        ));
    }
    let token = headers
        .get(PREVIEW_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| preview_cookie(headers));
    match token {
        Some(token) => Ok(ProxyAccess::Preview(token)),
        None => Err(AppError::Unauthorized(
            "send the owner's API key or the sandbox token as Authorization: Bearer, or a preview token (POST /v1/sandboxes/{id}/preview)".into(),
        )),
    }
}

async fn proxied(
    state: &AppState,
    sandbox_id: SandboxId,
    port: u16,
    request: Request,
) -> ApiResult<Response> {
    if let Some(page) = request.uri().path().strip_prefix(LOGIN_PREFIX) {
        let page = page.to_string();
        return preview_login(state, &sandbox_id, port, &page, request).await;
    }
    let access = access_of(state, request.headers()).await?;
    let target = state
        .app
        .sandboxes()
        .proxy_target(&access, &sandbox_id, port)
        .await?;
    let url = format!(
        "http://{target}{}{}",
        request.uri().path(),
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
        let mut kept = upstream.headers().clone();
        for name in DROPPED {
            kept.remove(name);
        }
        kept.remove("keep-alive");
        super::proxy_cookie::host_only(&mut kept);
        *headers = kept;
    }
    response
        .body(Body::from_stream(upstream.bytes_stream()))
        .map_err(|e| AppError::Internal(format!("building the proxied response: {e}")).into())
}

/// Sockt's own pages on every proxy origin.
const LOGIN_PREFIX: &str = "/.sockt/";

/// The page a preview link opens: it reads the token from the fragment and
/// posts it back (below) — no request ever carries it in its address.
const LOGIN_PAGE: &str = "<!doctype html><meta charset=utf-8><title>Sockt preview</title><p>Opening the preview…</p><script src=\"/.sockt/preview.js\"></script>";
const LOGIN_SCRIPT: &str = "const t=decodeURIComponent(location.hash.slice(1));history.replaceState(null,'',location.pathname);fetch('/.sockt/preview',{method:'POST',headers:{'X-Sockt-Preview-Token':t}}).then(r=>{if(r.ok){location.replace('/')}else{document.body.textContent='This preview link is not valid (revoked, or the sandbox is not running).'}});";

/// `/.sockt/preview` (the page), `/.sockt/preview.js` (its script), and a
/// POST of the token in the header, answered with the origin's cookie.
async fn preview_login(
    state: &AppState,
    sandbox_id: &SandboxId,
    port: u16,
    page: &str,
    request: Request,
) -> ApiResult<Response> {
    let static_page = |content_type: &'static str, body: &'static str| {
        (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-store"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; script-src 'self'; connect-src 'self'",
                ),
                (header::REFERRER_POLICY, "no-referrer"),
            ],
            body,
        )
            .into_response()
    };
    match (request.method().as_str(), page) {
        ("GET", "preview") => Ok(static_page("text/html; charset=utf-8", LOGIN_PAGE)),
        ("GET", "preview.js") => Ok(static_page("text/javascript", LOGIN_SCRIPT)),
        ("POST", "preview") => {
            let token = request
                .headers()
                .get(PREVIEW_HEADER)
                .and_then(|v| v.to_str().ok())
                .filter(|t| t.starts_with(commands::PREVIEW_TOKEN_PREFIX))
                .ok_or_else(|| {
                    AppError::Unauthorized("send the preview token in X-Sockt-Preview-Token".into())
                })?
                .to_string();
            state
                .app
                .sandboxes()
                .proxy_target(&ProxyAccess::Preview(token.clone()), sandbox_id, port)
                .await?;
            let secure = if state.proxy_origins.secure() {
                "; Secure"
            } else {
                ""
            };
            let cookie =
                format!("{PREVIEW_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax{secure}");
            Ok((
                StatusCode::NO_CONTENT,
                [
                    (header::SET_COOKIE, cookie),
                    (header::CACHE_CONTROL, "no-store".to_string()),
                ],
            )
                .into_response())
        }
        _ => Err(AppError::NotFound {
            code: ErrorCode::NotFound,
            message: "no such page: /.sockt/ is reserved for Sockt on proxy origins".into(),
        }
        .into()),
    }
}

/// The old path form on the API origin: a redirect to the proxy origin,
/// never the app itself.
pub async fn redirect(
    State(state): State<AppState>,
    Path(params): Path<Vec<(String, String)>>,
    request: Request,
) -> Result<Response, ApiError> {
    let param = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let (Some(id), Some(port)) = (param("id"), param("port")) else {
        return Err(
            AppError::invalid("the proxy path is /v1/sandboxes/{id}/proxy/{port}/{path}").into(),
        );
    };
    // The id becomes a host name in the redirect: only a well-formed one
    // (anything else could point the client at another site).
    let id = crate::presentation::ids::parse::<SandboxId>(&id)?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| AppError::invalid("port must be between 1 and 65535"))?;
    let path = param("path").unwrap_or_default();
    let location = format!(
        "{}/{path}{}",
        state.proxy_origins.origin(&id, &port.to_string()),
        upstream_query(request.uri().query())
    );
    Ok((
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, location.clone())],
        axum::Json(serde_json::json!({
            "code": "moved",
            "message": "proxied apps are served on their own origin, never the API's",
            "location": location,
        })),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockt_credentials_are_not_forwarded() {
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
        headers.insert(PREVIEW_HEADER, "spv_x".parse().unwrap());
        headers.insert(
            header::COOKIE,
            "app=1; sockt_preview=spv_x; theme=dark".parse().unwrap(),
        );
        let kept = forwardable(&headers);
        assert!(kept.get(header::AUTHORIZATION).is_none() && kept.get(header::ACCEPT).is_some());
        let mut app_auth = HeaderMap::new();
        app_auth.insert(header::AUTHORIZATION, "Basic dXNlcjpwdw==".parse().unwrap());
        assert!(sockt_bearer(&app_auth).is_none());
        assert!(
            forwardable(&app_auth).get(header::AUTHORIZATION).is_some(),
            "the app's own credentials pass"
        );
        assert!(kept.get(PREVIEW_HEADER).is_none());
        assert_eq!(kept[header::COOKIE], "app=1; theme=dark");
        assert_eq!(preview_cookie(&headers).as_deref(), Some("spv_x"));
        let mut only_ours = HeaderMap::new();
        only_ours.insert(header::COOKIE, "sockt_preview=spv_x".parse().unwrap());
        assert!(forwardable(&only_ours).get(header::COOKIE).is_none());
    }
}
