//! Settings of the MCP endpoint, and who opened each of its sessions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Settings of the MCP endpoint.
#[derive(Clone)]
pub struct McpSettings {
    /// `Host` header values accepted (rmcp refuses others, against DNS rebinding).
    pub allowed_hosts: Vec<String>,
    /// An idle session is closed after this many seconds.
    pub session_idle_secs: u64,
    /// Who opened each session.
    pub owners: Arc<SessionOwners>,
}

/// Which credential opened each live session (by a hash of its header).
#[derive(Default)]
pub struct SessionOwners {
    owners: Mutex<HashMap<String, (String, Instant)>>,
}

impl SessionOwners {
    /// Whether `credential` may use `session`: its opener, or a session this
    /// process never saw (rmcp answers those itself).
    pub(super) fn allows(&self, session: &str, credential: &str) -> bool {
        let mut owners = self.owners.lock().unwrap_or_else(|p| p.into_inner());
        match owners.get_mut(session) {
            Some((owner, seen)) if owner == credential => {
                *seen = Instant::now();
                true
            }
            Some(_) => false,
            None => true,
        }
    }

    pub(super) fn record(&self, session: &str, credential: &str, idle: Duration) {
        let mut owners = self.owners.lock().unwrap_or_else(|p| p.into_inner());
        owners.retain(|_, (_, seen)| seen.elapsed() < idle * 2);
        owners.insert(
            session.to_string(),
            (credential.to_string(), Instant::now()),
        );
    }
}
