//! The billing use case: accounts (opened, deposited to) and credits moving
//! between an account and its sandboxes.

pub(crate) mod accounts;
pub(crate) mod credits;
