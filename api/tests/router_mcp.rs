//! The MCP server at `/v1/mcp` through the real router over fakes: the
//! Streamable HTTP handshake (initialize, the session header, initialized,
//! tools/list with the eleven `sandbox_*` tools), every tool's success and
//! its errors as tool errors naming the REST code, sessions that remember
//! sandbox tokens and answer only their opener, and the Host check.
#![allow(clippy::unwrap_used)]

mod support;

use axum::http::StatusCode;
use commands::testing::{FAKE_DAEMON, FAKE_SLEEP};
use domain::sandbox::SandboxState;
use serde_json::{json, Value};
use support::{Answer, Server, UNKNOWN_ID};

const PROTOCOL: &str = "2025-03-26";

const TOOLS: [&str; 11] = [
    "sandbox_create",
    "sandbox_exec",
    "sandbox_extend_balance",
    "sandbox_kill_processes",
    "sandbox_list_files",
    "sandbox_pause",
    "sandbox_read_file",
    "sandbox_resume",
    "sandbox_status",
    "sandbox_terminate",
    "sandbox_write_file",
];

/// The JSON-RPC messages of an answer: its JSON body, or the `data:`
/// lines of its event stream.
fn messages(answer: &Answer) -> Vec<Value> {
    let is_json = answer
        .headers
        .get("content-type")
        .is_some_and(|t| t.to_str().unwrap().starts_with("application/json"));
    if is_json {
        return vec![answer.json()];
    }
    answer
        .text()
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim)
        .filter(|data| !data.is_empty())
        .map(|data| serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data}")))
        .collect()
}

/// A POST to the endpoint as `auth`, naming `session` if any.
fn post_mcp<'a>(
    server: &'a Server,
    auth: Option<&str>,
    session: Option<&str>,
    body: Value,
) -> support::Call<'a> {
    let mut call = server
        .request(auth, "POST /v1/mcp")
        .header("accept", "application/json, text/event-stream")
        .json(body);
    if let Some(session) = session {
        call = call
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", PROTOCOL);
    }
    call
}

fn initialize() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": { "protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": { "name": "router-test", "version": "1" } }
    })
}

/// An MCP session over the test server, aimed at one sandbox: tool calls
/// without a `sandbox_id` argument get that one.
struct Session<'a> {
    server: &'a Server,
    auth: Option<String>,
    id: String,
    next: u64,
    sandbox: String,
}

/// What a tool answered: whether it is an error, and its text.
struct ToolAnswer {
    is_error: bool,
    text: String,
}

impl<'a> Session<'a> {
    /// Initialize, read the session id, and send `notifications/initialized`.
    async fn open(server: &'a Server, auth: Option<&str>) -> Session<'a> {
        let opened = post_mcp(server, auth, None, initialize()).send().await;
        assert_eq!(opened.status, StatusCode::OK, "{}", opened.text());
        let answer = messages(&opened).pop().unwrap();
        assert_eq!(answer["id"], 0);
        assert_eq!(answer["result"]["serverInfo"]["name"], "sockt");
        assert!(answer["result"]["capabilities"]["tools"].is_object());
        let session = Session {
            server,
            auth: auth.map(str::to_string),
            id: opened.header("mcp-session-id").to_string(),
            next: 1,
            sandbox: String::new(),
        };
        let initialized = session
            .send(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
            .await;
        assert_eq!(initialized.status, StatusCode::ACCEPTED);
        session
    }

    /// This session, aimed at `sandbox`.
    fn on(mut self, sandbox: &str) -> Self {
        self.sandbox = sandbox.to_string();
        self
    }

    async fn send(&self, body: Value) -> Answer {
        post_mcp(self.server, self.auth.as_deref(), Some(&self.id), body)
            .send()
            .await
    }

    /// A JSON-RPC request; its response message.
    async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let answer = self
            .send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        messages(&answer)
            .into_iter()
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("no answer to {method}: {}", answer.text()))
    }

    async fn tool(&mut self, name: &str, mut arguments: Value) -> ToolAnswer {
        if arguments.get("sandbox_id").is_none() && !self.sandbox.is_empty() {
            arguments["sandbox_id"] = json!(self.sandbox);
        }
        let answer = self
            .request(
                "tools/call",
                json!({ "name": name, "arguments": arguments }),
            )
            .await;
        let content = answer["result"]["content"].as_array().unwrap();
        assert_eq!(content.len(), 1, "{answer}");
        assert_eq!(content[0]["type"], "text");
        ToolAnswer {
            is_error: answer["result"]["isError"] == true,
            text: content[0]["text"].as_str().unwrap().to_string(),
        }
    }

    /// A tool call that must succeed; its answer as JSON.
    async fn ok(&mut self, name: &str, arguments: Value) -> Value {
        let answer = self.tool(name, arguments).await;
        assert!(!answer.is_error, "{name}: {}", answer.text);
        serde_json::from_str(&answer.text).unwrap_or_else(|e| panic!("{e}: {}", answer.text))
    }

    /// A tool call that must be a tool error naming `code`; its text.
    async fn fails(&mut self, name: &str, arguments: Value, code: &str) -> String {
        let answer = self.tool(name, arguments).await;
        assert!(answer.is_error, "{name} did not fail: {}", answer.text);
        assert!(
            answer.text.contains(&format!("({code}). Next: ")),
            "{name}: expected {code}: {}",
            answer.text
        );
        answer.text
    }
}

/// A keyed session aimed at the tenant's running sandbox (`with_sandbox`).
async fn keyed<'a>(server: &'a Server, key: &str, id: &str) -> Session<'a> {
    Session::open(server, Some(key)).await.on(id)
}

// ---- the handshake --------------------------------------------------------------

#[tokio::test]
async fn the_handshake_opens_a_session_listing_the_eleven_tools() {
    let s = Server::new();
    let mut session = Session::open(&s, None).await;
    let listed = session.request("tools/list", json!({})).await;
    let tools = listed["result"]["tools"].as_array().unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, TOOLS);
    for tool in tools {
        let description = tool["description"].as_str().unwrap();
        assert!(description.len() > 20, "{tool}");
        let schema = &tool["inputSchema"];
        assert_eq!(schema["type"], "object", "{tool}");
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().map(|v| v.as_str().unwrap()).collect())
            .unwrap_or_default();
        let expected = match tool["name"].as_str().unwrap() {
            "sandbox_create" => vec!["tier"],
            "sandbox_exec" => vec!["sandbox_id", "command"],
            "sandbox_write_file" => vec!["sandbox_id", "path", "content"],
            "sandbox_read_file" => vec!["sandbox_id", "path"],
            _ => vec!["sandbox_id"],
        };
        for field in expected {
            assert!(required.contains(&field), "{field} of {tool}");
        }
    }
}

#[tokio::test]
async fn a_foreign_host_is_refused() {
    let s = Server::new();
    let refused = post_mcp(&s, None, None, initialize())
        .header("host", "evil.example")
        .send()
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    assert!(refused.headers.get("mcp-session-id").is_none());
    let allowed = post_mcp(&s, None, None, initialize())
        .header("host", "localhost:9999")
        .send()
        .await;
    assert_eq!(allowed.status, StatusCode::OK, "loopback on any port");
}

#[tokio::test]
async fn a_session_answers_only_the_credential_that_opened_it() {
    let s = Server::new();
    let alice = s.tenant(10).await;
    let bob = s.tenant(10).await;
    let mut session = Session::open(&s, Some(&alice.key)).await;
    let list = json!({ "jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": {} });
    for intruder in [Some(bob.key.as_str()), None] {
        post_mcp(&s, intruder, Some(&session.id), list.clone())
            .send()
            .await
            .error(StatusCode::NOT_FOUND, "session_not_found");
    }
    let still = session.request("tools/list", json!({})).await;
    assert_eq!(still["result"]["tools"].as_array().unwrap().len(), 11);

    // Nor does an anonymous session take a key.
    let anonymous = Session::open(&s, None).await;
    post_mcp(&s, Some(&alice.key), Some(&anonymous.id), list)
        .send()
        .await
        .error(StatusCode::NOT_FOUND, "session_not_found");
}

#[tokio::test]
async fn requests_without_a_live_session_are_refused() {
    let s = Server::new();
    let list = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {} });
    let unknown = post_mcp(&s, None, Some("no-such-session"), list.clone())
        .send()
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text());
    let missing = post_mcp(&s, None, None, list).send().await;
    assert!(missing.status.is_client_error(), "{}", missing.status);
}

#[tokio::test]
async fn an_unknown_tool_is_a_json_rpc_error_and_bad_arguments_a_tool_error() {
    let (s, alice, id) = Server::with_sandbox().await;
    let mut session = keyed(&s, &alice.key, &id).await;
    let unknown = session
        .request(
            "tools/call",
            json!({ "name": "sandbox_fly", "arguments": {} }),
        )
        .await;
    assert!(unknown["error"]["code"].is_i64(), "{unknown}");
    assert!(unknown.get("result").is_none(), "{unknown}");
    // rmcp answers arguments that do not parse as a tool error.
    let missing = session.tool("sandbox_exec", json!({})).await;
    assert!(missing.is_error);
    assert!(
        missing.text.contains("missing field `command`"),
        "{}",
        missing.text
    );
}

// ---- the tools ---------------------------------------------------------------------

#[tokio::test]
async fn create_with_a_key_answers_a_running_credits_sandbox() {
    let s = Server::new();
    let tenant = s.tenant(100).await;
    let mut session = Session::open(&s, Some(&tenant.key)).await;
    let arguments = json!({ "tier": "nano", "initial_credits_cents": 5 });
    let created = session.ok("sandbox_create", arguments).await;
    assert_eq!(created["status"], "running");
    assert_eq!(created["billing_method"], "credits");
    assert!(created["sandbox_token"]
        .as_str()
        .unwrap()
        .starts_with("sbx_"));
    assert!(created["next"].as_str().unwrap().contains("sandbox_exec"));
    assert_eq!(created["billing"]["billing_method"], "credits");
    assert_eq!(created["billing"]["balance_msats"], 50_000);
}

#[tokio::test]
async fn create_without_a_key_answers_an_invoice_and_the_session_remembers_the_token() {
    let s = Server::new();
    let mut session = Session::open(&s, None).await;
    let arguments = json!({ "tier": "nano", "prepaid_sats": 20 });
    let created = session.ok("sandbox_create", arguments).await;
    assert_eq!(created["status"], "awaiting_payment");
    assert_eq!(created["billing_method"], "lightning");
    let invoice = &created["pending_invoice"];
    assert_eq!(invoice["amount_sats"], 20);
    assert_eq!(created["billing"]["pending_invoice"], *invoice);
    let next = created["next"].as_str().unwrap();
    assert!(next.contains("pay pending_invoice.bolt11"), "{next}");
    let id = created["sandbox_id"].as_str().unwrap().to_string();
    let token = created["sandbox_token"].as_str().unwrap().to_string();
    let mut session = session.on(&id);

    // Before it is paid, commands need the payment.
    let unpaid = session
        .fails(
            "sandbox_exec",
            json!({ "command": "ls" }),
            "payment_required",
        )
        .await;
    assert!(
        unpaid.contains(invoice["bolt11"].as_str().unwrap()),
        "{unpaid}"
    );

    let hash = invoice["payment_hash"].as_str().unwrap();
    s.h.gateway.settle(hash);
    s.h.app.invoices().settle_payment(hash).await.unwrap();
    s.h.until_state(&id, SandboxState::Running).await;
    // The session uses the token it remembered.
    let status = session.ok("sandbox_status", json!({})).await;
    assert_eq!(status["status"], "running");

    // Another session needs the token.
    let mut other = Session::open(&s, None).await.on(&id);
    other
        .fails("sandbox_status", json!({}), "sandbox_not_found")
        .await;
    let arguments = json!({ "sandbox_token": token });
    let with_token = other.ok("sandbox_status", arguments).await;
    assert_eq!(with_token["sandbox_id"], id.as_str());
}

#[tokio::test]
async fn create_refuses_bad_arguments_with_their_codes() {
    let s = Server::new();
    let tenant = s.tenant(1).await;
    let mut keyed = Session::open(&s, Some(&tenant.key)).await;
    keyed
        .fails("sandbox_create", json!({ "tier": "huge" }), "invalid_tier")
        .await;
    let arguments = json!({ "tier": "nano", "initial_credits_cents": 500 });
    let broke = keyed
        .fails("sandbox_create", arguments, "insufficient_credits")
        .await;
    assert!(broke.contains("ask its owner to add credits"), "{broke}");
    let mut anonymous = Session::open(&s, None).await;
    let arguments = json!({ "tier": "nano", "billing_method": "credits" });
    anonymous
        .fails("sandbox_create", arguments, "unauthorized")
        .await;
    let arguments = json!({ "tier": "nano", "prepaid_sats": 0 });
    anonymous
        .fails("sandbox_create", arguments, "invalid_amount")
        .await;
}

#[tokio::test]
async fn exec_runs_a_command_or_starts_it_in_the_background() {
    let (s, alice, id) = Server::with_sandbox().await;
    let mut session = keyed(&s, &alice.key, &id).await;
    let done = session
        .ok("sandbox_exec", json!({ "command": "echo hi" }))
        .await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["exit_code"], 0);
    assert_eq!(done["stdout"], "echo hi\n");
    assert_eq!(done["stderr"], "");
    assert!(done.get("billing").is_none(), "credits carry no notice");

    let arguments = json!({ "command": FAKE_SLEEP, "background": true });
    let background = session.ok("sandbox_exec", arguments).await;
    assert_eq!(background["status"], "running");
    let execution = background["execution_id"].as_str().unwrap();
    let note = background["note"].as_str().unwrap();
    assert!(
        note.contains(&format!("/v1/executions/{execution}")),
        "{note}"
    );
}

#[tokio::test]
async fn exec_errors_say_what_to_do_next() {
    let (s, alice, id) = Server::with_sandbox().await;
    let mut session = keyed(&s, &alice.key, &id).await;
    let arguments = json!({ "sandbox_id": UNKNOWN_ID, "command": "ls" });
    session
        .fails("sandbox_exec", arguments, "sandbox_not_found")
        .await;
    let arguments = json!({ "command": "ls", "env": { "1BAD": "x" } });
    session
        .fails("sandbox_exec", arguments, "invalid_request")
        .await;
    session.ok("sandbox_pause", json!({})).await;
    let paused = session
        .fails("sandbox_exec", json!({ "command": "ls" }), "sandbox_paused")
        .await;
    assert!(paused.ends_with("call sandbox_resume first"), "{paused}");
}

#[tokio::test]
async fn files_are_written_read_and_listed() {
    let (s, alice, id) = Server::with_sandbox().await;
    let mut session = keyed(&s, &alice.key, &id).await;
    let arguments = json!({ "path": "a.txt", "content": "hello" });
    let written = session.ok("sandbox_write_file", arguments).await;
    assert_eq!(
        written,
        json!({ "written": true, "path": "/home/sandbox/a.txt", "size": 5 })
    );
    let read = session
        .ok("sandbox_read_file", json!({ "path": "a.txt" }))
        .await;
    assert_eq!(
        read,
        json!({ "path": "/home/sandbox/a.txt", "size": 5, "truncated": false, "content": "hello" })
    );
    let arguments = json!({ "path": "a.txt", "max_bytes": 2 });
    let head = session.ok("sandbox_read_file", arguments).await;
    assert_eq!(head["content"], "he");
    assert!(head["note"].as_str().unwrap().contains("5-byte file"));

    let arguments = json!({ "path": "b.bin", "content": "/wAB", "encoding": "base64" });
    session.ok("sandbox_write_file", arguments).await;
    let arguments = json!({ "path": "b.bin", "encoding": "base64" });
    let binary = session.ok("sandbox_read_file", arguments).await;
    assert_eq!(binary["content_b64"], "/wAB");
    session
        .fails("sandbox_read_file", json!({ "path": "b.bin" }), "not_utf8")
        .await;

    let listed = session
        .ok("sandbox_list_files", json!({ "recursive": true }))
        .await;
    assert_eq!(
        listed,
        json!({ "path": "/home/sandbox", "entries": [], "total": 0 })
    );
}

#[tokio::test]
async fn file_tools_refuse_bad_arguments() {
    let (s, alice, id) = Server::with_sandbox().await;
    let mut session = keyed(&s, &alice.key, &id).await;
    for (encoding, code) in [("rot13", "invalid_request"), ("base64", "invalid_base64")] {
        let arguments = json!({ "path": "a", "content": "!!", "encoding": encoding });
        session.fails("sandbox_write_file", arguments, code).await;
    }
    let missing = session
        .fails(
            "sandbox_read_file",
            json!({ "path": "nope" }),
            "file_not_found",
        )
        .await;
    assert!(missing.contains("sandbox_list_files"), "{missing}");
    let arguments = json!({ "sandbox_id": UNKNOWN_ID });
    session
        .fails("sandbox_list_files", arguments, "sandbox_not_found")
        .await;
}

#[tokio::test]
async fn status_is_the_rest_status_with_a_billing_notice() {
    let (s, alice, id) = Server::with_sandbox().await;
    let mut session = keyed(&s, &alice.key, &id).await;
    let mut status = session.ok("sandbox_status", json!({})).await;
    let billing = status.as_object_mut().unwrap().remove("billing").unwrap();
    assert_eq!(billing["billing_method"], "credits");
    assert_eq!(billing["balance_msats"], 10_000);
    assert_eq!(
        status,
        s.status(&alice.key, &id).await,
        "one status object for both transports"
    );
}

#[tokio::test]
async fn pause_and_resume_answer_the_status() {
    let (s, alice, id) = Server::with_sandbox().await;
    let mut session = keyed(&s, &alice.key, &id).await;
    let paused = session.ok("sandbox_pause", json!({})).await;
    assert_eq!(paused["status"], "paused");
    assert_eq!(paused["pause_reason"], "requested");
    let resumed = session.ok("sandbox_resume", json!({})).await;
    assert_eq!(resumed["status"], "running");
    let mut unknown = session.on(UNKNOWN_ID);
    for tool in ["sandbox_pause", "sandbox_resume"] {
        unknown.fails(tool, json!({}), "sandbox_not_found").await;
    }
}

#[tokio::test]
async fn kill_processes_answers_as_rest_does() {
    let (s, alice, id) = Server::with_sandbox().await;
    let mut session = keyed(&s, &alice.key, &id).await;
    session
        .ok("sandbox_exec", json!({ "command": FAKE_DAEMON }))
        .await;
    let killed = session.ok("sandbox_kill_processes", json!({})).await;
    assert_eq!(
        killed,
        json!({ "sandbox_id": id, "killed": 1, "cancelled_executions": [] })
    );
    session.ok("sandbox_pause", json!({})).await;
    session
        .fails("sandbox_kill_processes", json!({}), "sandbox_paused")
        .await;
}

#[tokio::test]
async fn terminate_returns_the_unused_balance() {
    let (s, alice, id) = Server::with_sandbox().await;
    let mut session = keyed(&s, &alice.key, &id).await;
    s.h.clock.advance_ms(10_000);
    let ended = session.ok("sandbox_terminate", json!({})).await;
    assert_eq!(
        ended,
        json!({
            "sandbox_id": id, "status": "terminated", "terminated": true, "consumed_msats": 5_000,
            "refund": { "destination": "account", "amount_msats": 5_000 },
        })
    );
    let after = session
        .fails(
            "sandbox_exec",
            json!({ "command": "ls" }),
            "sandbox_terminated",
        )
        .await;
    assert!(after.contains("sandbox_create"), "{after}");
}

#[tokio::test]
async fn terminating_a_lightning_sandbox_offers_a_withdraw_link() {
    let s = Server::new();
    let sandbox = s.paid_lightning_sandbox(30).await;
    let mut session = Session::open(&s, None).await.on(&sandbox.id);
    let invented = json!({ "sandbox_token": "sbx_invented" });
    session
        .fails("sandbox_terminate", invented, "sandbox_not_found")
        .await;
    let arguments = json!({ "sandbox_token": sandbox.token });
    let ended = session.ok("sandbox_terminate", arguments).await;
    assert_eq!(ended["status"], "terminated");
    let refund = &ended["refund"];
    assert_eq!(refund["destination"], "lnurl_withdraw");
    assert_eq!(refund["amount_msats"], 30_000);
    assert!(refund["lnurl"].as_str().unwrap().starts_with("LNURL1"));
}

#[tokio::test]
async fn extend_balance_moves_credits_or_asks_for_an_invoice() {
    let (s, alice, id) = Server::with_sandbox().await;
    let mut session = keyed(&s, &alice.key, &id).await;
    let extended = session
        .ok("sandbox_extend_balance", json!({ "credits_cents": 3 }))
        .await;
    assert_eq!(extended["prepaid_balance_msats"], 40_000);
    let arguments = json!({ "credits_cents": 10_000 });
    session
        .fails("sandbox_extend_balance", arguments, "insufficient_credits")
        .await;

    let sandbox = s.paid_lightning_sandbox(10).await;
    let arguments = json!({ "sandbox_id": sandbox.id, "sandbox_token": sandbox.token, "sats": 40 });
    let topped = session.ok("sandbox_extend_balance", arguments).await;
    let billing = &topped["billing"];
    assert_eq!(billing["pending_invoice"]["amount_sats"], 40);
    let action = billing["action"].as_str().unwrap();
    assert!(action.contains("pay pending_invoice.bolt11"), "{action}");
}

#[tokio::test]
async fn another_tenants_sandbox_is_not_found_by_any_tool() {
    let (s, _, id) = Server::with_sandbox().await;
    let bob = s.tenant(10).await;
    let mut session = keyed(&s, &bob.key, &id).await;
    for (tool, arguments) in [
        ("sandbox_status", json!({})),
        ("sandbox_pause", json!({})),
        ("sandbox_resume", json!({})),
        ("sandbox_kill_processes", json!({})),
        ("sandbox_terminate", json!({})),
        ("sandbox_extend_balance", json!({ "credits_cents": 1 })),
        ("sandbox_exec", json!({ "command": "ls" })),
        ("sandbox_write_file", json!({ "path": "a", "content": "x" })),
        ("sandbox_read_file", json!({ "path": "a" })),
        ("sandbox_list_files", json!({})),
    ] {
        session.fails(tool, arguments, "sandbox_not_found").await;
    }
    assert_eq!(s.h.sandbox(&id).await.state, SandboxState::Running);
}

#[tokio::test]
async fn the_mcp_endpoint_shares_the_callers_rate_limit() {
    let s = Server::with_rate_limit(2);
    let tenant = s.tenant(10).await;
    let _session = Session::open(&s, Some(&tenant.key)).await;
    post_mcp(&s, Some(&tenant.key), None, initialize())
        .send()
        .await
        .error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}
