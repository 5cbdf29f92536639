//! The clock port: the application reads time only through it, so tests can
//! drive billing with a manual clock instead of sleeping.

/// The current time, in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}
