//! The read side: what a caller may see (`visibility`), listings, and the
//! one presentation of a sandbox every transport renders. The only part of
//! the application that reads the views for answers.

pub(crate) mod listing;
pub(crate) mod presentation;
pub(crate) mod sandbox_status;
pub(crate) mod visibility;
