//! The leadership lease port: background duties (the meter, settlement,
//! reconciliation, refund retries, the container watch) run in exactly one
//! process, the one holding the lease.

use async_trait::async_trait;

#[async_trait]
pub trait LeadershipLease: Send + Sync {
    /// Take the lease if it is free, or confirm this process still holds it.
    /// False when another process leads, or when the hold could not be
    /// confirmed (then this process must stop its duties).
    async fn hold(&self) -> bool;
}
