//! `sockt serve` as a separate process, for tests that `kill -9` servers or
//! run several on one store, and a plain HTTP client for any server URL.

use reqwest::StatusCode;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `sockt serve` process.
pub struct ServerProcess {
    pub child: Child,
    pub url: String,
}

impl ServerProcess {
    /// Start `sockt serve` on a random port with `args` and the environment
    /// `env` (SOCKT_DATABASE_URL is removed unless given there).
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> ServerProcess {
        ServerProcess::spawn_at("127.0.0.1:0", args, env)
    }

    /// Start `sockt serve` listening on `listen` (a restart keeps its address).
    pub fn spawn_at(listen: &str, args: &[&str], env: &[(&str, &str)]) -> ServerProcess {
        let mut command = Command::new(crate::sockt_binary());
        command
            .args(["serve", "--listen", listen, "--log-format", "text"])
            .args(args)
            .env_remove("SOCKT_DATABASE_URL")
            .stderr(Stdio::piped())
            .stdout(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("sockt listening on ") {
                    let _ = tx.send(url.to_string());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the server did not start");
        ServerProcess { child, url }
    }

    /// SIGTERM (a clean stop, as an operator's or a supervisor's), and wait
    /// up to a minute for the process to exit; whether it exited cleanly.
    pub fn terminate(&mut self) -> bool {
        let pid = self.child.id().to_string();
        let signalled = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(signalled.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("sockt serve (pid {pid}) did not exit within a minute of SIGTERM");
    }

    /// `kill -9`, and wait for the process to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One request to `url`; the body parsed as JSON (Null when it is not).
pub async fn call(
    url: &str,
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{url}{path}"))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (
        response.status(),
        response.json().await.unwrap_or(Value::Null),
    )
}

/// Wait until the sandbox reports `state`; panics after 60 s.
pub async fn wait_state(url: &str, key: &str, id: &str, state: &str) -> Value {
    for _ in 0..600 {
        let (_, status) = call(
            url,
            reqwest::Method::GET,
            &format!("/v1/sandboxes/{id}"),
            key,
            None,
        )
        .await;
        if status["status"] == state {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("sandbox {id} never reached {state}");
}

/// Poll an execution until it ends; returns the last poll.
pub async fn wait_exec(url: &str, key: &str, execution: &str) -> Value {
    for _ in 0..60 {
        let (_, poll) = call(
            url,
            reqwest::Method::GET,
            &format!("/v1/executions/{execution}?wait_ms=5000"),
            key,
            None,
        )
        .await;
        if poll["status"] != "running" {
            return poll;
        }
    }
    panic!("execution {execution} never ended");
}
