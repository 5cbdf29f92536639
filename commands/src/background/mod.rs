//! Background processes, run by the leader (`duties` holds the lease and
//! starts them): the meter, Lightning settlement, reconciliation after a
//! restart, lifetimes (timeouts, idle pauses), long-paused sandboxes and the
//! queue of paid sandboxes waiting for room; and the schedule of refund
//! retries, run by whichever process's refund failed (and resumed by a new
//! leader). Each drives the services through `App`.

pub(crate) mod duties;
pub(crate) mod lifetimes;
pub(crate) mod long_paused;
pub(crate) mod meter;
pub(crate) mod queue;
pub(crate) mod reconcile;
pub(crate) mod refund_retries;
pub(crate) mod settlement;
