//! The REST API, wire-compatible with the `sockt` Python SDK and the Go CLI.

mod admin;
mod csv;
mod exec_stream;
mod executions;
mod files;
mod json;
mod lightning;
mod previews;
mod processes;
mod proxy;
mod proxy_cookie;
mod sandboxes;
mod shell;

use crate::state::AppState;
use axum::routing::{any, get, post};
use axum::Router;

pub use proxy::by_host as proxy_by_host;

/// The REST API's routes under `/v1` (`server::router` mounts them beside
/// MCP, GraphQL and the dashboard).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/sandboxes/tiers", get(sandboxes::tiers))
        .route(
            "/v1/sandboxes",
            get(sandboxes::list).post(sandboxes::create),
        )
        .route(
            "/v1/sandboxes/{id}",
            get(sandboxes::status).delete(sandboxes::terminate),
        )
        .route("/v1/sandboxes/{id}/pause", post(sandboxes::pause))
        .route("/v1/sandboxes/{id}/resume", post(sandboxes::resume))
        .route("/v1/sandboxes/{id}/processes/kill", post(processes::kill))
        .route(
            "/v1/sandboxes/{id}/balance",
            post(sandboxes::extend_balance),
        )
        .route("/v1/sandboxes/{id}/ledger", get(sandboxes::ledger))
        .route("/v1/sandboxes/{id}/ledger.csv", get(sandboxes::ledger_csv))
        .route("/v1/account/statement", get(admin::statement))
        .route("/v1/account/statement.csv", get(admin::statement_csv))
        .route("/v1/sandboxes/{id}/exec", post(executions::start))
        .route(
            "/v1/executions/{id}",
            get(executions::poll).delete(executions::cancel),
        )
        .route("/v1/executions/{id}/stream", get(exec_stream::stream))
        .route("/v1/executions/{id}/stdin", post(executions::stdin))
        .route("/v1/sandboxes/{id}/executions", get(executions::list))
        .route("/v1/sandboxes/{id}/files/write", post(files::write))
        .route("/v1/sandboxes/{id}/files/read", post(files::read))
        .route("/v1/sandboxes/{id}/files", get(files::list))
        .route("/v1/sandboxes/{id}/proxy/{port}", any(proxy::redirect))
        .route("/v1/sandboxes/{id}/proxy/{port}/", any(proxy::redirect))
        .route(
            "/v1/sandboxes/{id}/proxy/{port}/{*path}",
            any(proxy::redirect),
        )
        .route("/v1/sandboxes/{id}/shell-url", get(shell::shell_url))
        .route("/v1/sandboxes/{id}/shell", get(shell::shell))
        .route(
            "/v1/sandboxes/{id}/preview",
            post(previews::issue).delete(previews::revoke),
        )
        .route("/v1/lightning/webhook", post(lightning::webhook))
        .route("/v1/lnurl/withdraw/{k1}", get(lightning::withdraw_request))
        .route(
            "/v1/lnurl/withdraw/{k1}/callback",
            get(lightning::withdraw_callback),
        )
        .route("/v1/account", get(admin::my_account))
        .route("/v1/admin/accounts", post(admin::create_account))
        .route("/v1/admin/accounts/{id}/credits", post(admin::deposit))
}
