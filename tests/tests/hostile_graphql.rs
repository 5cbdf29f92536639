//! Part of the hostile suite: GraphQL against a caller who wants to wear
//! the server out. A 300 MB body (streamed, or announced) is refused with
//! 413 while it is read, anonymously or not, and the server's memory stays
//! flat; over WebSocket every operation draws from the caller's rate limit
//! (the same bucket as its HTTP requests, the address's when anonymous),
//! and one connection holds at most 100 live operations.
#![allow(clippy::unwrap_used)]

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tests::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// The resident memory of this process — the test server runs in it — in KiB.
fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Samples the resident memory every 5 ms until stopped; the peak seen.
struct PeakMemory {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    sampler: tokio::task::JoinHandle<()>,
}

impl PeakMemory {
    fn start() -> PeakMemory {
        let peak = Arc::new(AtomicU64::new(resident_kib()));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = tokio::spawn({
            let (peak, stop) = (peak.clone(), stop.clone());
            async move {
                while !stop.load(Ordering::SeqCst) {
                    peak.fetch_max(resident_kib(), Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        });
        PeakMemory {
            peak,
            stop,
            sampler,
        }
    }

    async fn peak_kib(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.sampler.await.unwrap();
        self.peak.load(Ordering::SeqCst)
    }
}

const HUGE_BODY: u64 = 300_000_000;

/// POST a 300 MB body to /v1/graphql over raw TCP — chunked (no length
/// announced) or with its Content-Length — generated as it is written.
/// Returns the answer's status (None: no answer within 120 s), the answer,
/// and how many body bytes the server took before it stopped reading. Writing and reading apart: the server answers
/// once the body passes its limit and closes without reading the rest,
/// which an HTTP client still writing would report as a broken pipe.
async fn post_huge_body(
    url: &str,
    auth: Option<&str>,
    chunked: bool,
) -> (Option<u16>, String, u64) {
    let address = url.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let mut head = format!(
        "POST /v1/graphql HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n"
    );
    if let Some(auth) = auth {
        head.push_str(&format!("Authorization: Bearer {auth}\r\n"));
    }
    if chunked {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
    } else {
        head.push_str(&format!("Content-Length: {HUGE_BODY}\r\n\r\n"));
    }
    let written = Arc::new(AtomicU64::new(0));
    let writing = tokio::spawn({
        let written = written.clone();
        async move {
            writer.write_all(head.as_bytes()).await?;
            let chunk = vec![b' '; 64 << 10];
            let frame = format!("{:x}\r\n", chunk.len());
            while written.load(Ordering::SeqCst) < HUGE_BODY {
                if chunked {
                    writer.write_all(frame.as_bytes()).await?;
                }
                writer.write_all(&chunk).await?;
                if chunked {
                    writer.write_all(b"\r\n").await?;
                }
                written.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            }
            if chunked {
                writer.write_all(b"0\r\n\r\n").await?;
            }
            Ok::<(), std::io::Error>(())
        }
    });
    let mut answer = Vec::new();
    let mut buffer = vec![0u8; 4096];
    let mut until = tokio::time::Instant::now() + Duration::from_secs(120);
    while let Ok(Ok(read)) = tokio::time::timeout_at(until, reader.read(&mut buffer)).await {
        if read == 0 {
            break;
        }
        if answer.is_empty() {
            // The rest of the answer follows at once.
            until = tokio::time::Instant::now() + Duration::from_secs(2);
        }
        answer.extend_from_slice(&buffer[..read]);
    }
    // Whatever the server still reads once it answered is in the kernel's
    // buffers; give the writer a moment to find the connection closed.
    let writer = writing.abort_handle();
    let _ = tokio::time::timeout(Duration::from_secs(5), writing).await;
    writer.abort();
    let answer = String::from_utf8_lossy(&answer).to_string();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok());
    (status, answer, written.load(Ordering::SeqCst))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_300_mb_graphql_body_is_refused_while_read_and_memory_stays_flat() {
    let server = TestServer::start().await;
    let key = server.account(10).await;
    for (who, auth, chunked) in [
        ("anonymous, streamed", None, true),
        ("with an API key, streamed", Some(key.as_str()), true),
        ("anonymous, announced", None, false),
    ] {
        let before = resident_kib();
        let memory = PeakMemory::start();
        let (status, answer, taken) = post_huge_body(&server.url, auth, chunked).await;
        let peak = memory.peak_kib().await;
        let grown_mib = peak.saturating_sub(before) >> 10;
        assert_eq!(
            status,
            Some(413),
            "{who}: after {taken} bytes, memory grown by {grown_mib} MiB: {answer:?}"
        );
        assert!(
            answer.contains(r#""code":"payload_too_large""#),
            "{who}: {answer}"
        );
        assert!(
            taken < 64 << 20,
            "{who}: the server read on to {taken} bytes after the limit"
        );
        assert!(
            grown_mib < 64,
            "{who}: the server's memory grew by {grown_mib} MiB"
        );
    }
    // A query within the limit is still answered.
    let (status, answer) = server
        .post("/v1/graphql", &key, json!({"query": "{ tiers { tier } }"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"]["tiers"][0]["tier"], "nano");
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A graphql-transport-ws connection, initialised as `key` (or nobody).
async fn connect(server: &TestServer, key: Option<&str>) -> Socket {
    let url = format!("{}/v1/graphql/ws", server.url.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let payload = match key {
        Some(key) => json!({ "Authorization": format!("Bearer {key}") }),
        None => json!({}),
    };
    let init = json!({ "type": "connection_init", "payload": payload });
    socket
        .send(Message::Text(init.to_string().into()))
        .await
        .unwrap();
    let ack = socket.next().await.unwrap().unwrap();
    assert!(ack.to_text().unwrap().contains("connection_ack"), "{ack}");
    socket
}

const SUBSCRIPTION: &str = "subscription { sandboxEvents { sandboxId } }";

async fn subscribe(socket: &mut Socket, id: &str, query: &str) {
    let message = json!({ "id": id, "type": "subscribe", "payload": { "query": query } });
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// What came back for one operation.
#[derive(Debug, Default)]
struct Outcome {
    data: bool,
    errors: Vec<Value>,
}

/// The operations' outcomes (by id) from the messages that arrive until
/// `enough` holds (then 300 ms more, for any excess) or `within` passes.
async fn outcomes(
    socket: &mut Socket,
    within: Duration,
    enough: impl Fn(&BTreeMap<String, Outcome>) -> bool,
) -> BTreeMap<String, Outcome> {
    let mut seen: BTreeMap<String, Outcome> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + within;
    let mut settle: Option<tokio::time::Instant> = None;
    loop {
        let until = settle.unwrap_or(deadline).min(deadline);
        let Ok(Some(Ok(message))) = tokio::time::timeout_at(until, socket.next()).await else {
            return seen;
        };
        let Ok(value) = serde_json::from_str::<Value>(message.to_text().unwrap_or("")) else {
            continue;
        };
        if value["type"] == "next" {
            let id = value["id"].as_str().unwrap().to_string();
            let outcome = seen.entry(id).or_default();
            outcome.data |= !value["payload"]["data"].is_null();
            if let Some(errors) = value["payload"]["errors"].as_array() {
                outcome.errors.extend(errors.iter().cloned());
            }
        }
        if settle.is_none() && enough(&seen) {
            settle = Some(tokio::time::Instant::now() + Duration::from_millis(300));
        }
    }
}

fn refused(seen: &BTreeMap<String, Outcome>) -> Vec<String> {
    seen.iter()
        .filter(|(_, o)| {
            o.errors
                .iter()
                .any(|e| e["extensions"]["code"] == "rate_limited")
        })
        .map(|(id, _)| id.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_subscriptions_draw_from_the_keys_rate_limit() {
    let server = TestServer::start_with(&["--rate-limit-per-minute", "20"]).await;
    let key = server.account(10).await;
    let mut socket = connect(&server, Some(&key)).await;
    for i in 1..=50 {
        subscribe(&mut socket, &format!("s{i}"), SUBSCRIPTION).await;
    }
    let seen = outcomes(&mut socket, Duration::from_secs(10), |seen| {
        refused(seen).len() >= 30
    })
    .await;
    let refused = refused(&seen);
    // The burst of 20, and at most one refilled while the messages went out.
    assert!(
        (29..=30).contains(&refused.len()),
        "{} of 50 subscriptions refused: {seen:?}",
        refused.len()
    );
    let first_refused = seen
        .iter()
        .find(|(_, o)| !o.errors.is_empty())
        .map(|(_, o)| o.errors[0].clone())
        .unwrap();
    assert!(
        first_refused["extensions"]["retryAfterSecs"]
            .as_u64()
            .is_some_and(|s| (1..=60).contains(&s)),
        "{first_refused}"
    );
    assert!(
        seen.values().all(|o| !o.data),
        "no subscription had an event to send: {seen:?}"
    );
    // The same bucket as the key's HTTP requests: they are refused too.
    let (status, _) = server.get("/v1/sandboxes/tiers", &key).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let other = server.account(10).await;
    let (status, _) = server.get("/v1/sandboxes/tiers", &other).await;
    assert_eq!(status, StatusCode::OK, "the limit is per key");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_anonymous_websocket_gets_its_addresss_limit() {
    let server = TestServer::start_with(&["--rate-limit-per-minute", "10"]).await;
    // The upgrade itself is one of the address's requests.
    let mut socket = connect(&server, None).await;
    let aliases: String = (0..40)
        .map(|i| format!("a{i}: tiers {{ tier }} "))
        .collect();
    let query = format!("{{ {aliases} }}");
    for i in 1..=30 {
        subscribe(&mut socket, &format!("q{i}"), &query).await;
    }
    let seen = outcomes(&mut socket, Duration::from_secs(20), |seen| {
        seen.len() >= 30
    })
    .await;
    assert_eq!(seen.len(), 30, "every query is answered: {seen:?}");
    let answered = seen.values().filter(|o| o.data).count();
    assert!(
        (8..=10).contains(&answered),
        "{answered} of 30 anonymous queries answered with a limit of 10 a minute"
    );
    assert_eq!(refused(&seen).len(), 30 - answered);
    let (status, _) = server
        .call(
            reqwest::Method::POST,
            "/v1/graphql",
            None,
            Some(json!({"query": "{ tiers { tier } }"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the address's HTTP requests share the bucket"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_websocket_connection_holds_at_most_100_live_subscriptions() {
    let server = TestServer::start().await;
    let key = server.account(10).await;
    let cap = api::graphql::MAX_LIVE_OPERATIONS;
    assert_eq!(cap, 100);
    let mut socket = connect(&server, Some(&key)).await;
    for i in 1..=cap + 1 {
        subscribe(&mut socket, &format!("s{i}"), SUBSCRIPTION).await;
    }
    let seen = outcomes(&mut socket, Duration::from_secs(10), |seen| {
        !seen.is_empty()
    })
    .await;
    assert_eq!(refused(&seen), [format!("s{}", cap + 1)], "{seen:?}");
    let message = seen.values().next().unwrap().errors[0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("at most 100"), "{message}");
    // Completing one frees its place, for one more.
    let complete = json!({ "id": "s1", "type": "complete" });
    socket
        .send(Message::Text(complete.to_string().into()))
        .await
        .unwrap();
    subscribe(&mut socket, "s102", SUBSCRIPTION).await;
    subscribe(&mut socket, "s103", SUBSCRIPTION).await;
    let seen = outcomes(&mut socket, Duration::from_secs(10), |seen| {
        !seen.is_empty()
    })
    .await;
    assert_eq!(refused(&seen), ["s103"], "{seen:?}");
}
