//! The files API against what a sandbox can put in its own filesystem:
//! a FIFO (which would hold a read or a write until its other end opens),
//! a socket, a device and a directory tree too large for one answer are
//! each refused at once with a 400 that names the reason — never a hang or
//! a 5xx — and the sandbox keeps serving.
#![allow(clippy::unwrap_used)]

use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};
use tests::traces::Traces;
use tests::{stream_text, TestServer};

#[tokio::test(flavor = "multi_thread")]
async fn special_files_and_huge_listings_get_a_clear_4xx_at_once() {
    let server = TestServer::start().await;
    let key = server.account(20).await;
    let id = server
        .running_sandbox(&key, json!({"tier": "nano", "initial_credits_cents": 10}))
        .await;
    let poll = server
        .exec(
            &key,
            &id,
            json!({"command": "mkfifo ~/fifo && python3 -c \"import socket; socket.socket(socket.AF_UNIX).bind('/home/sandbox/sock')\" \
                && mkdir ~/many && cd ~/many && seq 1 10500 | xargs touch && ls | wc -l",
                   "timeout_ms": 60000}),
        )
        .await;
    assert_eq!(stream_text(&poll, "stdout"), "10500\n", "{poll}");

    let read = format!("/v1/sandboxes/{id}/files/read");
    let write = format!("/v1/sandboxes/{id}/files/write");
    let refused = |status: StatusCode, body: &serde_json::Value, code: &str, what: &str| {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
        assert_eq!(body["code"], code, "{what}: {body}");
    };
    for path in ["fifo", "sock", "/dev/zero"] {
        let began = Instant::now();
        let (status, body) = server.post(&read, &key, json!({"path": path})).await;
        refused(status, &body, "not_a_regular_file", path);
        assert!(began.elapsed() < Duration::from_secs(5), "{path}: at once");
    }
    for path in ["fifo", "sock"] {
        let began = Instant::now();
        let (status, body) = server
            .post(&write, &key, json!({"path": path, "content": "x"}))
            .await;
        refused(status, &body, "not_a_regular_file", path);
        assert!(began.elapsed() < Duration::from_secs(5), "{path}: at once");
    }

    for query in ["path=many", "path=/&recursive=true&max_depth=32"] {
        let began = Instant::now();
        let (status, body) = server
            .get(&format!("/v1/sandboxes/{id}/files?{query}"), &key)
            .await;
        refused(status, &body, "too_many_entries", query);
        assert!(
            body["message"].as_str().unwrap().contains("max_depth"),
            "it says what to do: {body}"
        );
        assert!(began.elapsed() < Duration::from_secs(20), "{query}");
    }
    // A listing that fits is answered, the special files among it.
    let (status, body) = server
        .get(&format!("/v1/sandboxes/{id}/files?path=."), &key)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names: Vec<&str> = body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for name in ["fifo", "sock", "many"] {
        assert!(names.contains(&name), "{names:?}");
    }
    // The FIFO is untouched and the sandbox still serves.
    let poll = server
        .exec(&key, &id, json!({"command": "test -p ~/fifo && echo fifo"}))
        .await;
    assert_eq!(stream_text(&poll, "stdout"), "fifo\n", "{poll}");

    let traces = Traces::before_terminating(&[&id]);
    server.delete(&format!("/v1/sandboxes/{id}"), &key).await;
    traces.assert_none_left();
    server.assert_audit_passes().await;
}
