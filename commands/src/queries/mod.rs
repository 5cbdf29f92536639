//! The read side: what a caller may see (`visibility`), who a caller is
//! (`identity`), listings, the one presentation of a sandbox every
//! transport renders, and the named lookups the other services and the
//! background make (`lookups`). The only part of the application that holds
//! the read model.

pub(crate) mod identity;
pub(crate) mod listing;
pub(crate) mod lookups;
pub(crate) mod presentation;
pub(crate) mod sandbox_status;
pub(crate) mod visibility;

use crate::config::AppConfig;
use crate::lightning::links::WithdrawLinks;
use domain::ports::{AccountDirectory, Clock};
use projections::ReadModel;
use std::sync::Arc;

/// The read side's service: the views, the clock a presentation is taken
/// at, the withdraw links it shows, and the directory of accounts other
/// processes open.
pub struct Queries {
    pub(crate) read: ReadModel,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: Arc<AppConfig>,
    pub(crate) links: WithdrawLinks,
    pub(crate) directory: Option<Arc<dyn AccountDirectory>>,
}

impl Queries {
    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The views themselves, for the transports' own read-only pages
    /// (the ledger feed, metrics).
    pub fn read_model(&self) -> &ReadModel {
        &self.read
    }
}
