//! Network attacks from inside a sandbox (tenant A), against real
//! containers: another tenant's sandbox, the Docker host (its bridge gateway,
//! any port) and a link-local address (a dummy interface of this test's own
//! at 169.254.77.1, never the real metadata address) are all out of reach.
//! Each probe is paired with a control showing the target does answer, so a
//! refusal means isolation, not a dead target. Probes go only to addresses
//! this test set up on this machine.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use std::process::Command;
use std::time::Duration;
use tests::{docker, stream_text, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A one-line HTTP server of the test's own on `addr`; answers "host".
async fn listener(addr: &str) -> u16 {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\nhost")
                .await;
        }
    });
    port
}

/// `curl` from inside sandbox `id`: (exit code, stdout).
async fn curl_from(server: &TestServer, key: &str, id: &str, url: &str) -> (i64, String) {
    let poll = server
        .exec(
            key,
            id,
            json!({"command": format!("curl -sS --max-time 3 {url}"), "timeout_ms": 20000}),
        )
        .await;
    (
        poll["exit_code"].as_i64().unwrap_or(-1),
        stream_text(&poll, "stdout"),
    )
}

fn sandbox_ip(id: &str) -> String {
    docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{.Gateway}}{{end}}",
        &format!("sockt-{id}"),
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sandbox_reaches_no_other_sandbox_no_host_port_and_no_link_local_address() {
    let server = TestServer::start().await;
    let alice = server.account(50).await;
    let bob = server.account(50).await;
    let attacker = server
        .running_sandbox(&alice, json!({"tier": "nano", "initial_credits_cents": 10}))
        .await;
    let victim = server
        .running_sandbox(&bob, json!({"tier": "nano", "initial_credits_cents": 10}))
        .await;

    // Another tenant's web server: the host reaches it, the attacker does not.
    let (status, started) = server
        .post(
            &format!("/v1/sandboxes/{victim}/exec"),
            &bob,
            json!({"command": "python3 -m http.server 8000 --bind 0.0.0.0", "timeout_ms": 60000}),
        )
        .await;
    assert_eq!(status.as_u16(), 201, "{started}");
    let addresses = sandbox_ip(&victim);
    let (victim_ip, gateway) = addresses.trim().split_once(' ').unwrap();
    let victim_url = format!("http://{victim_ip}:8000/");
    let mut served = false;
    for _ in 0..50 {
        if reqwest::get(&victim_url)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(served, "control: the victim's server answers the host");
    let (code, body) = curl_from(&server, &alice, &attacker, &victim_url).await;
    assert_ne!(code, 0, "reached another tenant's sandbox: {body}");

    // The host, on its bridge gateway address and any port.
    let port = listener("0.0.0.0:0").await;
    let control = reqwest::get(format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap();
    assert!(
        control.status().is_success(),
        "control: the host listener answers"
    );
    let (code, body) = curl_from(
        &server,
        &alice,
        &attacker,
        &format!("http://{gateway}:{port}/"),
    )
    .await;
    assert_ne!(code, 0, "reached the host: {body}");

    // A link-local address of the host (a dummy interface of our own).
    let link = LinkLocal::add("169.254.77.1");
    let port = listener("169.254.77.1:0").await;
    let control = reqwest::get(format!("http://169.254.77.1:{port}/"))
        .await
        .unwrap();
    assert!(
        control.status().is_success(),
        "control: the link-local listener answers"
    );
    let (code, body) = curl_from(
        &server,
        &alice,
        &attacker,
        &format!("http://169.254.77.1:{port}/"),
    )
    .await;
    assert_ne!(code, 0, "reached a link-local address: {body}");
    drop(link);

    // The attacker's sandbox still works.
    let poll = server
        .exec(&alice, &attacker, json!({"command": "echo still here"}))
        .await;
    assert_eq!(stream_text(&poll, "stdout"), "still here\n");
    for (key, id) in [(&alice, &attacker), (&bob, &victim)] {
        let (status, _) = server.delete(&format!("/v1/sandboxes/{id}"), key).await;
        assert_eq!(status.as_u16(), 200);
    }
}

/// An interface of the test's own (a dummy one, or an empty bridge where
/// the kernel has no dummy driver) holding one link-local address; removed
/// when dropped.
struct LinkLocal {
    name: String,
}

impl LinkLocal {
    fn add(address: &str) -> LinkLocal {
        let name = format!("sockt-ll{}", std::process::id() % 10_000);
        let ip = |args: &[&str]| {
            let status = Command::new("ip").args(args).status().unwrap();
            assert!(status.success(), "ip {}", args.join(" "));
        };
        let _ = Command::new("ip").args(["link", "del", &name]).status();
        let dummy = Command::new("ip")
            .args(["link", "add", &name, "type", "dummy"])
            .status()
            .unwrap();
        if !dummy.success() {
            ip(&["link", "add", &name, "type", "bridge"]);
        }
        ip(&["addr", "add", &format!("{address}/32"), "dev", &name]);
        ip(&["link", "set", &name, "up"]);
        LinkLocal { name }
    }
}

impl Drop for LinkLocal {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.name])
            .status();
    }
}
