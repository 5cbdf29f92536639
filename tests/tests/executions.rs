//! Execution semantics against real containers: timeouts and cancels kill
//! the whole process tree, cumulative output with cursor and long-poll,
//! bounded output, invalid UTF-8, concurrent commands.
#![allow(clippy::unwrap_used)]

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tests::{stream_text, TestServer};

async fn process_count(server: &TestServer, key: &str, id: &str, pattern: &str) -> usize {
    let poll = server
        .exec(
            key,
            id,
            json!({"command": format!("pgrep -c -f '{pattern}' || true")}),
        )
        .await;
    stream_text(&poll, "stdout").trim().parse().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn timeouts_and_cancels_kill_the_process_tree() {
    let server = TestServer::start_with(&[
        "--exec-timeout-ms",
        "1500",
        "--max-exec-timeout-ms",
        "60000",
    ])
    .await;
    let key = server.account(100).await;
    let id = server.running_sandbox(&key, json!({"tier": "micro"})).await;

    // Default timeout from configuration; children in the background die too.
    let started = Instant::now();
    let poll = server
        .exec(
            &key,
            &id,
            json!({"command": "(sleep 301 &) ; sleep 302 & echo started; sleep 303"}),
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(poll["status"], "failed");
    assert_eq!(poll["exit_code"], 124);
    assert!(
        poll["error"]
            .as_str()
            .unwrap()
            .contains("timed out after 1500 ms"),
        "{poll}"
    );
    assert_eq!(stream_text(&poll, "stdout"), "started\n");
    assert_eq!(
        process_count(&server, &key, &id, "sleep 30[123]").await,
        0,
        "no process of the tree survives"
    );

    // Cancel.
    let (_, started) = server
        .post(
            &format!("/v1/sandboxes/{id}/exec"),
            &key,
            json!({"command": "sleep 401 & sleep 402", "timeout_ms": 60000}),
        )
        .await;
    let execution = started["execution_id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, cancelled) = server
        .delete(&format!("/v1/executions/{execution}"), &key)
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["exit_code"], 137);
    assert_eq!(process_count(&server, &key, &id, "sleep 40[12]").await, 0);
    let (status, again) = server
        .delete(&format!("/v1/executions/{execution}"), &key)
        .await;
    assert_eq!(
        (status, again["code"].as_str()),
        (StatusCode::CONFLICT, Some("execution_finished"))
    );

    // Out-of-range timeouts are refused.
    let (status, body) = server
        .post(
            &format!("/v1/sandboxes/{id}/exec"),
            &key,
            json!({"command": "true", "timeout_ms": 600000}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn output_is_cumulative_with_cursor_long_poll_and_bounds() {
    let server = TestServer::start_with(&["--max-output-bytes", "4096"]).await;
    let key = server.account(100).await;
    let id = server.running_sandbox(&key, json!({"tier": "micro"})).await;

    let (_, started) = server
        .post(
            &format!("/v1/sandboxes/{id}/exec"),
            &key,
            json!({"command": "echo one; sleep 1; echo two >&2; sleep 1; echo three"}),
        )
        .await;
    let execution = started["execution_id"].as_str().unwrap().to_string();
    // A long poll returns as soon as there is output, not after the wait.
    let asked = Instant::now();
    let (_, first) = server
        .get(
            &format!("/v1/executions/{execution}?offset=0&wait_ms=10000"),
            &key,
        )
        .await;
    assert!(asked.elapsed() < Duration::from_secs(5));
    assert_eq!(stream_text(&first, "stdout"), "one\n");
    let cursor = first["next_offset"].as_u64().unwrap();
    let (_, second) = server
        .get(
            &format!("/v1/executions/{execution}?offset={cursor}&wait_ms=10000"),
            &key,
        )
        .await;
    assert_eq!(
        stream_text(&second, "stdout"),
        "",
        "the cursor skips what was read: {second}"
    );
    assert_eq!(stream_text(&second, "stderr"), "two\n");
    let last = server.wait_execution(&key, &execution).await;
    // Without a cursor every poll returns everything so far.
    assert_eq!(stream_text(&last, "stdout"), "one\nthree\n");
    assert_eq!(stream_text(&last, "stderr"), "two\n");
    assert_eq!(last["exit_code"], 0);

    // Past the bound the head and the tail are kept, and the bytes left out
    // between them are counted exactly; sizes count everything.
    let poll = server
        .exec(
            &key,
            &id,
            json!({"command": "seq 1 2000000", "timeout_ms": 120000}),
        )
        .await;
    let kept = stream_text(&poll, "stdout");
    let total: u64 = (1..=2_000_000u64)
        .map(|n| n.to_string().len() as u64 + 1)
        .sum();
    assert_eq!(poll["truncated"], true);
    assert_eq!(poll["stdout_bytes"], total);
    assert_eq!(kept.len(), 4096);
    assert!(kept.starts_with("1\n2\n3\n"), "the head: {}", &kept[..20]);
    assert!(kept.ends_with("1999999\n2000000\n"), "the tail");
    assert_eq!(poll["omitted_bytes"], total - 4096);
    let gap = poll["omitted_before_chunk"].as_u64().unwrap() as usize;
    let chunks = poll["output"].as_array().unwrap();
    let head: String = chunks[..gap]
        .iter()
        .map(|c| c["chunk"].as_str().unwrap())
        .collect();
    let tail: String = chunks[gap..]
        .iter()
        .map(|c| c["chunk"].as_str().unwrap())
        .collect();
    assert_eq!(head.len() + tail.len(), 4096);
    let all: String = (1..=2_000_000u64).map(|n| format!("{n}\n")).collect();
    assert!(
        all.starts_with(&head) && all.ends_with(&tail),
        "head and tail are the real output"
    );

    // Invalid UTF-8 never breaks the JSON.
    let poll = server
        .exec(&key, &id, json!({"command": "printf 'ok \\xff\\xfe end'"}))
        .await;
    assert_eq!(stream_text(&poll, "stdout"), "ok \u{fffd}\u{fffd} end");

    // Several commands at once in one sandbox.
    let mut executions = Vec::new();
    let begun = Instant::now();
    for i in 0..4 {
        let (status, started) = server
            .post(
                &format!("/v1/sandboxes/{id}/exec"),
                &key,
                json!({"command": format!("sleep 1; echo {i}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        executions.push(started["execution_id"].as_str().unwrap().to_string());
    }
    for (i, execution) in executions.iter().enumerate() {
        let poll = server.wait_execution(&key, execution).await;
        assert_eq!(stream_text(&poll, "stdout"), format!("{i}\n"));
    }
    assert!(
        begun.elapsed() < Duration::from_secs(4),
        "they ran concurrently"
    );

    // A working directory that does not exist is a clear failure.
    let poll = server
        .exec(
            &key,
            &id,
            json!({"command": "pwd", "working_dir": "no/such/dir"}),
        )
        .await;
    assert_eq!(poll["status"], "failed");
    assert!(
        poll["error"].as_str().unwrap().contains("working_dir"),
        "{poll}"
    );
}

/// One Server-Sent Event: (event, id, data).
type SseEvent = (String, Option<String>, serde_json::Value);

/// Read events from `response` until `stop` says so (or the stream ends).
async fn read_events(
    response: reqwest::Response,
    mut stop: impl FnMut(&[SseEvent]) -> bool,
) -> Vec<SseEvent> {
    use futures::StreamExt;
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !stop(&events) {
        let Ok(Some(Ok(bytes))) = tokio::time::timeout_at(deadline, body.next()).await else {
            break;
        };
        buffer.push_str(&String::from_utf8_lossy(&bytes));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let (mut event, mut id, mut data) = (String::from("message"), None, String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().to_string());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if !data.is_empty() {
                events.push((event, id, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    events
}

fn chunks_of(events: &[SseEvent]) -> String {
    events
        .iter()
        .filter(|(e, _, _)| e == "stdout")
        .map(|(_, _, d)| d["chunk"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn background_commands_stream_resume_list_and_stop() {
    let server = TestServer::start().await;
    let key = server.account(50).await;
    let id = server
        .running_sandbox(&key, json!({"tier": "nano", "initial_credits_cents": 20}))
        .await;
    let (status, started) = server
        .post(
            &format!("/v1/sandboxes/{id}/exec"),
            &key,
            json!({"command": "for i in $(seq 1 60); do echo line-$i; sleep 0.05; done", "background": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    assert_eq!(started["background"], true);
    assert_eq!(
        started["timeout_ms"], 3_600_000,
        "no 30 s default for a background command"
    );
    let execution = started["execution_id"].as_str().unwrap().to_string();
    let stream_url = started["stream_url"].as_str().unwrap().to_string();
    let client = reqwest::Client::new();

    // Read part of the stream, drop the connection, resume from the last id.
    let first = client
        .get(&stream_url)
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert!(first.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let before = read_events(first, |events| {
        events.iter().filter(|(e, _, _)| e == "stdout").count() >= 5
    })
    .await;
    let last_id = before
        .iter()
        .rev()
        .find_map(|(_, id, _)| id.clone())
        .unwrap();
    let (_, running) = server
        .get(
            &format!("/v1/sandboxes/{id}/executions?status=running"),
            &key,
        )
        .await;
    assert!(
        running["executions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["execution_id"] == execution.as_str()),
        "{running}"
    );
    let resumed = client
        .get(&stream_url)
        .bearer_auth(&key)
        .header("last-event-id", &last_id)
        .send()
        .await
        .unwrap();
    let after = read_events(resumed, |events| events.iter().any(|(e, _, _)| e == "end")).await;
    let expected: String = (1..=60).map(|i| format!("line-{i}\n")).collect();
    assert_eq!(
        chunks_of(&before) + &chunks_of(&after),
        expected,
        "every byte exactly once across the reconnect"
    );
    let (_, _, end) = after.iter().find(|(e, _, _)| e == "end").unwrap();
    assert_eq!(end["status"], "completed");
    assert_eq!(end["exit_code"], 0);
    // ?offset= resumes the same way, here from the start, after the end.
    let replay = client
        .get(format!("{stream_url}?offset=0"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let all = read_events(replay, |events| events.iter().any(|(e, _, _)| e == "end")).await;
    assert_eq!(chunks_of(&all), expected);
    // Another tenant cannot follow it.
    let stranger = server.account(5).await;
    let refused = client
        .get(&stream_url)
        .bearer_auth(&stranger)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);

    // A background server keeps running until it is stopped.
    let (_, server_exec) = server
        .post(
            &format!("/v1/sandboxes/{id}/exec"),
            &key,
            json!({"command": "sleep 300", "background": true}),
        )
        .await;
    let sleeper = server_exec["execution_id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, running) = server
        .get(
            &format!("/v1/sandboxes/{id}/executions?status=running"),
            &key,
        )
        .await;
    assert_eq!(
        running["executions"].as_array().unwrap().len(),
        1,
        "{running}"
    );
    let (status, cancelled) = server
        .delete(&format!("/v1/executions/{sleeper}"), &key)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    let (_, done) = server
        .get(&format!("/v1/sandboxes/{id}/executions"), &key)
        .await;
    assert_eq!(done["executions"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_gets_its_own_environment_variables() {
    let server = TestServer::start().await;
    let key = server.account(20).await;
    let id = server
        .running_sandbox(
            &key,
            json!({"tier": "nano", "initial_credits_cents": 5,
                   "env": {"FROM_CREATE": "sealed value", "SHARED": "create"}}),
        )
        .await;
    let (_, status) = server.get(&format!("/v1/sandboxes/{id}"), &key).await;
    assert_eq!(status["env_names"], json!(["FROM_CREATE", "SHARED"]));
    let poll = server
        .exec(
            &key,
            &id,
            json!({"command": "echo \"$GREETING/$HOME/$FROM_CREATE/$SHARED\"",
                   "env": {"GREETING": "hello world", "SHARED": "exec"}}),
        )
        .await;
    assert_eq!(
        stream_text(&poll, "stdout"),
        "hello world//home/sandbox/sealed value/exec\n",
        "create-time variables for every command; a command's own win"
    );
    let (status, refused) = server
        .post(
            "/v1/sandboxes",
            &key,
            json!({"tier": "nano", "env": {"SOCKT_X": "1"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    for bad in [json!({"1BAD": "x"}), json!({"SOCKT_EXEC_ID": "x"})] {
        let (status, body) = server
            .post(
                &format!("/v1/sandboxes/{id}/exec"),
                &key,
                json!({"command": "true", "env": bad}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let timeline: String = server
        .read
        .timeline(&id)
        .iter()
        .map(|e| serde_json::to_string(&e.payload).unwrap())
        .collect();
    assert!(
        !timeline.contains("hello world"),
        "env values are never recorded"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stdin_reaches_a_running_command_and_closing_it_ends_the_input() {
    let server = TestServer::start().await;
    let key = server.account(20).await;
    let id = server
        .running_sandbox(&key, json!({"tier": "nano", "initial_credits_cents": 5}))
        .await;
    let (status, started) = server
        .post(
            &format!("/v1/sandboxes/{id}/exec"),
            &key,
            json!({"command": "cat; echo end-of-input", "stdin": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let execution = started["execution_id"].as_str().unwrap().to_string();
    let stdin = format!("/v1/executions/{execution}/stdin");
    let (status, written) = server
        .post(&stdin, &key, json!({"data": "first line\n"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{written}");
    assert_eq!(written["written"], 11);
    let (status, _) = server
        .post(
            &stdin,
            &key,
            json!({"data": "c2Vjb25kCg==", "encoding": "base64", "close": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let done = server.wait_execution(&key, &execution).await;
    assert_eq!(
        stream_text(&done, "stdout"),
        "first line\nsecond\nend-of-input\n"
    );
    assert_eq!(done["exit_code"], 0);
    let (status, _) = server.post(&stdin, &key, json!({"data": "late"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "the command has ended");

    // Without "stdin": true a command reads end-of-file at once, as before.
    let poll = server
        .exec(&key, &id, json!({"command": "cat; echo no-input"}))
        .await;
    assert_eq!(stream_text(&poll, "stdout"), "no-input\n");
    let stranger = server.account(5).await;
    let (status, _) = server.post(&stdin, &stranger, json!({"data": "x"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A simple command (the agent runs it without bash) sees exactly the
/// environment bash would give it: the same variables as the same program
/// run by bash, but for the execution's own marker.
#[tokio::test(flavor = "multi_thread")]
async fn simple_commands_get_the_environment_bash_would_give_them() {
    let server = TestServer::start().await;
    let key = server.account(200).await;
    let id = server.running_sandbox(&key, json!({"tier": "nano"})).await;
    let sorted = |poll: &Value| {
        let mut lines: Vec<String> = stream_text(poll, "stdout")
            .lines()
            .filter(|l| !l.starts_with("SOCKT_EXEC_ID="))
            .map(str::to_string)
            .collect();
        lines.sort();
        lines
    };
    let direct = server
        .exec(
            &key,
            &id,
            json!({"command": "env", "working_dir": "/tmp", "env": {"A": "1"}}),
        )
        .await;
    let through_bash = server
        .exec(
            &key,
            &id,
            json!({"command": "env; :", "working_dir": "/tmp", "env": {"A": "1"}}),
        )
        .await;
    assert_eq!(sorted(&direct), sorted(&through_bash));
    assert!(
        sorted(&direct).contains(&"PWD=/tmp".to_string()),
        "{direct}"
    );
    // A program that is not on PATH still answers as bash does.
    let missing = server
        .exec(&key, &id, json!({"command": "no-such-program-here"}))
        .await;
    assert_eq!(missing["exit_code"], 127, "{missing}");
    assert!(stream_text(&missing, "stderr").contains("command not found"));
}

/// A new sandbox's home holds the image's dotfiles (given by the agent as
/// it starts), and a program put in `~/.local/bin` runs by name in the
/// next command, as `bash -l` with Debian's `.profile` would find it.
#[tokio::test(flavor = "multi_thread")]
async fn the_home_has_its_dotfiles_and_local_bin_is_on_the_path() {
    let server = TestServer::start().await;
    let key = server.account(10).await;
    let id = server
        .running_sandbox(&key, json!({"tier": "nano", "initial_credits_cents": 5}))
        .await;
    let poll = server
        .exec(
            &key,
            &id,
            json!({"command": "ls -A ~ && cmp ~/.bashrc /etc/skel/.bashrc && echo same"}),
        )
        .await;
    let listed = stream_text(&poll, "stdout");
    for dotfile in [".bashrc", ".profile", "same"] {
        assert!(
            listed.lines().any(|l| l == dotfile),
            "{dotfile} missing: {poll}"
        );
    }
    let poll = server
        .exec(
            &key,
            &id,
            json!({"command": "mkdir -p ~/.local/bin && printf '#!/bin/sh\\necho mine\\n' > ~/.local/bin/mytool && chmod +x ~/.local/bin/mytool"}),
        )
        .await;
    assert_eq!(poll["exit_code"], 0, "{poll}");
    let poll = server.exec(&key, &id, json!({"command": "mytool"})).await;
    assert_eq!(stream_text(&poll, "stdout"), "mine\n", "{poll}");
}
