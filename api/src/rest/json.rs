//! A JSON body extractor whose rejections speak `{"code","message"}`.

use crate::error::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::Json;
use commands::{AppError, ErrorCode};
use serde::de::DeserializeOwned;

pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(rejection_error(rejection).into()),
        }
    }
}

fn rejection_error(rejection: JsonRejection) -> AppError {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => AppError::TooLarge("the request body is too large".into()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError::Invalid {
            code: ErrorCode::InvalidContentType,
            message: "send the body as JSON with Content-Type: application/json".into(),
        },
        _ => AppError::Invalid {
            code: ErrorCode::InvalidJson,
            message: rejection.body_text(),
        },
    }
}

/// Parse an optional JSON body: empty means the default.
pub fn optional_json<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| {
        AppError::Invalid {
            code: ErrorCode::InvalidJson,
            message: format!("invalid JSON body: {e}"),
        }
        .into()
    })
}
