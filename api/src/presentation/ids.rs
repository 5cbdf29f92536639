//! Ids in request paths and tool arguments, parsed once at the edge: a
//! malformed one is answered as an unknown one would be (404 with the
//! usual code), before any use case runs, in every transport.

use crate::error::ApiError;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use commands::AppError;
use domain::ids::{AccountId, ExecutionId, SandboxId};

/// An id a caller names, with what to answer when it names none.
pub trait CallerId: Sized {
    fn parse_id(text: &str) -> Option<Self>;
    /// The error of an unknown (or malformed) id.
    fn unknown() -> AppError;
}

impl CallerId for SandboxId {
    fn parse_id(text: &str) -> Option<Self> {
        SandboxId::parse(text).ok()
    }
    fn unknown() -> AppError {
        AppError::sandbox_not_found()
    }
}

impl CallerId for ExecutionId {
    fn parse_id(text: &str) -> Option<Self> {
        ExecutionId::parse(text).ok()
    }
    fn unknown() -> AppError {
        AppError::execution_not_found()
    }
}

impl CallerId for AccountId {
    fn parse_id(text: &str) -> Option<Self> {
        AccountId::parse(text).ok()
    }
    fn unknown() -> AppError {
        AppError::account_not_found()
    }
}

/// `text` as the id it names, or the error of an unknown one.
pub fn parse<T: CallerId>(text: &str) -> Result<T, AppError> {
    T::parse_id(text).ok_or_else(T::unknown)
}

/// The one id of a route's path (`{id}`), parsed.
pub struct IdPath<T>(pub T);

impl<S: Send + Sync, T: CallerId + Send> FromRequestParts<S> for IdPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::from(T::unknown()))?;
        Ok(IdPath(parse(&text)?))
    }
}
