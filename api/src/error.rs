//! The one mapping of application errors to what clients see: an HTTP status
//! and a body `{"code","message"}`, a GraphQL error with the same `code`, and
//! (in `mcp::render`) a tool error naming it. Internal errors are logged with
//! their cause and answered opaquely.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use commands::{AppError, ErrorCode};
use serde_json::json;

/// The HTTP status for an application error.
pub fn status_of(error: &AppError) -> StatusCode {
    match error {
        AppError::Invalid { .. } => StatusCode::BAD_REQUEST,
        AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        AppError::Forbidden(_) | AppError::Denied { .. } => StatusCode::FORBIDDEN,
        AppError::NoSpace(_) => StatusCode::INSUFFICIENT_STORAGE,
        AppError::NotFound { .. } => StatusCode::NOT_FOUND,
        AppError::Gone(_) => StatusCode::GONE,
        AppError::Conflict { .. } => StatusCode::CONFLICT,
        AppError::PaymentRequired { .. } => StatusCode::PAYMENT_REQUIRED,
        AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        AppError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        AppError::NoCapacity(_) => StatusCode::SERVICE_UNAVAILABLE,
        AppError::Unavailable {
            code: ErrorCode::RuntimeUnavailable,
            ..
        } => StatusCode::BAD_GATEWAY,
        AppError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An application error on its way out as an HTTP response.
#[derive(Debug)]
pub struct ApiError {
    pub error: AppError,
    pub retry_after_secs: Option<u64>,
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        ApiError {
            error,
            retry_after_secs: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(&self.error);
        let message = public_message(&self.error);
        let mut response = (
            status,
            Json(json!({ "code": self.error.code().as_str(), "message": message })),
        )
            .into_response();
        let retry = self.retry_after_secs.or(match self.error {
            AppError::Unavailable {
                code: ErrorCode::PodStarting,
                ..
            } => Some(1),
            _ => None,
        });
        if let Some(secs) = retry {
            if let Ok(value) = HeaderValue::from_str(&secs.max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The message a client sees: internal errors are logged and answered opaquely.
pub fn public_message(error: &AppError) -> String {
    match error {
        AppError::Internal(cause) => {
            tracing::error!(cause = %cause, "internal error");
            "an internal error occurred; it has been logged".to_string()
        }
        other => other.to_string(),
    }
}

/// An application error as a GraphQL error, carrying the same `code` as REST
/// (in `extensions.code`).
pub fn graphql_error(error: AppError) -> async_graphql::Error {
    let code = error.code().as_str();
    use async_graphql::ErrorExtensions;
    async_graphql::Error::new(public_message(&error))
        .extend_with(|_, extensions| extensions.set("code", code))
}
