//! The open standard inputs of the commands this process runs: the sending
//! end of each command's pipe, by execution id.

use std::collections::HashMap;
use std::sync::Mutex;

type Sender = futures::channel::mpsc::Sender<Vec<u8>>;

/// The open inputs of the commands this process runs, by execution id.
#[derive(Default)]
pub(crate) struct Stdins(Mutex<HashMap<String, Sender>>);

impl Stdins {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Sender>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn insert(&self, execution_id: &str, sender: Sender) {
        self.lock().insert(execution_id.to_string(), sender);
    }

    /// Close the input (the command reads end-of-file).
    pub(crate) fn close(&self, execution_id: &str) {
        self.lock().remove(execution_id);
    }

    pub(crate) fn sender(&self, execution_id: &str) -> Option<Sender> {
        self.lock().get(execution_id).cloned()
    }
}
