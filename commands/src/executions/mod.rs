//! The executions use case: commands run in a sandbox (`exec`), their
//! output kept and polled (`output`), the ones running here (`running`),
//! their standard input (`stdin`, `stdin_pipes`) and text decoding, and
//! stopping every process of a sandbox (`processes`), and ending what a
//! dead process was running (`orphans`).

pub(crate) mod exec;
pub(crate) mod orphans;
pub(crate) mod output;
pub(crate) mod processes;
pub(crate) mod running;
pub(crate) mod stdin;
pub(crate) mod stdin_pipes;
pub(crate) mod utf8_stream;

use crate::aggregates::SandboxStore;
use crate::config::AppConfig;
use crate::executions::output::OutputStore;
use crate::executions::running::RunningExecs;
use crate::executions::stdin_pipes::Stdins;
use crate::queries::Queries;
use domain::ports::{Runners, SharedRuntime};
use std::sync::Arc;

/// The executions' service: the runtime they run in, their output and
/// standard input, the ones running here, and which processes are alive.
pub struct Executions {
    pub(crate) store: SandboxStore,
    pub(crate) runtime: SharedRuntime,
    pub(crate) config: Arc<AppConfig>,
    pub(crate) queries: Arc<Queries>,
    /// Which processes are alive (whose executions still run).
    pub(crate) runners: Arc<dyn Runners>,
    pub(crate) outputs: OutputStore,
    pub(crate) running: RunningExecs,
    pub(crate) stdins: Stdins,
}

impl Executions {
    /// Cancel every command running in the sandbox (it is ending); their
    /// ids.
    pub(crate) fn cancel_all_in(&self, sandbox_id: &str) -> Vec<String> {
        self.running.cancel_sandbox(sandbox_id)
    }
}
