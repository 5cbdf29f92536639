//! The one mapping from application errors to HTTP: a status and a body
//! `{"code","message"}`. Internal errors are logged with their cause and
//! answered opaquely.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use commands::AppError;
use serde_json::json;

/// The HTTP status for an application error.
pub fn status_of(error: &AppError) -> StatusCode {
    match error {
        AppError::Invalid { .. } => StatusCode::BAD_REQUEST,
        AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::NotFound { .. } => StatusCode::NOT_FOUND,
        AppError::Gone(_) => StatusCode::GONE,
        AppError::Conflict { .. } => StatusCode::CONFLICT,
        AppError::PaymentRequired { .. } => StatusCode::PAYMENT_REQUIRED,
        AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        AppError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        AppError::NoCapacity(_) => StatusCode::SERVICE_UNAVAILABLE,
        AppError::Unavailable { code, .. } if *code == "runtime_unavailable" => {
            StatusCode::BAD_GATEWAY
        }
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
        let message = match &self.error {
            AppError::Internal(cause) => {
                tracing::error!(cause = %cause, "internal error");
                "an internal error occurred; it has been logged".to_string()
            }
            other => other.to_string(),
        };
        let mut response = (
            status,
            Json(json!({ "code": self.error.code(), "message": message })),
        )
            .into_response();
        let retry = self.retry_after_secs.or(match self.error {
            AppError::Unavailable {
                code: "pod_starting",
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
