//! The MCP server at `/v1/mcp` (Streamable HTTP, rmcp): the eleven `sandbox_*`
//! tools for LLM agents, calling the same application functions as REST.

mod render;
mod sessions;
pub mod settings;
mod tools;

use crate::state::AppState;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::sync::Arc;
use std::time::Duration;

pub use settings::{McpSettings, SessionOwners};
pub use tools::SocktMcp;

/// The MCP endpoint: the service, with sessions bound to their opener.
pub fn router(state: AppState) -> axum::Router<AppState> {
    axum::Router::new()
        .fallback_service(service(state.clone()))
        .layer(axum::middleware::from_fn_with_state(
            state,
            sessions::bind_sessions,
        ))
}

/// The MCP service, one `SocktMcp` per session.
fn service(state: AppState) -> StreamableHttpService<SocktMcp, LocalSessionManager> {
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = Some(Duration::from_secs(state.mcp.session_idle_secs));
    let config =
        StreamableHttpServerConfig::default().with_allowed_hosts(state.mcp.allowed_hosts.clone());
    let factory_state = state.clone();
    StreamableHttpService::new(
        move || Ok(SocktMcp::new(factory_state.clone())),
        Arc::new(sessions),
        config,
    )
}
