//! Adapters: the outside world behind the domain's ports — Docker (bollard)
//! for sandboxes, SQLite or PostgreSQL for the event store, the system clock,
//! and the builder of the default sandbox image.

pub mod clock;
pub mod docker;
pub mod image;
pub mod store;
