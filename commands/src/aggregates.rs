//! The sandboxes' event streams as every use case reaches them: loading a
//! sandbox to decide from, one lock per sandbox, and its commands. Every
//! command and side effect decides from the aggregate's current state (its
//! snapshot plus the events after it), never from a view, which may lag
//! behind another process's commits. The one exception is named and bounded
//! in `admission`: counts across a tenant's or the server's sandboxes, which
//! no aggregate holds.

use crate::auth::Principal;
use crate::error::AppError;
use crate::locks::KeyedLocks;
use cqrs_es::AggregateError;
use domain::ports::{Clock, SharedBus};
use domain::sandbox::{Sandbox, SandboxCommand, SandboxError, SandboxState};
use std::sync::Arc;
use tokio::sync::OwnedMutexGuard;

/// The sandbox streams, their per-sandbox locks and the clock their
/// commands are stamped with; shared (cheaply cloned) by the services.
#[derive(Clone)]
pub(crate) struct SandboxStore {
    bus: SharedBus<Sandbox>,
    locks: Arc<KeyedLocks>,
    clock: Arc<dyn Clock>,
}

impl SandboxStore {
    pub(crate) fn new(bus: SharedBus<Sandbox>, clock: Arc<dyn Clock>) -> SandboxStore {
        SandboxStore {
            bus,
            locks: Arc::default(),
            clock,
        }
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The sandbox's lock: a check, its side effect and the command that
    /// records it happen with no other command of this process in between.
    pub(crate) async fn lock(&self, sandbox_id: &str) -> OwnedMutexGuard<()> {
        self.locks.lock(sandbox_id).await
    }

    /// Let the sandbox decide on `command` and commit its events.
    pub(crate) async fn execute(
        &self,
        sandbox_id: &str,
        command: SandboxCommand,
    ) -> Result<(), AggregateError<SandboxError>> {
        self.bus.execute(sandbox_id, command).await
    }

    /// The sandbox's current state; 404 when its stream does not exist.
    pub(crate) async fn load(&self, sandbox_id: &str) -> Result<Sandbox, AppError> {
        let sandbox = self.bus.load(sandbox_id).await?;
        if sandbox.state == SandboxState::Unknown {
            return Err(AppError::sandbox_not_found());
        }
        Ok(sandbox)
    }

    /// The sandbox's current state, if the caller may act on it; 404 otherwise
    /// (another tenant's sandbox looks exactly like a missing one).
    pub(crate) async fn authorized(
        &self,
        principal: &Principal,
        sandbox_id: &str,
    ) -> Result<Sandbox, AppError> {
        let sandbox = self.load(sandbox_id).await?;
        if principal.may_see(sandbox.owner.as_deref(), sandbox.token_hash.as_deref()) {
            Ok(sandbox)
        } else {
            Err(AppError::sandbox_not_found())
        }
    }
}

/// The container of a sandbox that must be running to `action`, or why
/// there is none.
pub(crate) fn running_container_of(sandbox: &Sandbox, action: &str) -> Result<String, AppError> {
    if sandbox.state != SandboxState::Running {
        return Err(crate::error::not_running(
            sandbox.state,
            format!(
                "sandbox is {}, it must be running to {action}",
                sandbox.state
            ),
        ));
    }
    sandbox
        .container_id
        .clone()
        .ok_or_else(|| AppError::Internal("running sandbox without container".into()))
}
