//! LNbits pushes every payment of a wallet to that wallet's websocket
//! (`/api/v1/ws/{key}`). The connection goes out from Sockt, so payments are
//! seen at once even where LNbits cannot reach our webhook. The stream
//! reconnects with backoff, says when it is connected and when not (so
//! settlement polls while it is down), and yields the payment hash of each
//! notification; settlement then asks LNbits whether it is paid, so a forged or repeated
//! message credits nothing. The URL holds the wallet key (LNbits' design): it
//! is never logged, and no error that could carry it is either.

use domain::lightning::PaymentPush;
use futures::stream::BoxStream;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(30);

/// Follow the payment pushes of the wallet with `key` at LNbits `base`.
pub fn payment_pushes(base: &str, key: &str) -> BoxStream<'static, PaymentPush> {
    let (found, hashes) = futures::channel::mpsc::unbounded();
    let url = websocket_url(base, key);
    tokio::spawn(async move {
        let mut retry = FIRST_RETRY;
        while !found.is_closed() {
            match tokio_tungstenite::connect_async(url.as_str()).await {
                Ok((mut socket, _)) => {
                    tracing::info!("following LNbits payment pushes");
                    retry = FIRST_RETRY;
                    if found.unbounded_send(PaymentPush::Connected).is_err() {
                        return;
                    }
                    while let Some(Ok(message)) = socket.next().await {
                        match message {
                            Message::Text(text) => {
                                if let Some(hash) = payment_hash_of(&text) {
                                    if found.unbounded_send(PaymentPush::Payment(hash)).is_err() {
                                        return;
                                    }
                                }
                            }
                            Message::Ping(data) => {
                                let _ = socket.send(Message::Pong(data)).await;
                            }
                            Message::Close(_) => break,
                            _ => {}
                        }
                    }
                    tracing::info!(
                        "LNbits payment pushes stopped; reconnecting (polling meanwhile)"
                    );
                    if found.unbounded_send(PaymentPush::Disconnected).is_err() {
                        return;
                    }
                }
                Err(_) => {
                    // The error may quote the URL, which holds the key.
                    tracing::debug!("LNbits payment pushes unavailable; polling goes on");
                }
            }
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(LAST_RETRY);
        }
    });
    hashes.boxed()
}

fn websocket_url(base: &str, key: &str) -> String {
    let base = base.trim_end_matches('/');
    let base = match base.split_once("://") {
        Some(("https", rest)) => format!("wss://{rest}"),
        Some((_, rest)) => format!("ws://{rest}"),
        None => format!("ws://{base}"),
    };
    format!("{base}/api/v1/ws/{key}")
}

/// The payment hash a notification names (`{"payment": {"payment_hash"}}`).
fn payment_hash_of(text: &str) -> Option<String> {
    let value: Value = serde_json::from_str(text).ok()?;
    let hash = value.get("payment")?.get("payment_hash")?.as_str()?;
    (hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit())).then(|| hash.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_websocket_follows_the_scheme_of_the_base() {
        assert_eq!(
            websocket_url("https://ln.example/", "k"),
            "wss://ln.example/api/v1/ws/k"
        );
        assert_eq!(
            websocket_url("http://127.0.0.1:5000", "k"),
            "ws://127.0.0.1:5000/api/v1/ws/k"
        );
    }

    #[test]
    fn only_a_well_formed_payment_hash_is_taken() {
        let hash = "ab".repeat(32);
        let pushed = format!(r#"{{"wallet_balance": 5, "payment": {{"payment_hash": "{hash}"}}}}"#);
        assert_eq!(payment_hash_of(&pushed), Some(hash));
        assert_eq!(
            payment_hash_of(r#"{"payment": {"payment_hash": "../x"}}"#),
            None
        );
        assert_eq!(payment_hash_of("not json"), None);
    }
}
