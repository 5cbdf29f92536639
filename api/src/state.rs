//! What every handler of every transport can reach: the application and
//! the HTTP layer's settings, in one cheaply cloned `AppState`.

use crate::metrics::Metrics;
use crate::rate_limit::CallerLimiter;
use commands::{App, Leadership};
use secrecy::SecretString;
use std::sync::Arc;

/// What every handler can reach. Cheap to clone — axum clones it for every
/// request and every middleware — so it is one shared `AppContext`.
#[derive(Clone)]
pub struct AppState(Arc<AppContext>);

impl AppState {
    pub fn new(context: AppContext) -> AppState {
        AppState(Arc::new(context))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppContext;

    fn deref(&self) -> &AppContext {
        &self.0
    }
}

/// The application and the HTTP layer's settings, shared by every request.
pub struct AppContext {
    pub app: Arc<App>,
    pub admin_token: Option<SecretString>,
    pub limiter: Arc<CallerLimiter>,
    pub metrics: Arc<Metrics>,
    pub public_url: String,
    pub store_backend: &'static str,
    /// Where the read model started: a checkpoint's position (0: none) and
    /// the events replayed after it.
    pub read_model_start: (i64, usize),
    /// The store's identity, also the label on this server's containers.
    pub instance_id: String,
    /// HTTP client of the sandbox proxy.
    pub proxy: reqwest::Client,
    /// The proxy's own origins.
    pub proxy_origins: crate::presentation::ProxyOrigins,
    pub mcp: crate::mcp::settings::McpSettings,
    /// Whether this process runs the background duties.
    pub leadership: Leadership,
    /// Commits and the transactions they took (SQLite's group commit).
    pub commit_stats: Option<Arc<adapters::store::CommitStats>>,
    /// What must answer for this process to be ready.
    pub readiness: crate::readiness::Readiness,
    /// Cancelled when the process begins to stop (it is no longer ready).
    pub stopping: tokio_util::sync::CancellationToken,
}
