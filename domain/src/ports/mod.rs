//! Ports: what the application needs from the outside world, as traits that
//! adapters implement — the sandbox runtime, the Lightning gateway, the clock,
//! the event store (commands and aggregates), the account directory, the
//! event log reader, the leadership lease and the liveness of processes.
//! Tests use fakes of the same traits.

mod bus;
mod clock;
mod directory;
mod event_log;
mod lease;
mod runners;
mod runtime;

pub use crate::lightning::{AddressResolver, LightningGateway};
pub use bus::{CommandBus, SharedBus};
pub use clock::Clock;
pub use directory::AccountDirectory;
pub use event_log::{EventLogError, EventLogReader, StoredEvent};
pub use lease::LeadershipLease;
pub use runners::{Runners, SingleProcess};
pub use runtime::*;
