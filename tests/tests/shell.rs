//! The interactive shell against a real container, as the Sockt clients use
//! it: a WebSocket from `shell-url` (a single-use ticket in the URL) or with
//! `Authorization: Bearer`; type a command and read its output, resize,
//! Ctrl-C a `sleep`, several shells at once, pause closes the socket with a
//! clear frame, and a dropped connection leaves no process behind.
#![allow(clippy::unwrap_used)]

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tests::{docker, TestServer};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str, bearer: Option<&str>) -> Result<Socket, String> {
    let mut request = url.into_client_request().unwrap();
    if let Some(key) = bearer {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {key}").parse().unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
        .map_err(|e| e.to_string())
}

async fn send(socket: &mut Socket, frame: Value) {
    socket
        .send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
}

/// Read frames until the terminal's output contains `needle` (or 20 s pass);
/// the output seen, and the non-stdout frames.
async fn read_until(socket: &mut Socket, needle: &str) -> (String, Vec<Value>) {
    let mut output = String::new();
    let mut others = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !output.contains(needle) {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} in {output:?} (other frames: {others:?})"));
        match message {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                if frame["type"] == "stdout" {
                    output.push_str(frame["data"].as_str().unwrap());
                } else {
                    others.push(frame);
                }
            }
            Some(Ok(Message::Close(close))) => {
                others
                    .push(json!({"type": "close", "reason": close.map(|c| c.reason.to_string())}));
                break;
            }
            Some(Ok(_)) => {}
            _ => break,
        }
    }
    (output, others)
}

async fn shell_url(server: &TestServer, key: &str, id: &str) -> String {
    let (status, body) = server
        .get(&format!("/v1/sandboxes/{id}/shell-url"), key)
        .await;
    assert_eq!(status.as_u16(), 200, "{body}");
    body["url"].as_str().unwrap().to_string()
}

fn shell_processes(id: &str) -> String {
    docker(&[
        "exec",
        &format!("sockt-{id}"),
        "sh",
        "-c",
        "ps -eo pid,args | grep -E 'bash -l|sleep 300' | grep -v grep || true",
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shell_types_reads_resizes_interrupts_and_closes_cleanly() {
    let server = TestServer::start().await;
    let key = server.account(50).await;
    let stranger = server.account(5).await;
    let id = server
        .running_sandbox(&key, json!({"tier": "nano", "initial_credits_cents": 20}))
        .await;

    // The URL the SDK gets is a ws:// URL with a ticket that works once.
    let url = shell_url(&server, &key, &id).await;
    assert!(
        url.starts_with("ws://") && url.contains("ticket=sst_"),
        "{url}"
    );
    let mut shell = connect(&url, None).await.unwrap();
    let again = connect(&url, None).await;
    assert!(again.is_err(), "a ticket opens one shell only");
    let (status, _) = server
        .get(&format!("/v1/sandboxes/{id}/shell-url"), &stranger)
        .await;
    assert_eq!(status.as_u16(), 404, "another tenant gets no ticket");
    let forged = url.replace("ticket=sst_", "ticket=sst_00");
    assert!(
        connect(&forged, None).await.is_err(),
        "a forged ticket is refused"
    );
    let bare = url.split('?').next().unwrap().to_string();
    assert!(
        connect(&bare, None).await.is_err(),
        "no ticket, no header: refused"
    );

    // A login shell as the sandbox user, in its home, with TERM set.
    send(
        &mut shell,
        json!({"type": "input", "data": "echo \"$(id -un):$PWD:$TERM\"\n"}),
    )
    .await;
    let (seen, _) = read_until(&mut shell, "sandbox:/home/sandbox:xterm-256color").await;
    assert!(
        seen.contains("sandbox:/home/sandbox:xterm-256color"),
        "{seen}"
    );

    // Resize reaches the terminal.
    send(
        &mut shell,
        json!({"type": "resize", "cols": 132, "rows": 41}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    send(&mut shell, json!({"type": "input", "data": "stty size\n"})).await;
    let (seen, _) = read_until(&mut shell, "41 132").await;
    assert!(seen.contains("41 132"), "{seen}");

    // Ctrl-C reaches the foreground process.
    send(&mut shell, json!({"type": "input", "data": "sleep 300\n"})).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    send(&mut shell, json!({"type": "input", "data": "\u{3}"})).await;
    send(
        &mut shell,
        json!({"type": "input", "data": "echo after-$?\n"}),
    )
    .await;
    let (seen, _) = read_until(&mut shell, "after-130").await;
    assert!(seen.contains("after-130"), "{seen}");

    // A second shell at once, with the API key in the header (the Go CLI).
    let header_url = bare.clone();
    let mut second = connect(&header_url, Some(&key)).await.unwrap();
    send(
        &mut second,
        json!({"type": "input", "data": "echo second-$((6*7))\n"}),
    )
    .await;
    let (seen, _) = read_until(&mut second, "second-42").await;
    assert!(seen.contains("second-42"), "{seen}");

    // A dropped connection leaves no process behind.
    send(&mut second, json!({"type": "input", "data": "sleep 300\n"})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(shell_processes(&id).contains("sleep 300"));
    drop(second);
    let mut gone = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let left = shell_processes(&id);
        if !left.contains("sleep 300") && left.matches("bash -l").count() == 1 {
            gone = true;
            break;
        }
    }
    assert!(gone, "left behind: {}", shell_processes(&id));

    // Pause closes the socket with a frame saying why.
    let (status, _) = server
        .post(&format!("/v1/sandboxes/{id}/pause"), &key, json!({}))
        .await;
    assert_eq!(status.as_u16(), 200);
    let (_, frames) = read_until(&mut shell, "\u{0}never").await;
    assert!(
        frames
            .iter()
            .any(|f| f["type"] == "error" && f["data"].as_str().unwrap().contains("paused")),
        "{frames:?}"
    );
    assert!(frames.iter().any(|f| f["type"] == "close"), "{frames:?}");
    let (status, _) = server
        .get(&format!("/v1/sandboxes/{id}/shell-url"), &key)
        .await;
    assert_eq!(status.as_u16(), 409, "no shell for a paused sandbox");

    // Shell time is recorded: opened and closed, with byte counts only.
    let (status, _) = server
        .post(&format!("/v1/sandboxes/{id}/resume"), &key, json!({}))
        .await;
    assert_eq!(status.as_u16(), 200);
    let mut events = server.read.timeline(&id);
    for _ in 0..50 {
        if events
            .iter()
            .filter(|e| e.event_type == "ShellClosed")
            .count()
            >= 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        events = server.read.timeline(&id);
    }
    let opened = events
        .iter()
        .filter(|e| e.event_type == "ShellOpened")
        .count();
    let closed: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == "ShellClosed")
        .map(|e| serde_json::to_string(&e.payload).unwrap())
        .collect();
    assert_eq!(opened, 2, "{closed:?}");
    assert_eq!(closed.len(), 2, "{closed:?}");
    assert!(closed
        .iter()
        .all(|c| c.contains("bytes_in") && c.contains("bytes_out")));
    let everything: String = events
        .iter()
        .map(|e| serde_json::to_string(&e.payload).unwrap())
        .collect();
    assert!(
        !everything.contains("stty") && !everything.contains("second-"),
        "keystrokes are never recorded"
    );
    let (status, _) = server.delete(&format!("/v1/sandboxes/{id}"), &key).await;
    assert_eq!(status.as_u16(), 200);
    server.assert_audit_passes().await;
}

/// A sandbox with 20 s of credit: the shell is told its balance is low at
/// once, and out of balance when it runs dry — then the socket closes.
#[tokio::test(flavor = "multi_thread")]
async fn billing_frames_reach_the_shell_and_running_dry_closes_it() {
    let server = TestServer::start().await;
    let key = server.account(10).await;
    let id = server
        .running_sandbox(&key, json!({"tier": "nano", "initial_credits_cents": 1}))
        .await;
    let url = shell_url(&server, &key, &id).await;
    let mut shell = connect(&url, None).await.unwrap();
    let mut frames = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !frames.iter().any(|f: &Value| f["type"] == "close") {
        let message = tokio::time::timeout_at(deadline, shell.next())
            .await
            .unwrap_or_else(|_| panic!("frames so far: {frames:?}"));
        match message {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                if frame["type"] != "stdout" {
                    frames.push(frame);
                }
            }
            Some(Ok(Message::Close(_))) | None => frames.push(json!({"type": "close"})),
            _ => {}
        }
    }
    let kinds: Vec<&str> = frames.iter().map(|f| f["type"].as_str().unwrap()).collect();
    let low = kinds.iter().position(|k| *k == "low_balance");
    let dry = kinds.iter().position(|k| *k == "out_of_balance");
    assert!(low.is_some() && dry.is_some() && low < dry, "{frames:?}");
    assert!(frames[low.unwrap()]["seconds_remaining"].as_u64().unwrap() <= 20);
    let (_, status) = server.get(&format!("/v1/sandboxes/{id}"), &key).await;
    assert_eq!(status["status"], "paused");
    assert_eq!(status["pause_reason"], "out_of_balance");
    let (code, _) = server.delete(&format!("/v1/sandboxes/{id}"), &key).await;
    assert_eq!(code.as_u16(), 200);
    server.assert_audit_passes().await;
}
