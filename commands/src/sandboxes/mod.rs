//! The sandboxes use case: create (admission, choices, the sealed
//! environment), pause, resume, terminate (`lifecycle`), and what a running
//! one offers besides commands: previews, shells and their billing watch,
//! stopping its processes.

pub(crate) mod admission;
pub(crate) mod admission_counts;
pub(crate) mod choices;
pub(crate) mod create;
pub(crate) mod lifecycle;
pub(crate) mod previews;
pub(crate) mod processes;
pub(crate) mod provision;
pub(crate) mod request_limits;
pub(crate) mod sealed_env;
pub(crate) mod shell_billing;
pub(crate) mod shells;
