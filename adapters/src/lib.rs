//! Adapters: the outside world behind the domain's ports — Docker (bollard)
//! for sandboxes, SQLite or PostgreSQL for the event store, LNbits and LNURL
//! for Lightning, the system clock, and the builder of the default sandbox image.

pub mod clock;
pub mod docker;
pub mod image;
pub mod lightning;
pub mod store;
