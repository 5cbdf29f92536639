//! The interactive shell over a WebSocket, in the Sockt clients' frames:
//! the client sends `{"type":"input","data"}` and
//! `{"type":"resize","cols","rows"}`; the server sends `stdout` (the
//! terminal's output, as text), `error`, and the billing frames
//! (`low_balance`, `deposit_required`, `out_of_balance`) when they happen.
//! `GET /v1/sandboxes/{id}/shell-url` answers a `ws(s)://` URL carrying a
//! single-use ticket (the Python SDK connects without headers); the socket
//! also accepts the credential as `Authorization: Bearer` (the Go CLI).
//! Pause and terminate close the socket with an `error` frame saying why;
//! a server that stops closes it with code 1012 (service restart), which
//! clients reconnect on; a client that goes leaves no process behind.

use crate::error::{ApiError, ApiResult};
use crate::presentation::ids::IdPath;
use crate::presentation::wire;
use crate::presentation::Caller;
use crate::state::AppState;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::Json;
use commands::{OpenShell, Principal, ShellBillingWatch, ShellNotice, TerminalSize, Utf8Stream};
use domain::ids::SandboxId;
use domain::ports::ShellInput;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

/// How often an open shell looks at its sandbox's state and balance.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);
/// Largest frame a client may send.
const MAX_FRAME_BYTES: usize = 1 << 20;

pub async fn shell_url(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath<SandboxId>,
) -> ApiResult<Json<Value>> {
    let ticket = state.app.sandboxes().shell_ticket(&caller, &id).await?;
    let base = websocket_base(&state.public_url);
    Ok(Json(json!({
        "url": format!("{base}/v1/sandboxes/{id}/shell?ticket={ticket}"),
        "expires_in_secs": 60,
    })))
}

/// The public URL with the WebSocket scheme (wss behind TLS).
fn websocket_base(public_url: &str) -> String {
    if let Some(rest) = public_url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = public_url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        public_url.to_string()
    }
}

#[derive(Debug, Deserialize)]
pub struct ShellParams {
    ticket: Option<String>,
    cols: Option<u16>,
    rows: Option<u16>,
}

pub async fn shell(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath<SandboxId>,
    Query(params): Query<ShellParams>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    // Who it is and whether the shell may open, checked before upgrading,
    // so refusals are plain HTTP answers.
    let (principal, nonce) = match params.ticket.as_deref() {
        Some(ticket) => {
            let redeemed = state.app.sandboxes().redeem_shell_ticket(&id, ticket).await?;
            (redeemed.principal, Some(redeemed.nonce))
        }
        None if caller == Principal::Anonymous => {
            return Err(commands::AppError::Unauthorized(
                "open the shell with the URL from GET /v1/sandboxes/{id}/shell-url, or send Authorization: Bearer".into(),
            )
            .into())
        }
        None => (caller, None),
    };
    // A plain request is refused in the usual JSON shape, after the
    // credential checks and before anything is opened.
    let upgrade = upgrade.map_err(|e| {
        commands::AppError::invalid(format!(
            "open the shell over a WebSocket (Connection: upgrade, Upgrade: websocket): {e}"
        ))
    })?;
    let size = TerminalSize {
        cols: params.cols.unwrap_or(80),
        rows: params.rows.unwrap_or(24),
    };
    // Opened (and the ticket spent) before upgrading, so a refusal is a
    // plain HTTP answer; a failed upgrade closes it again.
    let open = state
        .app
        .sandboxes()
        .open_shell(&principal, &id, nonce, size)
        .await?;
    let (shell_id, container) = (open.shell_id.clone(), open.container.clone());
    let (failed_state, failed_id) = (state.clone(), id.clone());
    Ok(upgrade
        .max_message_size(MAX_FRAME_BYTES)
        .on_failed_upgrade(move |_| {
            tokio::spawn(async move {
                failed_state
                    .app
                    .sandboxes()
                    .close_shell(
                        &failed_id,
                        &shell_id,
                        &container,
                        (0, 0),
                        "the WebSocket upgrade failed",
                    )
                    .await;
            });
        })
        .on_upgrade(move |socket| serve(state, id, open, socket)))
}

fn frame(kind: &str, data: &str) -> Message {
    Message::Text(json!({ "type": kind, "data": data }).to_string().into())
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// Why a shell closes when its server stops (with close code 1012,
/// "service restart": a client reconnects, to this replica or another).
pub const SERVER_STOPPING: &str = "the server is restarting: reconnect";

/// A client frame.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientFrame {
    Input { data: String },
    Resize { cols: u16, rows: u16 },
}

/// A billing notice as the shell's client reads it.
fn billing_frame(notice: ShellNotice, status: &commands::SandboxStatus) -> Message {
    Message::Text(
        json!({
            "type": notice.kind(),
            "data": notice.message(status),
            "seconds_remaining": status.seconds_remaining,
            "prepaid_balance_msats": status.balance.0,
            "pending_invoice": wire::pending_invoice(status),
        })
        .to_string()
        .into(),
    )
}

/// Connect the client and the shell until either ends.
async fn serve(state: AppState, sandbox_id: SandboxId, open: OpenShell, socket: WebSocket) {
    let OpenShell {
        shell_id,
        container,
        io,
    } = open;
    let (mut output, mut input) = (io.output, io.input);
    let (mut to_client, mut from_client) = socket.split();
    let mut text = Utf8Stream::default();
    let (mut bytes_in, mut bytes_out) = (0u64, 0u64);
    let mut watch = ShellBillingWatch::new(&sandbox_id);
    let mut ticker = tokio::time::interval(WATCH_INTERVAL);
    let mut code = axum::extract::ws::close_code::NORMAL;
    let reason = loop {
        tokio::select! {
            _ = state.stopping.cancelled() => {
                code = axum::extract::ws::close_code::RESTART;
                break SERVER_STOPPING.to_string();
            }
            message = from_client.next() => {
                let message = match message {
                    Some(Ok(message)) => message,
                    _ => break "the client went away".to_string(),
                };
                let sent = match message {
                    Message::Text(raw) => match serde_json::from_str::<ClientFrame>(raw.as_str()) {
                        Ok(ClientFrame::Input { data }) => {
                            bytes_in += data.len() as u64;
                            input.send(ShellInput::Data(data.into_bytes())).await.is_ok()
                        }
                        Ok(ClientFrame::Resize { cols, rows }) => {
                            input.send(ShellInput::Resize { cols, rows }).await.is_ok()
                        }
                        Err(e) => to_client
                            .send(frame("error", &format!("unknown frame: {e}")))
                            .await
                            .is_ok(),
                    },
                    Message::Binary(bytes) => {
                        bytes_in += bytes.len() as u64;
                        input.send(ShellInput::Data(bytes.to_vec())).await.is_ok()
                    }
                    Message::Close(_) => break "the client closed it".to_string(),
                    Message::Ping(_) | Message::Pong(_) => true,
                };
                if !sent {
                    break "the shell stopped reading".to_string();
                }
            }
            chunk = output.next() => {
                let Some(chunk) = chunk else {
                    let rest = text.finish();
                    if !rest.is_empty() {
                        let _ = to_client.send(frame("stdout", &rest)).await;
                    }
                    break "the shell exited".to_string();
                };
                bytes_out += chunk.len() as u64;
                let decoded = text.push(&chunk);
                if !decoded.is_empty() && to_client.send(frame("stdout", &decoded)).await.is_err() {
                    break "the client went away".to_string();
                }
            }
            _ = ticker.tick() => {
                let look = watch.look(state.app.queries());
                for (notice, status) in &look.notices {
                    let _ = to_client.send(billing_frame(*notice, status)).await;
                }
                if let Some(why) = look.close {
                    let _ = to_client.send(frame("error", &why)).await;
                    break why;
                }
            }
        }
    };
    let _ = to_client.send(close(code, &reason)).await;
    drop(input);
    state
        .app
        .sandboxes()
        .close_shell(
            &sandbox_id,
            &shell_id,
            &container,
            (bytes_in, bytes_out),
            &reason,
        )
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_websocket_url_follows_the_public_url() {
        assert_eq!(
            websocket_base("http://127.0.0.1:8080"),
            "ws://127.0.0.1:8080"
        );
        assert_eq!(
            websocket_base("https://api.example.com"),
            "wss://api.example.com"
        );
    }

    #[test]
    fn client_frames_parse() {
        let input: ClientFrame = serde_json::from_str(r#"{"type":"input","data":"ls\n"}"#).unwrap();
        assert!(matches!(input, ClientFrame::Input { data } if data == "ls\n"));
        let resize: ClientFrame =
            serde_json::from_str(r#"{"type":"resize","cols":120,"rows":40}"#).unwrap();
        assert!(matches!(
            resize,
            ClientFrame::Resize {
                cols: 120,
                rows: 40
            }
        ));
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"exec"}"#).is_err());
    }
}
