//! The body of a GraphQL request over HTTP, read to at most
//! `MAX_BODY_BYTES` whoever sends it: a longer announced body is refused
//! before any of it is read, a streamed one as soon as it passes the limit
//! (413 `payload_too_large`), so no request makes the server hold more.
//! The same limit bounds one WebSocket message (`graphql::websocket`).

use crate::error::ApiError;
use async_graphql::http::MultipartOptions;
use async_graphql_axum::rejection::GraphQLRejection;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use commands::AppError;
use futures::StreamExt;

/// The largest GraphQL request: a query, its variables and any upload.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The GraphQL request in an HTTP request's body, or the answer refusing it.
pub async fn graphql_request(request: Request) -> Result<async_graphql::Request, Response> {
    let (parts, body) = request.into_parts();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if announced_length(&parts.headers).is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(too_large().into_response());
    }
    let bytes = read_at_most(body, MAX_BODY_BYTES)
        .await
        .map_err(IntoResponse::into_response)?;
    async_graphql::http::receive_body(content_type, &bytes[..], MultipartOptions::default())
        .await
        .map_err(|e| GraphQLRejection(e).into_response())
}

/// The Content-Length a request announces, if it announces one.
fn announced_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The whole body, or 413 once it passes `limit`: it is read chunk by
/// chunk, and nothing past the chunk crossing the limit is ever read.
async fn read_at_most(body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut chunks = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::from(AppError::invalid(format!(
                "reading the request body failed: {e}"
            )))
        })?;
        if bytes.len() + chunk.len() > limit {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn too_large() -> ApiError {
    AppError::TooLarge(format!(
        "a GraphQL request body may be at most {} KiB",
        MAX_BODY_BYTES >> 10
    ))
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A body of `chunks` chunks of 64 KiB that counts the bytes pulled from it.
    fn counted_body(chunks: usize, pulled: Arc<AtomicUsize>) -> Body {
        let stream = futures::stream::iter(0..chunks).map(move |_| {
            pulled.fetch_add(64 << 10, Ordering::SeqCst);
            Ok::<_, std::io::Error>(bytes::Bytes::from_static(&[b' '; 64 << 10]))
        });
        Body::from_stream(stream)
    }

    #[tokio::test]
    async fn a_streamed_body_is_refused_as_soon_as_it_passes_the_limit() {
        let pulled = Arc::new(AtomicUsize::new(0));
        let refused = read_at_most(counted_body(4_800, pulled.clone()), MAX_BODY_BYTES)
            .await
            .unwrap_err();
        assert!(matches!(refused.error, AppError::TooLarge(_)));
        assert!(
            pulled.load(Ordering::SeqCst) <= MAX_BODY_BYTES + (64 << 10),
            "read {} bytes of a 300 MiB body",
            pulled.load(Ordering::SeqCst)
        );
        let pulled = Arc::new(AtomicUsize::new(0));
        let whole = read_at_most(counted_body(16, pulled), MAX_BODY_BYTES)
            .await
            .unwrap();
        assert_eq!(whole.len(), MAX_BODY_BYTES, "exactly the limit passes");
    }

    #[tokio::test]
    async fn an_announced_long_body_is_refused_before_it_is_read() {
        let request = Request::builder()
            .method("POST")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, (300u64 << 20).to_string())
            .body(Body::from_stream(futures::stream::pending::<
                Result<bytes::Bytes, std::io::Error>,
            >()))
            .unwrap();
        let refused =
            tokio::time::timeout(std::time::Duration::from_secs(5), graphql_request(request))
                .await
                .expect("refused without waiting for the body")
                .unwrap_err();
        assert_eq!(refused.status(), 413);
    }

    #[tokio::test]
    async fn a_query_within_the_limit_is_parsed() {
        let request = Request::builder()
            .method("POST")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"query": "{ tiers { tier } }"}"#))
            .unwrap();
        let parsed = graphql_request(request).await.unwrap();
        assert_eq!(parsed.query, "{ tiers { tier } }");
    }
}
