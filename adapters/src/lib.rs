//! Adapters: the outside world behind the domain's ports — Docker (bollard)
//! for sandboxes, SQLite or PostgreSQL for the event store, LNbits and LNURL
//! for Lightning, the system clock, the builder of the default sandbox image, and a runtime
//! with no containers for the tools that work on accounts alone.

pub mod clock;
pub mod docker;
pub mod image;
pub mod lightning;
pub mod no_containers;
pub mod store;
