//! How hard the Lightning gateway is called: how many calls one loop makes
//! at once, and how long one may take.

use std::time::Duration;

/// Gateway calls one loop makes at once, and how long one may take.
pub(crate) const GATEWAY_CONCURRENCY: usize = 8;
pub(crate) const GATEWAY_TIMEOUT: Duration = Duration::from_secs(5);
