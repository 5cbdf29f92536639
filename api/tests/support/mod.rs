//! What the router tests share: the real `api::router` over the fakes of
//! `commands::testing` (runtime, Lightning gateway, manual clock, in-memory
//! stores), requests sent through it with `tower::ServiceExt::oneshot` (no
//! listener), answers read whole, and the fixtures every transport starts
//! from (an account with its key, a running credits sandbox, a Lightning
//! sandbox awaiting or past its payment).
#![allow(clippy::unwrap_used, dead_code)]

use api::mcp::McpSettings;
use api::metrics::Metrics;
use api::presentation::ProxyOrigins;
use api::rate_limit::CallerLimiter;
use api::server::{AppContext, AppState};
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::Router;
use commands::testing::Harness;
use commands::{AppConfig, Leadership};
use domain::sandbox::SandboxState;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use tower::ServiceExt;

/// The admin token the test server is configured with.
pub const ADMIN: &str = "router-test-admin-token";
/// The public URL of the test server (the application's default).
pub const PUBLIC_URL: &str = "http://127.0.0.1:8080";
/// The `Host` every request carries unless told otherwise.
pub const HOST: &str = "127.0.0.1:8080";
/// The address every request comes from unless told otherwise.
pub const CLIENT: ([u8; 4], u16) = ([127, 0, 0, 1], 40_000);
/// A well-formed sandbox id nobody has.
pub const UNKNOWN_ID: &str = "00000000-0000-4000-8000-000000000000";

/// The router over an application over fakes.
pub struct Server {
    pub h: Harness,
    router: Router,
}

/// An account and the API key that opens it.
pub struct Tenant {
    pub account_id: String,
    pub key: String,
}

/// See `Server::fleet`.
pub struct Fleet {
    pub alice: Tenant,
    pub bob: Tenant,
    pub paused: String,
    pub running: String,
}

impl Fleet {
    /// Alice's sandboxes' ids, sorted.
    pub fn alices(&self) -> Vec<String> {
        let mut ids = vec![self.paused.clone(), self.running.clone()];
        ids.sort_unstable();
        ids
    }
}

/// The string `field` of every element of the array `list`, sorted.
pub fn sorted(list: &Value, field: &str) -> Vec<String> {
    let mut values: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[field].as_str().unwrap().to_string())
        .collect();
    values.sort_unstable();
    values
}

/// A Lightning sandbox, its token and the payment hash of its first invoice.
pub struct LightningSandbox {
    pub id: String,
    pub token: String,
    pub payment_hash: String,
}

impl Server {
    pub fn new() -> Server {
        Server::build(AppConfig::default(), 100_000)
    }

    pub fn with_config(config: AppConfig) -> Server {
        Server::build(config, 100_000)
    }

    /// A server allowing each caller `per_minute` requests.
    pub fn with_rate_limit(per_minute: u32) -> Server {
        Server::build(AppConfig::default(), per_minute)
    }

    fn build(config: AppConfig, per_minute: u32) -> Server {
        let h = Harness::with_config(AppConfig {
            public_url: PUBLIC_URL.into(),
            ..config
        });
        let state = AppState::new(AppContext {
            app: h.app.clone(),
            admin_token: Some(ADMIN.to_string().into()),
            limiter: Arc::new(CallerLimiter::per_minute(
                NonZeroU32::new(per_minute).unwrap(),
            )),
            metrics: Arc::new(Metrics::default()),
            public_url: PUBLIC_URL.into(),
            store_backend: "memory",
            read_model_start: (0, 0),
            instance_id: "router-tests".into(),
            proxy: reqwest::Client::new(),
            proxy_origins: ProxyOrigins::new(PUBLIC_URL, "localhost").unwrap(),
            mcp: McpSettings {
                allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
                session_idle_secs: 60,
                owners: Arc::default(),
            },
            leadership: Leadership::default(),
            commit_stats: None,
            readiness: api::readiness::Readiness::default(),
            stopping: tokio_util::sync::CancellationToken::new(),
        });
        let router = api::router(state);
        Server { h, router }
    }

    pub fn get(&self, uri: &str) -> Call<'_> {
        self.call(Method::GET, uri)
    }

    pub fn post(&self, uri: &str) -> Call<'_> {
        self.call(Method::POST, uri)
    }

    pub fn call(&self, method: Method, uri: &str) -> Call<'_> {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static(HOST));
        Call {
            server: self,
            method,
            uri: uri.to_string(),
            headers,
            body: Body::empty(),
        }
    }

    /// A server, a tenant holding 10 cents, and a running nano sandbox of
    /// theirs funded with 1 cent.
    pub async fn with_sandbox() -> (Server, Tenant, String) {
        let server = Server::new();
        let tenant = server.tenant(10).await;
        let id = server.running_sandbox(&tenant, "nano", 1).await;
        (server, tenant, id)
    }

    /// A request written `"METHOD /path"` or `"METHOD /path {json body}"`, as `auth`.
    pub fn request(&self, auth: Option<&str>, request: &str) -> Call<'_> {
        let (method, rest) = request.split_once(' ').unwrap();
        let (path, body) = rest.split_once(' ').unwrap_or((rest, ""));
        let mut call = self.call(method.parse().unwrap(), path);
        if let Some(auth) = auth {
            call = call.auth(auth);
        }
        if !body.is_empty() {
            call = call
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        call
    }

    /// A caller with `auth` (None: anonymous), aimed at sandbox `id`.
    pub fn client(&self, auth: Option<&str>, id: &str) -> Client<'_> {
        Client {
            server: self,
            auth: auth.map(str::to_string),
            id: id.to_string(),
        }
    }

    /// The sandbox's status as `auth` sees it.
    pub async fn status(&self, auth: &str, id: &str) -> Value {
        self.request(Some(auth), &format!("GET /v1/sandboxes/{id}"))
            .send()
            .await
            .ok(StatusCode::OK)
    }

    /// Pause the sandbox as `auth`; its status after.
    pub async fn pause(&self, auth: &str, id: &str) -> Value {
        self.request(Some(auth), &format!("POST /v1/sandboxes/{id}/pause"))
            .send()
            .await
            .ok(StatusCode::OK)
    }

    /// `GET /v1/account` as `auth`.
    pub async fn account(&self, auth: &str) -> Value {
        self.get("/v1/account")
            .auth(auth)
            .send()
            .await
            .ok(StatusCode::OK)
    }

    /// Two tenants: alice with a paused nano and a running micro sandbox,
    /// bob with a running nano one.
    pub async fn fleet(&self) -> Fleet {
        let alice = self.tenant(100).await;
        let bob = self.tenant(100).await;
        let paused = self.running_sandbox(&alice, "nano", 1).await;
        let running = self.running_sandbox(&alice, "micro", 1).await;
        self.running_sandbox(&bob, "nano", 1).await;
        self.pause(&alice.key, &paused).await;
        Fleet {
            alice,
            bob,
            paused,
            running,
        }
    }

    /// A new account holding `cents` of credits, and its API key.
    pub async fn tenant(&self, cents: u64) -> Tenant {
        let (view, key) = self
            .h
            .app
            .billing()
            .open_account("tenant", cents)
            .await
            .unwrap();
        Tenant {
            account_id: view.account_id,
            key,
        }
    }

    /// A credits sandbox of `tier` created over REST with `cents`, running.
    pub async fn running_sandbox(&self, tenant: &Tenant, tier: &str, cents: u64) -> String {
        let created = self
            .post("/v1/sandboxes")
            .auth(&tenant.key)
            .json(json!({ "tier": tier, "initial_credits_cents": cents }))
            .send()
            .await
            .ok(StatusCode::CREATED);
        let id = created["sandbox_id"].as_str().unwrap().to_string();
        self.h.until_state(&id, SandboxState::Running).await;
        id
    }

    /// A nano Lightning sandbox created anonymously over REST, unpaid.
    pub async fn lightning_sandbox(&self, sats: u64) -> LightningSandbox {
        let created = self
            .post("/v1/sandboxes")
            .json(json!({ "tier": "nano", "billing_method": "lightning", "prepaid_sats": sats }))
            .send()
            .await
            .ok(StatusCode::CREATED);
        LightningSandbox {
            id: created["sandbox_id"].as_str().unwrap().to_string(),
            token: created["sandbox_token"].as_str().unwrap().to_string(),
            payment_hash: created["pending_invoice"]["payment_hash"]
                .as_str()
                .unwrap()
                .to_string(),
        }
    }

    /// The payer pays the invoice and the server learns it: the sandbox runs.
    pub async fn pay(&self, sandbox: &LightningSandbox) {
        self.h.gateway.settle(&sandbox.payment_hash);
        self.h
            .app
            .invoices()
            .settle_payment(&sandbox.payment_hash)
            .await
            .unwrap();
        self.h.until_state(&sandbox.id, SandboxState::Running).await;
    }

    /// A Lightning sandbox paid and running.
    pub async fn paid_lightning_sandbox(&self, sats: u64) -> LightningSandbox {
        let sandbox = self.lightning_sandbox(sats).await;
        self.pay(&sandbox).await;
        sandbox
    }
}

/// A caller aimed at one sandbox, sending requests written as one line,
/// `"METHOD /path[ JSON body] => STATUS[ code]"`, where `{sb}` stands for
/// `/v1/sandboxes/<id>` and `{id}` for the sandbox id. The answer must have
/// that status; with a code it must be the error `{"code","message"}`
/// naming it.
pub struct Client<'a> {
    server: &'a Server,
    auth: Option<String>,
    id: String,
}

impl Client<'_> {
    /// Send the case's request, check its answer, and return its JSON.
    pub async fn expect(&self, case: &str) -> Value {
        let case = case
            .replace("{sb}", &format!("/v1/sandboxes/{}", self.id))
            .replace("{id}", &self.id);
        let (request, expected) = case.rsplit_once(" => ").unwrap();
        let (status, code) = expected.split_once(' ').unwrap_or((expected, ""));
        let answer = self
            .server
            .request(self.auth.as_deref(), request)
            .send()
            .await;
        assert_eq!(answer.status.as_str(), status, "{case}: {}", answer.text());
        assert!(
            answer
                .header("content-type")
                .starts_with("application/json"),
            "{case}: {:?}",
            answer.headers
        );
        let body = answer.json();
        if !code.is_empty() {
            assert_eq!(body["code"], code, "{case}: {body}");
            let fields: Vec<&String> = body.as_object().unwrap().keys().collect();
            assert_eq!(fields, ["code", "message"], "{case}: {body}");
        }
        body
    }

    /// `expect` every case, in order.
    pub async fn expect_all(&self, cases: &[&str]) {
        for case in cases {
            self.expect(case).await;
        }
    }
}

/// A request on its way: headers and body, then `send`.
pub struct Call<'a> {
    server: &'a Server,
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: Body,
}

impl Call<'_> {
    /// `Authorization: Bearer <secret>`.
    pub fn auth(self, secret: &str) -> Self {
        self.header("authorization", &format!("Bearer {secret}"))
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
        self
    }

    /// A JSON body, with its content type.
    pub fn json(self, value: Value) -> Self {
        self.header("content-type", "application/json")
            .body(value.to_string())
    }

    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    pub async fn send(self) -> Answer {
        let mut request = Request::builder()
            .method(self.method)
            .uri(&self.uri)
            .body(self.body)
            .unwrap();
        *request.headers_mut() = self.headers;
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(CLIENT)));
        let response = self.server.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            axum::body::to_bytes(response.into_body(), usize::MAX),
        )
        .await
        .unwrap_or_else(|_| panic!("the answer to {} never ended", self.uri))
        .unwrap();
        Answer {
            status,
            headers,
            body,
        }
    }
}

/// An answer, read whole.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .unwrap()
    }

    /// The JSON body of an answer that must have `status`.
    pub fn ok(self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "{}", self.text());
        self.json()
    }

    /// Assert the answer is the error `{"code","message"}` with `status`
    /// and `code`; returns the message.
    pub fn error(self, status: StatusCode, code: &str) -> String {
        assert_eq!(self.status, status, "{}", self.text());
        let body = self.json();
        assert_eq!(body["code"], code, "{body}");
        let fields: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(fields, ["code", "message"], "{body}");
        let message = body["message"].as_str().unwrap().to_string();
        assert!(!message.is_empty(), "{body}");
        message
    }
}
