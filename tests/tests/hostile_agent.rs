//! Attacks on the agent inside each sandbox, from the sandbox itself: its
//! socket answers only the server (a client without the sandbox's secret is
//! cut off before any request runs), its secret is gone from the sandbox
//! once it started, its memory and environment are closed to the sandbox's
//! processes, no other sandbox's agent is in reach, and its directory —
//! on the host's disk — is sealed once it listens: the sandbox writes
//! nothing there (not through the files API by a symlink either), and
//! cannot remove or replace the socket; one whose agent cannot be reached
//! (an older server's container) still has its processes stopped, the
//! agent spared.
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

    // The agent's directory lies on the host's disk, outside every quota:
    // once the agent is up it is root's, so the sandbox neither writes
    // there nor removes the socket — directly or through the files API by
    // a symlink.
    let poll = server
        .exec(
            &key,
            &other,
            json!({"command": "rm -f /run/sockt/s; dd if=/dev/zero of=/run/sockt/fill bs=1M count=8 2>&1; ln -sfn /run/sockt ~/agentdir; ls /run/sockt"}),
        )
        .await;
    let out = stream_text(&poll, "stdout");
    assert!(out.contains("Permission denied"), "{poll}");
    assert!(out.ends_with("s\n"), "only the socket is there: {poll}");
    let (status, answer) = server
        .post(
            &format!("/v1/sandboxes/{other}/files/write"),
            &key,
            json!({"path": "agentdir/viaapi", "content": "on the host's disk"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::FORBIDDEN, "{answer}");
    let poll = server
        .exec(
            &key,
            &other,
            json!({"command": "ls /run/sockt; tr '\\0' ' ' < /proc/$PPID/cmdline"}),
        )
        .await;
    let out = stream_text(&poll, "stdout");
    assert!(out.starts_with("s\n"), "nothing was written: {poll}");
    assert!(
        out.contains("/opt/sockt/agent"),
        "the agent still serves: {out}"
    );

    let traces = Traces::before_terminating(&[&id, &other]);
    for sandbox in [&id, &other] {
        server
            .delete(&format!("/v1/sandboxes/{sandbox}"), &key)
            .await;
    }
    traces.assert_none_left();
    server.assert_audit_passes().await;
}

/// A sandbox whose agent cannot be reached (its socket gone from the
/// host, as for a container an older server made; one of another runtime
/// has none to ask) still has its processes stopped, through the engine:
/// every one but the init and the agent, which the container lives by.
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
            json!({"command": "sleep 1000 >/dev/null 2>&1 & setsid sleep 1001 >/dev/null 2>&1 &"}),
        )
        .await;
    assert_eq!(poll["exit_code"], 0, "{poll}");
    // The sandbox cannot remove its agent's socket (its slot is sealed):
    // the host does.
    let slot = tests::docker(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{if eq .Destination \"/run/sockt\"}}{{.Source}}{{end}}{{end}}",
        &format!("sockt-{id}"),
    ]);
    assert!(!slot.is_empty(), "the sandbox has an agent slot");
    std::fs::remove_file(std::path::Path::new(&slot).join("s")).unwrap();
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

/// Tries to take the agent's socket (to answer the server's requests
/// itself).
const IMPOSTOR: &str = r#"
import os, socket
try:
    os.unlink("/run/sockt/s")
except OSError as e:
    print("unlink refused:", e.strerror)
listener = socket.socket(socket.AF_UNIX)
try:
    listener.bind("/run/sockt/impostor")
except OSError as e:
    print("bind refused:", e.strerror)
"#;

/// The sandbox cannot put an impostor behind its agent's socket: the slot
/// is sealed once the agent listens, and the agent keeps serving. (Were one
/// there, the server would refuse more of a file than it asked for: a unit
/// test of `adapters::docker::agent` floods a read.)
#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_cannot_replace_its_agents_socket() {
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
        .exec(&key, &id, json!({"command": "python3 impostor.py"}))
        .await;
    let out = stream_text(&poll, "stdout");
    assert!(out.contains("unlink refused: Permission denied"), "{poll}");
    assert!(out.contains("bind refused: Permission denied"), "{poll}");
    let (status, answer) = server
        .post(
            &format!("/v1/sandboxes/{id}/files/read"),
            &key,
            json!({"path": "impostor.py", "max_bytes": 1000}),
        )
        .await;
    assert!(status.is_success(), "{answer}");
    assert_eq!(answer["content"], IMPOSTOR);

    let traces = Traces::before_terminating(&[&id]);
    server.delete(&format!("/v1/sandboxes/{id}"), &key).await;
    traces.assert_none_left();
    server.assert_audit_passes().await;
}
