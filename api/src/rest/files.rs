//! File endpoints: write (utf8 or base64), read (utf8 or base64, max_bytes)
//! and list (recursive, max_depth).

use super::json::JsonBody;
use crate::error::ApiResult;
use crate::presentation::encoding::{utf8_text, Encoding};
use crate::presentation::ids::IdPath;
use crate::presentation::Caller;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use commands::AppError;
use domain::ids::SandboxId;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize)]
pub struct WriteRequest {
    path: String,
    content: String,
    #[serde(default)]
    encoding: Encoding,
    #[serde(default = "yes")]
    create_dirs: bool,
}

fn yes() -> bool {
    true
}

pub async fn write(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath<SandboxId>,
    JsonBody(body): JsonBody<WriteRequest>,
) -> ApiResult<Json<Value>> {
    let bytes = body.encoding.decode(body.content, "content")?;
    let (path, size) = state
        .app
        .files()
        .write_file(&caller, &id, &body.path, bytes, body.create_dirs)
        .await?;
    Ok(Json(json!({ "path": path, "size": size, "written": true })))
}

#[derive(Debug, Deserialize)]
pub struct ReadRequest {
    path: String,
    #[serde(default)]
    encoding: Encoding,
    max_bytes: Option<u64>,
}

pub async fn read(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath<SandboxId>,
    JsonBody(body): JsonBody<ReadRequest>,
) -> ApiResult<Response> {
    let file = state
        .app
        .files()
        .read_file(&caller, &id, &body.path, body.max_bytes)
        .await?;
    let mut answer = json!({ "path": file.path, "size": file.size, "truncated": file.truncated });
    match body.encoding {
        Encoding::Utf8 => {
            let text = utf8_text(file.bytes, file.truncated)?;
            answer["content"] = json!(text);
            answer["encoding"] = json!("utf8");
            Ok(Json(answer).into_response())
        }
        Encoding::Base64 => {
            answer["encoding"] = json!("base64");
            Ok(with_base64(answer, &file.bytes))
        }
    }
}

/// The JSON object `head` with `content_b64` added: `bytes` as base64,
/// encoded straight into the answer's body. Base64 needs no escaping, so a
/// file's megabyte is neither copied into a JSON value nor scanned again to
/// serialise it.
fn with_base64(head: Value, bytes: &[u8]) -> Response {
    let mut body = Vec::with_capacity(256 + bytes.len().div_ceil(3) * 4);
    body.extend_from_slice(b"{\"content_b64\":\"");
    base64_simd::STANDARD.encode_append(bytes, &mut body);
    body.push(b'"');
    if let Value::Object(fields) = head {
        for (key, value) in fields {
            body.push(b',');
            // Writing JSON into memory cannot fail.
            let _ = serde_json::to_writer(&mut body, &key);
            body.push(b':');
            let _ = serde_json::to_writer(&mut body, &value);
        }
    }
    body.push(b'}');
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    path: Option<String>,
    recursive: Option<String>,
    max_depth: Option<u32>,
}

pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath<SandboxId>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let recursive = match query.recursive.as_deref() {
        None | Some("false") | Some("0") | Some("") => false,
        Some("true") | Some("1") => true,
        Some(other) => {
            return Err(AppError::invalid(format!(
                "recursive must be true or false, not '{other}'"
            ))
            .into())
        }
    };
    let (path, entries) = state
        .app
        .files()
        .list_files(
            &caller,
            &id,
            query.path.as_deref().unwrap_or("."),
            recursive,
            query.max_depth,
        )
        .await?;
    let entries: Vec<Value> = entries
        .into_iter()
        .map(|e| json!({ "name": e.name, "size": e.size, "mod_ts": e.mod_ts, "is_dir": e.is_dir }))
        .collect();
    Ok(Json(json!({ "path": path, "entries": entries })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

    #[test]
    fn a_base64_answer_is_the_json_object_with_the_bytes_added() {
        let long = vec![0xA5u8; 70_001];
        for bytes in [&b""[..], b"a", &long] {
            let head = json!({"path": "/home/sandbox/a \"quoted\" \\ name", "size": 3, "truncated": false});
            let answer = with_base64(head.clone(), bytes);
            assert_eq!(answer.headers()[header::CONTENT_TYPE], "application/json");
            let body =
                futures::executor::block_on(axum::body::to_bytes(answer.into_body(), usize::MAX))
                    .unwrap();
            let mut expected = head;
            expected["content_b64"] = json!(B64.encode(bytes));
            assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), expected);
        }
    }
}
