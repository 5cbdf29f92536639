//! The eleven `sandbox_*` tools. Each resolves who is calling (an explicit
//! `sandbox_token`, a token this session remembers, the API key of the
//! Authorization header, or nobody), calls the application, and renders.

use super::render::{self, fit, TEXT_LIMIT};
use crate::presentation::encoding::{encode_base64, utf8_text, Encoding};
use crate::presentation::wire;
use crate::state::AppState;
use axum::http::request::Parts;
use commands::{AppError, CreateSandbox, DefaultBilling, Principal};
use domain::ids::SandboxId;
use domain::sandbox::{BillingMethod, SandboxState};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{schemars, tool, tool_handler, tool_router, ErrorData, ServerHandler};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One MCP session.
#[derive(Clone)]
pub struct SocktMcp {
    state: AppState,
    /// Sandbox tokens of sandboxes created in this session, by sandbox id.
    tokens: Arc<Mutex<HashMap<String, String>>>,
    tool_router: ToolRouter<Self>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct CreateParams {
    #[schemars(
        description = "Size and price: nano (0.5 sat/s), micro (1), small (2.5), medium (5), large (10). See the server's tiers."
    )]
    pub tier: String,
    #[schemars(
        description = "'credits' (needs an API key in the Authorization header) or 'lightning' (no account: pay the returned invoice). Default: credits with an API key, lightning without."
    )]
    pub billing_method: Option<String>,
    #[schemars(
        description = "Lightning only: sats to prepay; the sandbox starts once the invoice is paid."
    )]
    pub prepaid_sats: Option<u64>,
    #[schemars(
        description = "Credits only: US cents of the account's credits to allocate to this sandbox."
    )]
    pub initial_credits_cents: Option<u64>,
    #[schemars(description = "A name for your own bookkeeping.")]
    pub label: Option<String>,
    #[schemars(
        description = "Outbound network: {\"internet\": false} to cut it, with \"allow\"/\"deny\" lists of IPv4 CIDRs or host names. Default: internet on."
    )]
    pub network: Option<wire::NetworkParams>,
    #[schemars(
        description = "Terminate the sandbox (refunding its balance) this many seconds after it starts. Default: never."
    )]
    pub timeout_secs: Option<u64>,
    #[schemars(
        description = "Pause the sandbox (billing stops) after this many seconds with no command running, no shell open and nothing started. Default: never."
    )]
    pub idle_pause_secs: Option<u64>,
    #[schemars(
        description = "Environment variables for every command in the sandbox (values are never shown again)."
    )]
    pub env: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SandboxParams {
    #[schemars(description = "The sandbox, from sandbox_create.")]
    pub sandbox_id: String,
    #[schemars(
        description = "The sandbox's token (sbx_...), needed only for a sandbox created in another MCP session without an API key."
    )]
    pub sandbox_token: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ExecParams {
    pub sandbox_id: String,
    #[schemars(
        description = "Shell command, run as `/bin/bash -lc COMMAND` by the non-root user `sandbox`."
    )]
    pub command: String,
    #[schemars(description = "Directory to run in; relative paths start at /home/sandbox.")]
    pub working_dir: Option<String>,
    #[schemars(
        description = "Kill the command (and its children) after this many ms; default 30000."
    )]
    pub timeout_ms: Option<u64>,
    #[schemars(
        description = "Start it and return at once (for servers, long builds): the answer says how to follow, list and stop it. Without timeout_ms it may run for the longest allowed time."
    )]
    pub background: Option<bool>,
    #[schemars(
        description = "Environment variables for this command (values are never recorded)."
    )]
    pub env: Option<std::collections::BTreeMap<String, String>>,
    pub sandbox_token: Option<String>,
}

/// A command that ran this long gets a note on running in the background.
const LONG_COMMAND_MS: u64 = 10_000;

/// How to follow, list and stop a running command.
fn follow_note(public_url: &str, sandbox_id: &str, execution_id: &str) -> String {
    format!(
        "follow its output as Server-Sent Events at GET {public_url}/v1/executions/{execution_id}/stream (resumable with Last-Event-ID), poll GET {public_url}/v1/executions/{execution_id}, list running commands at GET {public_url}/v1/sandboxes/{sandbox_id}/executions?status=running, stop it with DELETE {public_url}/v1/executions/{execution_id}; its files stay readable with sandbox_read_file (redirect its output to a file to read it here)"
    )
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct WriteParams {
    pub sandbox_id: String,
    #[schemars(
        description = "File path; relative paths start at /home/sandbox. Writable: /home/sandbox and /tmp."
    )]
    pub path: String,
    #[schemars(description = "The file's content: text, or base64 when encoding is 'base64'.")]
    pub content: String,
    #[schemars(description = "'utf8' (default) or 'base64' for binary content.")]
    pub encoding: Option<String>,
    #[schemars(description = "Create missing parent directories (default true).")]
    pub create_dirs: Option<bool>,
    pub sandbox_token: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ReadParams {
    pub sandbox_id: String,
    #[schemars(description = "File path; relative paths start at /home/sandbox.")]
    pub path: String,
    #[schemars(description = "'utf8' (default) for text, 'base64' for binary files.")]
    pub encoding: Option<String>,
    #[schemars(description = "Read at most this many bytes from the start (default 65536).")]
    pub max_bytes: Option<u64>,
    pub sandbox_token: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ListParams {
    pub sandbox_id: String,
    #[schemars(
        description = "Directory to list; relative paths start at /home/sandbox (default: the home directory)."
    )]
    pub path: Option<String>,
    #[schemars(description = "List subdirectories too.")]
    pub recursive: Option<bool>,
    #[schemars(description = "With recursive: how many levels deep (1-32).")]
    pub max_depth: Option<u32>,
    pub sandbox_token: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct TerminateParams {
    pub sandbox_id: String,
    #[schemars(
        description = "Lightning only: a Lightning Address (name@host) that receives the unused sats. Without it the answer holds an LNURL-withdraw link to claim them."
    )]
    pub lightning_address: Option<String>,
    pub sandbox_token: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ExtendParams {
    pub sandbox_id: String,
    #[schemars(description = "Lightning sandboxes: sats to add; answers with an invoice to pay.")]
    pub sats: Option<u64>,
    #[schemars(description = "Credits sandboxes: US cents of credits to move from the account.")]
    pub credits_cents: Option<u64>,
    pub sandbox_token: Option<String>,
}

const MAX_LISTED: usize = 500;
const READ_DEFAULT: u64 = 64 * 1024;

impl SocktMcp {
    pub fn new(state: AppState) -> SocktMcp {
        SocktMcp {
            state,
            tokens: Arc::default(),
            tool_router: Self::tool_router(),
        }
    }

    fn remembered(&self, sandbox_id: &str) -> Option<String> {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(sandbox_id)
            .cloned()
    }

    fn remember(&self, sandbox_id: &str, token: &str) {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sandbox_id.to_string(), token.to_string());
    }

    /// The caller of the HTTP request behind this tool call.
    async fn header_principal(&self, parts: &Parts) -> Result<Principal, AppError> {
        let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return Ok(Principal::Anonymous);
        };
        let value = value
            .to_str()
            .map_err(|_| AppError::Unauthorized("malformed Authorization header".into()))?;
        crate::presentation::principal_for(&self.state, Some(value)).await
    }

    /// Who may act on `sandbox_id`: an explicit token, this session's token, or the header.
    async fn principal_for(
        &self,
        parts: &Parts,
        sandbox_id: &str,
        explicit: Option<&str>,
    ) -> Result<Principal, AppError> {
        if let Some(token) = explicit.map(str::trim).filter(|t| !t.is_empty()) {
            return self.state.app.queries().principal_for_secret(token).await;
        }
        if let Some(token) = self.remembered(sandbox_id) {
            return self.state.app.queries().principal_for_secret(&token).await;
        }
        self.header_principal(parts).await
    }

    /// The sandbox's current view (for billing notices and error hints).
    fn view(&self, principal: &Principal, sandbox_id: &str) -> Option<projections::SandboxView> {
        let id = SandboxId::parse(sandbox_id).ok()?;
        self.state.app.queries().sandbox(principal, &id).ok()
    }

    fn status_json(&self, view: projections::SandboxView, token: Option<&str>) -> Value {
        let status = self.state.app.queries().present(view);
        let mut answer = wire::sandbox_status(
            &status,
            &self.state.public_url,
            &self.state.proxy_origins,
            token,
        );
        answer["billing"] = render::billing(&status);
        answer
    }

    /// Resolve the caller for `sandbox_id`, run `tool` as them, and render
    /// its answer, or its error as a tool error with a hint.
    async fn on_sandbox<F, Fut>(
        &self,
        parts: &Parts,
        sandbox_id: &str,
        token: Option<&str>,
        tool: F,
    ) -> ToolResult
    where
        F: FnOnce(Principal, SandboxId) -> Fut,
        Fut: std::future::Future<Output = Result<Value, AppError>>,
    {
        // A malformed id is answered as an unknown one, before anything runs.
        let id = match crate::presentation::ids::parse::<SandboxId>(sandbox_id) {
            Ok(id) => id,
            Err(e) => return Ok(self.failure(e, None, None)),
        };
        let principal = match self.principal_for(parts, sandbox_id, token).await {
            Ok(principal) => principal,
            Err(e) => return Ok(self.failure(e, None, None)),
        };
        match tool(principal.clone(), id).await {
            Ok(answer) => Ok(render::ok(answer)),
            Err(e) => Ok(self.failure(e, Some(&principal), Some(sandbox_id))),
        }
    }

    fn failure(
        &self,
        e: AppError,
        principal: Option<&Principal>,
        sandbox_id: Option<&str>,
    ) -> CallToolResult {
        let view = match (principal, sandbox_id) {
            (Some(p), Some(id)) => self.view(p, id),
            _ => None,
        };
        render::error(&e, view.as_ref())
    }
}

type ToolResult = Result<CallToolResult, ErrorData>;

#[tool_router]
impl SocktMcp {
    #[tool(
        description = "Create an isolated Linux sandbox (Debian, bash, python3, pip, git, curl) billed per second. With an API key it uses credits and is running when this returns; without one it bills in sats: pay the returned Lightning invoice with your wallet, then call sandbox_status until it is running. The sandbox token is remembered by this session."
    )]
    async fn sandbox_create(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(p): Parameters<CreateParams>,
    ) -> ToolResult {
        let created = async {
            let principal = self.header_principal(&parts).await?;
            let request = CreateSandbox {
                tier: p.tier,
                billing_method: p.billing_method,
                prepaid_sats: p.prepaid_sats,
                initial_credits_cents: p.initial_credits_cents,
                label: p.label,
                default_billing: DefaultBilling::ByCaller,
                client: parts
                    .extensions
                    .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                    .map(|c| c.0.ip().to_string()),
                network: p.network.map(Into::into),
                timeout_secs: p.timeout_secs,
                idle_pause_secs: p.idle_pause_secs,
                env: p.env.unwrap_or_default(),
            };
            // The model can use a credits sandbox as soon as this returns.
            self.state
                .app
                .sandboxes()
                .create_sandbox_and_wait(&principal, request, commands::CREATE_WAIT)
                .await
        };
        let (current, token) = match created.await {
            Ok(created) => created,
            Err(e) => return Ok(self.failure(e, None, None)),
        };
        self.remember(&current.sandbox_id, &token);
        let state = current.state;
        let mut answer = self.status_json(current, Some(&token));
        answer["next"] = json!(match state {
            SandboxState::AwaitingPayment => "pay pending_invoice.bolt11 with your Lightning wallet, then call sandbox_status until status is running",
            SandboxState::Running => "the sandbox is running: use sandbox_exec, sandbox_write_file, sandbox_read_file",
            _ => "call sandbox_status until status is running",
        });
        Ok(render::ok(answer))
    }

    #[tool(
        description = "Run a shell command in the sandbox and wait for it to finish (up to timeout_ms). Returns stdout, stderr and exit_code; long output keeps its head and tail with a note of what was left out."
    )]
    async fn sandbox_exec(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(p): Parameters<ExecParams>,
    ) -> ToolResult {
        let p = &p;
        self.on_sandbox(&parts, &p.sandbox_id, p.sandbox_token.as_deref(), |principal, id| async move {
            let options = commands::ExecOptions {
                env: domain::env::EnvVars::new(p.env.clone().unwrap_or_default()).map_err(AppError::invalid)?,
                stdin: false,
            };
            if p.background == Some(true) {
                let timeout_ms = p.timeout_ms.unwrap_or_else(|| self.state.app.executions().background_timeout_ms());
                let started = self.state.app.executions().exec(&principal, &id, &p.command, p.working_dir.as_deref(), Some(timeout_ms), options).await?;
                return Ok(json!({
                    "execution_id": started.execution_id,
                    "status": started.status.as_str(),
                    "timeout_ms": started.timeout_ms,
                    "note": follow_note(&self.state.public_url, &id, &started.execution_id),
                }));
            }
            let poll = self.state.app.executions().exec_and_wait(&principal, &id, &p.command, p.working_dir.as_deref(), p.timeout_ms, options).await?;
            let (stdout, out_cut) = fit(&poll.output.text_of("stdout"), TEXT_LIMIT);
            let (stderr, err_cut) = fit(&poll.output.text_of("stderr"), TEXT_LIMIT);
            let mut answer = json!({
                "execution_id": poll.execution.execution_id,
                "status": poll.execution.status.as_str(),
                "exit_code": poll.execution.exit_code,
                "stdout": stdout,
                "stderr": stderr,
                "error": poll.execution.error,
                "duration_ms": poll.execution.duration_ms,
            });
            if out_cut + err_cut > 0 || poll.output.truncated {
                answer["note"] = json!(format!(
                    "output was cut ({} bytes left out here{}); to see all of it, redirect it to a file in your command and read parts with sandbox_read_file, or GET /v1/executions/{}",
                    out_cut + err_cut,
                    if poll.output.truncated { format!(", {} more between the head and the tail the server kept", poll.output.omitted_bytes) } else { String::new() },
                    poll.execution.execution_id
                ));
            }
            if poll.execution.duration_ms.unwrap_or(0) >= LONG_COMMAND_MS || poll.execution.exit_code == Some(124) {
                answer["follow"] = json!(format!(
                    "long commands can run in the background: call sandbox_exec with background: true, then {}",
                    follow_note(&self.state.public_url, &id, &poll.execution.execution_id)
                ));
            }
            if poll.sandbox.billing == BillingMethod::Lightning {
                answer["billing"] = render::billing(&poll.sandbox);
            }
            Ok(answer)
        })
        .await
    }

    #[tool(
        description = "Write a file into the sandbox (text, or base64 for binary). Parent directories are created unless create_dirs is false."
    )]
    async fn sandbox_write_file(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(p): Parameters<WriteParams>,
    ) -> ToolResult {
        let p = &p;
        self.on_sandbox(
            &parts,
            &p.sandbox_id,
            p.sandbox_token.as_deref(),
            |principal, id| async move {
                let bytes =
                    encoding_named(p.encoding.as_deref())?.decode(p.content.clone(), "content")?;
                let (path, size) = self
                    .state
                    .app
                    .files()
                    .write_file(
                        &principal,
                        &id,
                        &p.path,
                        bytes,
                        p.create_dirs.unwrap_or(true),
                    )
                    .await?;
                Ok(json!({ "written": true, "path": path, "size": size }))
            },
        )
        .await
    }

    #[tool(
        description = "Read a file from the sandbox: text (utf8) or base64 for binary. Reads at most max_bytes (default 64 KiB) from the start; size tells the whole file's length."
    )]
    async fn sandbox_read_file(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(p): Parameters<ReadParams>,
    ) -> ToolResult {
        let p = &p;
        self.on_sandbox(&parts, &p.sandbox_id, p.sandbox_token.as_deref(), |principal, id| async move {
            let encoding = encoding_named(p.encoding.as_deref())?;
            let file = self.state.app.files().read_file(&principal, &id, &p.path, Some(p.max_bytes.unwrap_or(READ_DEFAULT))).await?;
            let mut answer = json!({ "path": file.path, "size": file.size, "truncated": file.truncated });
            match encoding {
                Encoding::Base64 => answer["content_b64"] = json!(encode_base64(&file.bytes)),
                Encoding::Utf8 => answer["content"] = json!(utf8_text(file.bytes, file.truncated)?),
            }
            if file.truncated {
                answer["note"] = json!(format!(
                    "only the first bytes of a {}-byte file are shown; read more with a larger max_bytes, or view a part with sandbox_exec (e.g. tail -c or sed -n)",
                    file.size
                ));
            }
            Ok(answer)
        })
        .await
    }

    #[tool(
        description = "List a directory in the sandbox (names relative to it, sizes, modification times, directories flagged)."
    )]
    async fn sandbox_list_files(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(p): Parameters<ListParams>,
    ) -> ToolResult {
        let p = &p;
        self.on_sandbox(&parts, &p.sandbox_id, p.sandbox_token.as_deref(), |principal, id| async move {
            let path = p.path.as_deref().unwrap_or(".");
            let (path, entries) = self.state.app.files().list_files(&principal, &id, path, p.recursive.unwrap_or(false), p.max_depth).await?;
            let total = entries.len();
            let shown: Vec<Value> = entries
                .into_iter()
                .take(MAX_LISTED)
                .map(|e| json!({ "name": e.name, "size": e.size, "mod_ts": e.mod_ts, "is_dir": e.is_dir }))
                .collect();
            let mut answer = json!({ "path": path, "entries": shown, "total": total });
            if total > MAX_LISTED {
                answer["note"] = json!(format!("{} more entries left out; list a subdirectory or lower max_depth", total - MAX_LISTED));
            }
            Ok(answer)
        })
        .await
    }

    #[tool(
        description = "The sandbox's state (awaiting_payment, creating, running, paused, terminated, failed), balance, seconds of balance left, and any invoice to pay."
    )]
    async fn sandbox_status(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(p): Parameters<SandboxParams>,
    ) -> ToolResult {
        let p = &p;
        self.on_sandbox(
            &parts,
            &p.sandbox_id,
            p.sandbox_token.as_deref(),
            |principal, id| async move {
                Ok(self.status_json(self.state.app.queries().sandbox(&principal, &id)?, None))
            },
        )
        .await
    }

    #[tool(
        description = "Pause the sandbox: its processes freeze, its files stay, and billing stops until sandbox_resume."
    )]
    async fn sandbox_pause(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(p): Parameters<SandboxParams>,
    ) -> ToolResult {
        let p = &p;
        self.on_sandbox(
            &parts,
            &p.sandbox_id,
            p.sandbox_token.as_deref(),
            |principal, id| async move {
                Ok(self.status_json(
                    self.state.app.sandboxes().pause(&principal, &id).await?,
                    None,
                ))
            },
        )
        .await
    }

    #[tool(description = "Resume a paused sandbox (needs a positive balance; billing restarts).")]
    async fn sandbox_resume(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(p): Parameters<SandboxParams>,
    ) -> ToolResult {
        let p = &p;
        self.on_sandbox(
            &parts,
            &p.sandbox_id,
            p.sandbox_token.as_deref(),
            |principal, id| async move {
                Ok(self.status_json(
                    self.state.app.sandboxes().resume(&principal, &id).await?,
                    None,
                ))
            },
        )
        .await
    }

    #[tool(
        description = "Stop every process in the sandbox but its agent: running commands end cancelled, and what they left in the background (servers, runaway loops, a fork bomb) is killed. The sandbox keeps running with its files and balance; it must be running (resume a paused one first)."
    )]
    async fn sandbox_kill_processes(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(p): Parameters<SandboxParams>,
    ) -> ToolResult {
        let p = &p;
        self.on_sandbox(
            &parts,
            &p.sandbox_id,
            p.sandbox_token.as_deref(),
            |principal, id| async move {
                let stopped = self
                    .state
                    .app
                    .executions()
                    .kill_processes(&principal, &id)
                    .await?;
                Ok(wire::processes_killed(&id, &stopped))
            },
        )
        .await
    }

    #[tool(
        description = "Terminate the sandbox: everything in it is deleted and billing ends. Unused credits return to the account; unused sats go to lightning_address, or are claimable through the returned LNURL-withdraw link."
    )]
    async fn sandbox_terminate(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(p): Parameters<TerminateParams>,
    ) -> ToolResult {
        let p = &p;
        self.on_sandbox(&parts, &p.sandbox_id, p.sandbox_token.as_deref(), |principal, id| async move {
            let (view, refund) = self.state.app.sandboxes().terminate(&principal, &id, p.lightning_address.as_deref()).await?;
            let refund = crate::presentation::refunds::terminate_refund_json(&self.state, refund, view.refunded);
            Ok(json!({ "sandbox_id": view.sandbox_id, "status": view.state.as_str(), "terminated": true, "consumed_msats": view.charged.0, "refund": refund }))
        })
        .await
    }

    #[tool(
        description = "Add balance: sats for a Lightning sandbox (answers with an invoice to pay), or credits_cents from the account for a credits sandbox. A sandbox paused for lack of balance resumes once funded."
    )]
    async fn sandbox_extend_balance(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(p): Parameters<ExtendParams>,
    ) -> ToolResult {
        let p = &p;
        let parts_ref = &parts;
        self.on_sandbox(
            &parts,
            &p.sandbox_id,
            p.sandbox_token.as_deref(),
            |principal, id| async move {
                // The account's key of the Authorization header pays credits.
                let payer = self.header_principal(parts_ref).await.ok();
                Ok(self.status_json(
                    self.state
                        .app
                        .sandboxes()
                        .extend_balance(&principal, &id, p.credits_cents, p.sats, payer.as_ref())
                        .await?,
                    None,
                ))
            },
        )
        .await
    }
}

/// The encoding an `encoding` argument names (utf8 when absent).
fn encoding_named(encoding: Option<&str>) -> Result<Encoding, AppError> {
    match encoding.unwrap_or("utf8") {
        "utf8" | "utf-8" | "text" => Ok(Encoding::Utf8),
        "base64" => Ok(Encoding::Base64),
        other => Err(AppError::invalid(format!(
            "encoding must be utf8 or base64, not '{other}'"
        ))),
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for SocktMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("sockt", env!("CARGO_PKG_VERSION")))
            .with_instructions(
            "Sockt runs isolated Linux sandboxes billed per second. Create one with sandbox_create, then run commands with \
             sandbox_exec and move files with sandbox_write_file / sandbox_read_file. With an API key (Authorization header) \
             you pay with credits; without one, pay the Lightning invoices you are given with your wallet. Terminate \
             sandboxes you no longer need: unused balance is returned.",
        )
    }
}
