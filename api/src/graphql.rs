//! GraphQL for dashboards at `/v1/graphql` (queries) and `/v1/graphql/ws`
//! (subscriptions, graphql-ws and graphql-transport-ws protocols). Same
//! credentials as REST: an API key sees its own account's sandboxes, a
//! sandbox token its one sandbox, the admin token everything. Depth and
//! complexity are limited, a request body to `body::MAX_BODY_BYTES`, and
//! operations over WebSocket count against the caller's rate limit
//! (`gate`).

mod body;
mod gate;

pub use body::MAX_BODY_BYTES;
pub use gate::MAX_LIVE_OPERATIONS;

use crate::error::graphql_error;
use crate::presentation::Caller;
use crate::state::AppState;
use async_graphql::{
    ComplexObject, Context, Data, EmptyMutation, Object, Schema, SimpleObject, Subscription,
};
use async_graphql_axum::{GraphQLProtocol, GraphQLResponse, GraphQLWebSocket};
use axum::extract::{ConnectInfo, Request, State, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use commands::{Principal, SandboxStatus};
use domain::ids::{ExecutionId, SandboxId};
use domain::sandbox::SandboxState;
use domain::Tier;
use futures::Stream;
use projections::TimelineEntry;
use std::net::SocketAddr;

pub type SocktSchema = Schema<QueryRoot, EmptyMutation, SubscriptionRoot>;

/// GraphQL over HTTP at `/v1/graphql` and over WebSocket at `/v1/graphql/ws`.
pub fn routes(state: AppState) -> axum::Router<AppState> {
    axum::Router::new()
        .route("/v1/graphql", axum::routing::post(http))
        .route("/v1/graphql/ws", axum::routing::get(websocket))
        .layer(Extension(schema(state)))
}

pub fn schema(state: AppState) -> SocktSchema {
    Schema::build(QueryRoot, EmptyMutation, SubscriptionRoot)
        .data(state)
        .limit_depth(8)
        .limit_complexity(2_000)
        .finish()
}

fn principal<'a>(ctx: &'a Context<'_>) -> &'a Principal {
    ctx.data_opt::<Principal>().unwrap_or(&Principal::Anonymous)
}

fn state<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a AppState> {
    ctx.data::<AppState>()
}

#[derive(SimpleObject)]
pub struct GqlTier {
    tier: String,
    name: String,
    msats_per_second: u64,
    vcpus: f64,
    memory_mib: u64,
    disk_mib: u64,
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct GqlSandbox {
    sandbox_id: String,
    status: String,
    tier: String,
    billing_method: String,
    label: Option<String>,
    msats_per_second: u64,
    balance_msats: u64,
    consumed_msats: u64,
    paid_in_msats: u64,
    refunded_msats: u64,
    seconds_remaining: u64,
    warning_level: Option<String>,
    created_at_ms: i64,
    updated_at_ms: i64,
    #[graphql(skip)]
    id: String,
}

impl GqlSandbox {
    fn from_status(view: &SandboxStatus) -> GqlSandbox {
        GqlSandbox {
            sandbox_id: view.sandbox_id.clone(),
            status: view.state.as_str().to_string(),
            tier: view.tier.as_str().to_string(),
            billing_method: view.billing.as_str().to_string(),
            label: view.label.clone(),
            msats_per_second: view.msats_per_second,
            balance_msats: view.balance.0,
            consumed_msats: view.consumed.0,
            paid_in_msats: view.paid_in.0,
            refunded_msats: view.refunded.0,
            seconds_remaining: view.seconds_remaining,
            warning_level: view.warning.map(|w| w.as_str().to_string()),
            created_at_ms: view.created_at_ms,
            updated_at_ms: view.updated_at_ms,
            id: view.sandbox_id.clone(),
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct GqlEvent {
    sandbox_id: String,
    sequence: u64,
    event_type: String,
    at_ms: i64,
    /// The event as stored (JSON).
    payload: async_graphql::Json<serde_json::Value>,
}

impl From<TimelineEntry> for GqlEvent {
    fn from(e: TimelineEntry) -> Self {
        GqlEvent {
            sandbox_id: e.sandbox_id,
            sequence: e.sequence as u64,
            event_type: e.event_type,
            at_ms: e.at_ms,
            payload: async_graphql::Json(
                serde_json::to_value(&e.payload).unwrap_or(serde_json::Value::Null),
            ),
        }
    }
}

#[derive(SimpleObject)]
pub struct GqlLedgerEntry {
    sequence: u64,
    kind: String,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    duration_ms: Option<i64>,
    msats_per_second: Option<u64>,
    amount_msats: u64,
    balance_after_msats: u64,
    at_ms: i64,
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct GqlExecution {
    execution_id: String,
    command: String,
    status: String,
    exit_code: Option<i64>,
    started_at_ms: i64,
    duration_ms: Option<u64>,
    stdout_bytes: Option<u64>,
    stderr_bytes: Option<u64>,
}

/// What an execution printed, as REST and MCP show it: the kept head and
/// tail, with the bytes left out between them.
#[derive(SimpleObject)]
pub struct GqlOutput {
    /// stdout, with a `[... N bytes omitted ...]` line where the gap is.
    stdout: String,
    stderr: String,
    omitted_bytes: u64,
    /// False once the output is no longer kept (evicted or lost in a restart).
    available: bool,
}

#[ComplexObject]
impl GqlExecution {
    /// The output this server keeps for it.
    async fn output(&self, ctx: &Context<'_>) -> async_graphql::Result<GqlOutput> {
        let poll = state(ctx)?
            .app
            .executions()
            .poll_execution(
                principal(ctx),
                &ExecutionId::recorded(self.execution_id.as_str()),
                None,
                std::time::Duration::ZERO,
            )
            .await
            .map_err(graphql_error)?;
        Ok(GqlOutput {
            stdout: poll.output.text_of("stdout"),
            stderr: poll.output.text_of("stderr"),
            omitted_bytes: poll.output.omitted_bytes,
            available: poll.output.available,
        })
    }
}

#[ComplexObject]
impl GqlSandbox {
    /// The sandbox's event stream, oldest first.
    async fn events(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<GqlEvent>> {
        Ok(state(ctx)?
            .app
            .queries()
            .sandbox_timeline(principal(ctx), &SandboxId::recorded(self.id.as_str()))
            .map_err(graphql_error)?
            .into_iter()
            .map(GqlEvent::from)
            .collect())
    }

    async fn ledger(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<GqlLedgerEntry>> {
        let (_, entries) = state(ctx)?
            .app
            .queries()
            .ledger(principal(ctx), &SandboxId::recorded(self.id.as_str()))
            .map_err(graphql_error)?;
        Ok(entries
            .into_iter()
            .map(|e| GqlLedgerEntry {
                sequence: e.sequence as u64,
                kind: serde_json::to_value(e.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                from_ms: e.from_ms,
                to_ms: e.to_ms,
                duration_ms: e.duration_ms,
                msats_per_second: e.msats_per_second,
                amount_msats: e.amount_msats.0,
                balance_after_msats: e.balance_after_msats.0,
                at_ms: e.at_ms,
            })
            .collect())
    }

    async fn executions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<GqlExecution>> {
        Ok(state(ctx)?
            .app
            .queries()
            .sandbox_executions(principal(ctx), &SandboxId::recorded(self.id.as_str()))
            .map_err(graphql_error)?
            .into_iter()
            .map(|e| GqlExecution {
                execution_id: e.execution_id,
                command: e.command,
                status: e.status.as_str().to_string(),
                exit_code: e.exit_code,
                started_at_ms: e.started_at_ms,
                duration_ms: e.duration_ms,
                stdout_bytes: e.output.as_ref().map(|o| o.stdout_bytes),
                stderr_bytes: e.output.as_ref().map(|o| o.stderr_bytes),
            })
            .collect())
    }
}

/// Which sandboxes to list; every field is optional.
#[derive(async_graphql::InputObject, Default)]
pub struct SandboxFilter {
    state: Option<String>,
    tier: Option<String>,
    billing_method: Option<String>,
    label: Option<String>,
}

impl From<SandboxFilter> for commands::SandboxQuery {
    fn from(f: SandboxFilter) -> Self {
        commands::SandboxQuery {
            states: f.state.into_iter().collect(),
            tier: f.tier,
            billing_method: f.billing_method,
            label: f.label,
        }
    }
}

#[derive(SimpleObject)]
pub struct SandboxPage {
    nodes: Vec<GqlSandbox>,
    /// Pass as `after` for the next page; null on the last page.
    end_cursor: Option<String>,
    has_next_page: bool,
    total_count: u64,
}

#[derive(SimpleObject)]
pub struct GqlAccount {
    account_id: String,
    name: String,
    credits_msats: u64,
    credits_cents: u64,
}

#[derive(SimpleObject)]
pub struct StateCount {
    state: String,
    count: u64,
}

#[derive(SimpleObject)]
pub struct Stats {
    sandboxes_by_state: Vec<StateCount>,
    /// msats per second all running sandboxes cost now.
    burn_rate_msats_per_second: u64,
    paid_in_msats: u64,
    charged_msats: u64,
    refunded_msats: u64,
}

pub struct QueryRoot;

#[Object]
impl QueryRoot {
    async fn tiers(&self) -> Vec<GqlTier> {
        Tier::all()
            .iter()
            .map(|t| GqlTier {
                tier: t.name.as_str().into(),
                name: t.display_name.into(),
                msats_per_second: t.msats_per_second,
                vcpus: t.millicpus as f64 / 1000.0,
                memory_mib: t.memory_mib,
                disk_mib: t.disk_mib,
            })
            .collect()
    }

    /// The caller's sandboxes, newest first, filtered and paginated (cursor = the last sandbox_id seen).
    async fn sandboxes(
        &self,
        ctx: &Context<'_>,
        filter: Option<SandboxFilter>,
        #[graphql(default = 20)] first: u64,
        after: Option<String>,
    ) -> async_graphql::Result<SandboxPage> {
        let app = &state(ctx)?.app;
        let query = filter.unwrap_or_default().into();
        let page = app
            .queries()
            .list_sandboxes(
                principal(ctx),
                &query,
                after.as_deref(),
                usize::try_from(first).unwrap_or(commands::MAX_PAGE),
            )
            .map_err(graphql_error)?;
        Ok(SandboxPage {
            has_next_page: page.next_cursor.is_some(),
            end_cursor: page.next_cursor,
            total_count: page.total as u64,
            nodes: page
                .sandboxes
                .into_iter()
                .map(|v| GqlSandbox::from_status(&app.queries().present(v)))
                .collect(),
        })
    }

    async fn sandbox(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<Option<GqlSandbox>> {
        let app = &state(ctx)?.app;
        // A malformed id names no sandbox, as an unknown one.
        let Ok(id) = SandboxId::parse(&id) else {
            return Ok(None);
        };
        Ok(app
            .queries()
            .sandbox(principal(ctx), &id)
            .ok()
            .map(|v| GqlSandbox::from_status(&app.queries().present(v))))
    }

    /// The caller's account, or every account for the admin token.
    async fn accounts(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<GqlAccount>> {
        Ok(state(ctx)?
            .app
            .queries()
            .visible_accounts(principal(ctx))
            .into_iter()
            .map(|a| GqlAccount {
                credits_cents: a.balance.whole_cents(),
                credits_msats: a.balance.0,
                account_id: a.account_id,
                name: a.name,
            })
            .collect())
    }

    /// Totals over the sandboxes the caller may see (all of them for the admin token).
    async fn stats(&self, ctx: &Context<'_>) -> async_graphql::Result<Stats> {
        let visible_views = state(ctx)?.app.queries().visible_sandboxes(principal(ctx));
        let mut by_state: std::collections::BTreeMap<&'static str, u64> =
            std::collections::BTreeMap::new();
        for v in &visible_views {
            *by_state.entry(v.state.as_str()).or_default() += 1;
        }
        Ok(Stats {
            sandboxes_by_state: by_state
                .into_iter()
                .map(|(state, count)| StateCount {
                    state: state.into(),
                    count,
                })
                .collect(),
            burn_rate_msats_per_second: visible_views
                .iter()
                .filter(|v| v.state == SandboxState::Running)
                .map(|v| v.msats_per_second)
                .sum(),
            paid_in_msats: visible_views.iter().map(|v| v.paid_in.0).sum(),
            charged_msats: visible_views.iter().map(|v| v.charged.0).sum(),
            refunded_msats: visible_views.iter().map(|v| v.refunded.0).sum(),
        })
    }
}

pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// Live events of the sandboxes the caller may see (one sandbox with `sandbox_id`).
    async fn sandbox_events(
        &self,
        ctx: &Context<'_>,
        sandbox_id: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = GqlEvent>> {
        let app = state(ctx)?.app.clone();
        let caller = principal(ctx).clone();
        let receiver = app.queries().sandbox_events();
        Ok(futures::stream::unfold(receiver, move |mut receiver| {
            let app = app.clone();
            let caller = caller.clone();
            let sandbox_id = sandbox_id.clone();
            async move {
                loop {
                    match receiver.recv().await {
                        Ok(entry) => {
                            if sandbox_id
                                .as_deref()
                                .is_some_and(|id| id != entry.sandbox_id)
                            {
                                continue;
                            }
                            if app.queries().may_see_sandbox(
                                &caller,
                                &SandboxId::recorded(entry.sandbox_id.as_str()),
                            ) {
                                return Some((GqlEvent::from(entry), receiver));
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        }))
    }
}

/// Queries and mutations over HTTP, as the caller; the body is read to at
/// most `MAX_BODY_BYTES`.
pub async fn http(
    Extension(schema): Extension<SocktSchema>,
    Caller(caller): Caller,
    request: Request,
) -> Response {
    match body::graphql_request(request).await {
        Ok(request) => {
            GraphQLResponse::from(schema.execute(request.data(caller)).await).into_response()
        }
        Err(refused) => refused,
    }
}

/// Subscriptions (and queries) over WebSocket; credentials come in the
/// connection_init payload as `{"Authorization": "Bearer ..."}`. Every
/// operation passes the connection's gate (`gate`), and no message may
/// exceed `MAX_BODY_BYTES`.
pub async fn websocket(
    State(state): State<AppState>,
    Extension(schema): Extension<SocktSchema>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let client = client.map(|Extension(ConnectInfo(address))| address.ip());
    let gated = gate::Gated::new(schema, state.limiter.clone(), client);
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(MAX_BODY_BYTES)
        .max_frame_size(MAX_BODY_BYTES)
        .on_upgrade(move |socket| {
            GraphQLWebSocket::new(socket, gated, protocol)
                .on_connection_init(move |payload| async move {
                    let secret = ["Authorization", "authorization"]
                        .iter()
                        .find_map(|k| payload.get(*k).and_then(|v| v.as_str()))
                        .map(str::to_string);
                    let principal = crate::presentation::principal_for(&state, secret.as_deref())
                        .await
                        .map_err(graphql_error)?;
                    let mut data = Data::default();
                    data.insert(principal);
                    Ok(data)
                })
                .serve()
        })
}
