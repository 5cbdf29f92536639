//! Attacks on the agent inside each sandbox, from the sandbox itself: its
//! socket answers only the server (a client without the sandbox's secret is
//! cut off before any request runs), its secret is gone from the sandbox
//! once it started, its memory and environment are closed to the sandbox's
//! processes, no other sandbox's agent is in reach, and a sandbox that
//! removes its agent's socket still runs commands (through Docker's exec
//! API), has its processes stopped (the agent spared) and leaves nothing
//! behind; one that puts an impostor behind it cannot make the server hold
//! more of a file than was asked for.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use tests::traces::Traces;
use tests::{stream_text, TestServer};

/// CI runs every test server with the agent (scripts/test.sh builds it).
fn require_agent() {
    assert!(
        std::env::var_os("SOCKT_AGENT_BINARY").is_some(),
        "SOCKT_AGENT_BINARY is not set: build the agent with scripts/build-agent.sh (scripts/test.sh does)"
    );
}

/// Connects to its own agent, answers the challenge with a made-up proof
/// and asks it to create a file; then looks for the secret and at the
/// agent's process.
const PROBE: &str = r#"
import json, os, socket, struct
def frame(kind, payload):
    return bytes([kind]) + struct.pack(">I", len(payload)) + payload
s = socket.socket(socket.AF_UNIX)
s.connect("/run/sockt/s")
header = s.recv(5)
hello = json.loads(s.recv(struct.unpack(">I", header[1:])[0]))
print("hello", hello["reply"])
request = {"op": "exec", "argv": ["/bin/sh", "-c", "touch /tmp/pwned"], "cwd": "/", "env": [], "stdin": False, "tty": None}
s.sendall(frame(1, json.dumps({"proof": "00" * 32}).encode()) + frame(1, json.dumps(request).encode()))
try:
    print("cut off" if s.recv(1) == b"" else "answered")
except ConnectionResetError:
    print("cut off")
print("slot", sorted(os.listdir("/run/sockt")))
agent = [p for p in os.listdir("/proc") if p.isdigit() and open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")[0] == b"/opt/sockt/agent"]
print("agents", len(agent))
for what in ("environ", "mem", "maps"):
    try:
        open(f"/proc/{agent[0]}/{what}", "rb").read(1)
        print(what, "readable")
    except OSError as e:
        print(what, "closed")
"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_serves_only_the_server_and_keeps_its_secret() {
    require_agent();
    let server = TestServer::start().await;
    let key = server.account(200).await;
    let id = server.running_sandbox(&key, json!({"tier": "nano"})).await;
    let other = server.running_sandbox(&key, json!({"tier": "nano"})).await;

    // Commands run under the agent (their shell's parent is the agent).
    let poll = server
        .exec(
            &key,
            &id,
            json!({"command": "tr '\\0' ' ' < /proc/$PPID/cmdline"}),
        )
        .await;
    assert!(
        stream_text(&poll, "stdout").contains("/opt/sockt/agent"),
        "{poll}"
    );

    server
        .post(
            &format!("/v1/sandboxes/{id}/files/write"),
            &key,
            json!({"path": "probe.py", "content": PROBE}),
        )
        .await;
    let poll = server
        .exec(&key, &id, json!({"command": "python3 probe.py; ls /tmp"}))
        .await;
    let out = stream_text(&poll, "stdout");
    assert!(out.contains("hello hello\n"), "{poll}");
    assert!(
        out.contains("cut off\n"),
        "a wrong proof is cut off: {poll}"
    );
    assert!(!out.contains("pwned"), "the request never ran: {out}");
    assert!(
        out.contains("slot ['s']\n"),
        "the secret is gone; no other sandbox's socket is here: {out}"
    );
    assert!(out.contains("agents 1\n"), "{out}");
    for what in ["environ", "mem", "maps"] {
        assert!(
            out.contains(&format!("{what} closed\n")),
            "the agent's {what} is closed to the sandbox: {out}"
        );
    }

    // The sandbox removes its agent's socket: commands still run (through
    // the engine), and files still read and write.
    let poll = server
        .exec(&key, &other, json!({"command": "rm /run/sockt/s"}))
        .await;
    assert_eq!(poll["exit_code"], 0, "{poll}");
    let poll = server
        .exec(
            &key,
            &other,
            json!({"command": "echo still; tr '\\0' ' ' < /proc/$PPID/cmdline"}),
        )
        .await;
    let out = stream_text(&poll, "stdout");
    assert!(out.starts_with("still\n"), "{poll}");
    assert!(!out.contains("/opt/sockt/agent"), "{out}");
    let (status, _) = server
        .post(
            &format!("/v1/sandboxes/{other}/files/write"),
            &key,
            json!({"path": "a.txt", "content": "via the engine"}),
        )
        .await;
    assert!(status.is_success());
    let (_, read) = server
        .post(
            &format!("/v1/sandboxes/{other}/files/read"),
            &key,
            json!({"path": "a.txt"}),
        )
        .await;
    assert_eq!(read["content"], "via the engine");

    let traces = Traces::before_terminating(&[&id, &other]);
    for sandbox in [&id, &other] {
        server
            .delete(&format!("/v1/sandboxes/{sandbox}"), &key)
            .await;
    }
    traces.assert_none_left();
    server.assert_audit_passes().await;
}

/// A sandbox that cut its agent off (as one of an older agent, or of
/// another runtime, has none to ask) still has its processes stopped,
/// through the engine: every one but the init and the agent, which the
/// container lives by.
#[tokio::test(flavor = "multi_thread")]
async fn without_its_agent_a_sandboxs_processes_still_stop_and_the_agent_lives() {
    require_agent();
    let server = TestServer::start().await;
    let key = server.account(20).await;
    let id = server
        .running_sandbox(&key, json!({"tier": "nano", "initial_credits_cents": 5}))
        .await;
    let poll = server
        .exec(
            &key,
            &id,
            json!({"command": "rm /run/sockt/s; sleep 1000 >/dev/null 2>&1 & setsid sleep 1001 >/dev/null 2>&1 &"}),
        )
        .await;
    assert_eq!(poll["exit_code"], 0, "{poll}");
    let (status, body) = server
        .post(
            &format!("/v1/sandboxes/{id}/processes/kill"),
            &key,
            json!({}),
        )
        .await;
    assert_eq!(status.as_u16(), 200, "{body}");
    assert!(body["killed"].as_u64().unwrap_or(0) >= 2, "{body}");
    let poll = server
        .exec(
            &key,
            &id,
            json!({"command": "ps -e -o comm= | sort | tr '\\n' ' '"}),
        )
        .await;
    assert_eq!(
        stream_text(&poll, "stdout"),
        "agent bash docker-init ps sort tr ",
        "no sleep is left, the agent lives: {poll}"
    );
    let (_, status) = server.get(&format!("/v1/sandboxes/{id}"), &key).await;
    assert_eq!(status["status"], "running", "{status}");

    let traces = Traces::before_terminating(&[&id]);
    server.delete(&format!("/v1/sandboxes/{id}"), &key).await;
    traces.assert_none_left();
    server.assert_audit_passes().await;
}

/// Takes the agent's socket and answers every read with far more than was
/// asked for: 64 frames of 1 MiB, then silence.
const IMPOSTOR: &str = r#"
import json, os, socket, struct
def frame(kind, payload):
    return bytes([kind]) + struct.pack(">I", len(payload)) + payload
os.unlink("/run/sockt/s")
listener = socket.socket(socket.AF_UNIX)
listener.bind("/run/sockt/s")
listener.listen(8)
open("/tmp/impostor-ready", "w").close()
while True:
    s, _ = listener.accept()
    try:
        s.sendall(frame(1, json.dumps({"reply": "hello", "nonce": "00", "version": 1}).encode()))
        s.recv(65536)
        s.sendall(frame(1, json.dumps({"reply": "size", "size": 10}).encode()))
        chunk = frame(6, b"x" * (1 << 20))
        for _ in range(64):
            s.sendall(chunk)
    except OSError:
        pass
"#;

#[tokio::test(flavor = "multi_thread")]
async fn an_impostor_behind_the_agents_socket_cannot_flood_a_read() {
    require_agent();
    let server = TestServer::start().await;
    let key = server.account(200).await;
    let id = server.running_sandbox(&key, json!({"tier": "nano"})).await;
    server
        .post(
            &format!("/v1/sandboxes/{id}/files/write"),
            &key,
            json!({"path": "impostor.py", "content": IMPOSTOR}),
        )
        .await;
    let poll = server
        .exec(
            &key,
            &id,
            json!({"command": "setsid python3 impostor.py > /dev/null 2>&1 < /dev/null & for i in $(seq 50); do test -e /tmp/impostor-ready && break; sleep 0.1; done; test -e /tmp/impostor-ready"}),
        )
        .await;
    assert_eq!(poll["exit_code"], 0, "the impostor listens: {poll}");

    let began = std::time::Instant::now();
    let (status, answer) = server
        .post(
            &format!("/v1/sandboxes/{id}/files/read"),
            &key,
            json!({"path": "anything", "max_bytes": 1000}),
        )
        .await;
    assert_eq!(
        status,
        reqwest::StatusCode::INTERNAL_SERVER_ERROR,
        "{answer}"
    );
    assert!(
        began.elapsed() < std::time::Duration::from_secs(10),
        "refused at the first frame past max_bytes, not held until a timeout: {:?}",
        began.elapsed()
    );
    let (status, _) = server.get(&format!("/v1/sandboxes/{id}"), &key).await;
    assert!(status.is_success(), "the server still answers");

    let traces = Traces::before_terminating(&[&id]);
    server.delete(&format!("/v1/sandboxes/{id}"), &key).await;
    traces.assert_none_left();
    server.assert_audit_passes().await;
}
