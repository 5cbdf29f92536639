//! The creates admitted and not yet in the view, counted on the server and
//! per account (`admission` reads them beside the view).

use std::collections::HashMap;
use std::sync::Mutex;

/// Creates between their admission check and their event in the view.
#[derive(Default)]
pub(crate) struct Admissions {
    pending: Mutex<Pending>,
}

#[derive(Default)]
pub(crate) struct Pending {
    pub(crate) server: usize,
    pub(crate) by_account: HashMap<String, usize>,
}

/// A create admitted and counted until dropped (once its sandbox is in
/// the view, or it failed).
pub(crate) struct Admitted<'a> {
    pub(crate) admissions: &'a Admissions,
    pub(crate) account: Option<String>,
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        let mut pending = self.admissions.lock();
        pending.server = pending.server.saturating_sub(1);
        if let Some(account) = &self.account {
            if let Some(count) = pending.by_account.get_mut(account) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    pending.by_account.remove(account);
                }
            }
        }
    }
}

impl Admissions {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}
