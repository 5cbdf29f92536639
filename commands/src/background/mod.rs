//! Background processes, run by the leader (`duties` holds the lease and
//! starts them): the meter, Lightning settlement, reconciliation after a
//! restart, lifetimes (timeouts, idle pauses) and the queue of paid
//! sandboxes waiting for room. Each drives the use cases through `App`.

pub(crate) mod duties;
pub(crate) mod lifetimes;
pub(crate) mod long_paused;
pub(crate) mod meter;
pub(crate) mod queue;
pub(crate) mod reconcile;
pub(crate) mod settlement;
