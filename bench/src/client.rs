//! The benchmark's HTTP client of a Sockt server: the calls an agent makes
//! (create and wait until running, exec with `wait_ms`, files, terminate),
//! each timed by the caller.

use anyhow::{bail, Context};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    pub url: String,
    key: String,
    /// Where every request's latency goes (ms), when recording.
    latencies: Option<std::sync::Arc<std::sync::Mutex<Vec<f64>>>>,
}

impl Client {
    pub fn new(url: &str, key: &str, connections: usize) -> Client {
        Client {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(connections.max(1))
                .build()
                .unwrap_or_default(),
            url: url.trim_end_matches('/').to_string(),
            key: key.to_string(),
            latencies: None,
        }
    }

    /// A client that notes every request's latency; `take_latencies` hands them over.
    pub fn recording(&self) -> Client {
        Client {
            latencies: Some(std::sync::Arc::default()),
            ..self.clone()
        }
    }

    pub fn take_latencies(&self) -> Vec<f64> {
        self.latencies
            .as_ref()
            .map(|l| std::mem::take(&mut *l.lock().unwrap_or_else(|p| p.into_inner())))
            .unwrap_or_default()
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let body = body.map(|b| serde_json::to_vec(&b)).transpose()?;
        let answer = self.succeeded(method, path, body).await?;
        Ok(serde_json::from_slice(&answer).unwrap_or(Value::Null))
    }

    /// A request whose answer must be a success: its bytes, or an error
    /// with its status and text.
    async fn succeeded(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<bytes::Bytes> {
        let (status, answer) = self.exchange(method, path, body).await?;
        if !status.is_success() {
            bail!(
                "{path} answered {status}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
        Ok(answer)
    }

    /// One request with a JSON body already serialised; the answer's status
    /// and bytes. Timed (when recording) from sending to the last byte.
    async fn exchange(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<(reqwest::StatusCode, bytes::Bytes)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let started = Instant::now();
        let response = request.send().await?;
        let status = response.status();
        let answer = response.bytes().await.unwrap_or_default();
        if let Some(latencies) = &self.latencies {
            latencies
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(super::ms_since(started));
        }
        Ok((status, answer))
    }

    /// The server's Prometheus metrics, as text.
    pub async fn metrics_text(&self) -> anyhow::Result<String> {
        let response = self
            .http
            .get(format!("{}/metrics", self.url))
            .send()
            .await?
            .error_for_status()?;
        Ok(response.text().await?)
    }

    /// Read a sandbox's status without parsing it (for load: the client
    /// shares the machine with the server).
    pub async fn status_read(&self, id: &str) -> anyhow::Result<()> {
        let response = self
            .http
            .get(format!("{}/v1/sandboxes/{id}", self.url))
            .bearer_auth(&self.key)
            .send()
            .await?;
        let status = response.status();
        response.bytes().await?;
        if !status.is_success() {
            bail!("status of {id} answered {status}");
        }
        Ok(())
    }

    pub async fn status(&self, id: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, &format!("/v1/sandboxes/{id}"), None)
            .await
    }

    /// Create a sandbox; its id, once it runs: the create itself waits for
    /// that (`wait_ms`), in one round trip.
    pub async fn create_running(&self, tier: &str) -> anyhow::Result<String> {
        self.create_and_poll(tier, Some(60_000), Duration::from_millis(20))
            .await
    }

    /// Create a sandbox, answered at once, and poll its status every
    /// `every` until it runs (as a client that does not wait would); its id.
    pub async fn create_polling(&self, tier: &str, every: Duration) -> anyhow::Result<String> {
        self.create_and_poll(tier, None, every).await
    }

    async fn create_and_poll(
        &self,
        tier: &str,
        wait_ms: Option<u64>,
        every: Duration,
    ) -> anyhow::Result<String> {
        let created = self
            .call(
                reqwest::Method::POST,
                "/v1/sandboxes",
                Some(json!({"tier": tier, "initial_credits_cents": 20, "wait_ms": wait_ms})),
            )
            .await?;
        let id = created["sandbox_id"]
            .as_str()
            .context("no sandbox_id")?
            .to_string();
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut status = created;
        while Instant::now() < deadline {
            match status["status"].as_str() {
                Some("running") => return Ok(id),
                Some("failed") | Some("terminated") => bail!("sandbox {id} ended: {status}"),
                _ => tokio::time::sleep(every).await,
            }
            status = self.status(&id).await?;
        }
        bail!("sandbox {id} did not start within 120 s")
    }

    /// Run a command and wait for its end, in one round trip when it ends
    /// within the exec's `wait_ms`.
    pub async fn exec(&self, id: &str, command: &str) -> anyhow::Result<Value> {
        let mut result = self
            .call(
                reqwest::Method::POST,
                &format!("/v1/sandboxes/{id}/exec"),
                Some(json!({"command": command, "wait_ms": 10_000})),
            )
            .await?;
        while result["status"] == "running" {
            let execution = result["execution_id"].as_str().context("no execution_id")?;
            result = self
                .call(
                    reqwest::Method::GET,
                    &format!("/v1/executions/{execution}?wait_ms=10000"),
                    None,
                )
                .await?;
        }
        if result["exit_code"] != 0 {
            bail!("`{command}` answered {result}");
        }
        Ok(result)
    }

    /// Write a file and read it back, as a typed client does: the body
    /// serialised once from borrowed text, the answer parsed into the one
    /// field it needs (no copy of the megabyte's text into a JSON value).
    pub async fn write_and_read(
        &self,
        id: &str,
        payload_b64: &str,
        size: usize,
    ) -> anyhow::Result<()> {
        #[derive(serde::Serialize)]
        struct Write<'a> {
            path: &'a str,
            content: &'a str,
            encoding: &'a str,
        }
        #[derive(serde::Deserialize)]
        struct Read {
            size: u64,
            content_b64: String,
        }
        let path = "bench.bin";
        let write = serde_json::to_vec(&Write {
            path,
            content: payload_b64,
            encoding: "base64",
        })?;
        let post = reqwest::Method::POST;
        self.succeeded(
            post.clone(),
            &format!("/v1/sandboxes/{id}/files/write"),
            Some(write),
        )
        .await?;
        let read = serde_json::to_vec(&json!({"path": path, "encoding": "base64"}))?;
        let answer = self
            .succeeded(post, &format!("/v1/sandboxes/{id}/files/read"), Some(read))
            .await?;
        let read: Read = serde_json::from_slice(&answer).context("reading the file back")?;
        if read.size != size as u64 || read.content_b64.len() != payload_b64.len() {
            bail!(
                "read back {} bytes ({} characters of base64)",
                read.size,
                read.content_b64.len()
            );
        }
        Ok(())
    }

    pub async fn terminate(&self, id: &str) -> anyhow::Result<()> {
        self.call(
            reqwest::Method::DELETE,
            &format!("/v1/sandboxes/{id}"),
            None,
        )
        .await
        .map(|_| ())
    }
}
