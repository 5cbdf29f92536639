//! Who is calling: `Authorization: Bearer <key|token>`, or `?sandbox_token=`
//! for clients that cannot set headers — sandbox tokens only: an API key or
//! admin token in a URL (where logs and browser histories keep it) is
//! refused, never used.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use commands::{same_secret, AppError, Principal};
use secrecy::ExposeSecret;

/// The authenticated caller of a request (possibly anonymous).
pub struct Caller(pub Principal);

/// The principal of a request's credential, found while rate limiting.
#[derive(Clone)]
pub(crate) struct KnownCaller(pub Principal);

/// The secret a request carries, if any.
pub(crate) fn presented_secret(parts: &Parts) -> Result<Option<String>, AppError> {
    if let Some(value) = parts.headers.get(AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| AppError::Unauthorized("malformed Authorization header".into()))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| {
                AppError::Unauthorized(
                    "use Authorization: Bearer <api key or sandbox token>".into(),
                )
            })?;
        let token = token.trim();
        if !token.is_empty() {
            return Ok(Some(token.to_string()));
        }
    }
    let query = parts.uri.query().unwrap_or("");
    match url_param(query, "sandbox_token") {
        Some(token) if !token.starts_with(commands::SANDBOX_TOKEN_PREFIX) => {
            Err(AppError::Unauthorized(
                "only a sandbox token may travel in the URL; send API keys as Authorization: Bearer".into(),
            ))
        }
        token => Ok(token),
    }
}

fn url_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name && !value.is_empty()).then(|| value.to_string())
    })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(known) = parts.extensions.get::<KnownCaller>() {
            return Ok(Caller(known.0.clone()));
        }
        let secret = presented_secret(parts)?;
        Ok(Caller(principal_for(state, secret.as_deref()).await?))
    }
}

/// The principal a presented secret (or none) stands for, whatever the
/// transport: the admin token, an API key, a sandbox token, or nobody.
pub async fn principal_for(state: &AppState, secret: Option<&str>) -> Result<Principal, AppError> {
    let Some(secret) = secret.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(Principal::Anonymous);
    };
    let secret = secret.strip_prefix("Bearer ").unwrap_or(secret).trim();
    if is_admin_token(state, secret) {
        return Ok(Principal::Admin);
    }
    state.app.queries().principal_for_secret(secret).await
}

/// Whether `secret` is the configured admin token.
pub(crate) fn is_admin_token(state: &AppState, secret: &str) -> bool {
    state
        .admin_token
        .as_ref()
        .is_some_and(|admin| same_secret(admin.expose_secret(), secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_tokens_are_found() {
        assert_eq!(
            url_param("a=1&sandbox_token=sbx_x", "sandbox_token").as_deref(),
            Some("sbx_x")
        );
        assert_eq!(url_param("sandbox_token=", "sandbox_token"), None);
        assert!(
            same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("abc", "ab")
        );
    }
}
