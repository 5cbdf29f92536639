//! Reconciliation between the event log and the container runtime, run by a
//! process when it becomes the leader: remove containers no live sandbox
//! owns, provision (or adopt the container of) sandboxes a dead process was
//! creating, fail sandboxes whose container vanished, align paused state, end
//! executions the previous process was running, finish credit returns a crash
//! interrupted, and resume Lightning refunds that were being retried.

use crate::app::App;
use crate::error::AppError;
use domain::ports::ContainerStatus;
use domain::sandbox::SandboxState;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How long after a look finds a sandbox's container dead its sandbox is
/// failed, if it has not ended meanwhile: a terminate — in this process or
/// another — kills the container first and records the end just after.
const DEATH_GRACE: Duration = Duration::from_secs(2);

/// What reconciliation changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    pub containers_removed: usize,
    /// Sandboxes whose container is dead, failed `DEATH_GRACE` later.
    pub sandboxes_failed: usize,
    /// Sandboxes a dead process was creating, provisioned or adopted now.
    pub sandboxes_provisioned: usize,
    pub executions_ended: usize,
    pub credits_returned: usize,
    pub refunds_resumed: usize,
}

impl App {
    /// While serving: fail running or paused sandboxes whose container died
    /// or was removed behind Sockt's back, so they stop being billed — each
    /// `DEATH_GRACE` after the look, in a task of its own, unless it ended
    /// meanwhile. Returns how many dead containers it found.
    pub async fn watch_containers(self: &Arc<Self>) -> Result<usize, AppError> {
        let watched = self
            .queries
            .sandboxes_in(&[SandboxState::Running, SandboxState::Paused]);
        // Listed after the views were read: a container recorded in them was
        // made before the listing, so its absence here is real (listing
        // first misread sandboxes that started in between as vanished).
        let listed = self.runtime.list_managed().await?;
        // Containers of ended sandboxes whose removal failed (a terminate
        // removes them in the background) go now — in a task of their own,
        // so the meter sharing this loop never waits on the engine.
        let leftovers: Vec<(String, String)> = listed
            .iter()
            .filter(|c| {
                self.queries
                    .view_of(&c.sandbox_id)
                    .is_some_and(|v| v.state.is_ended())
            })
            .map(|c| (c.sandbox_id.clone(), c.container_id.clone()))
            .collect();
        if !leftovers.is_empty() {
            let runtime = self.runtime.clone();
            tokio::spawn(async move {
                for (sandbox_id, container) in leftovers {
                    if let Err(e) = runtime.destroy(&container).await {
                        tracing::warn!(sandbox_id, error = %e, "could not remove an ended sandbox's container");
                    }
                }
            });
        }
        let alive: HashMap<String, ContainerStatus> = listed
            .into_iter()
            .map(|c| (c.container_id, c.status))
            .collect();
        let mut dead = Vec::new();
        for view in watched {
            let Some(container) = view.container_id.as_deref() else {
                continue;
            };
            if matches!(
                alive.get(container),
                Some(
                    ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Starting
                )
            ) {
                continue;
            }
            if !self.confirmed_dead(container).await? {
                continue;
            }
            tracing::info!(sandbox_id = %view.sandbox_id, container, listed = ?alive.get(container), "a running sandbox's container is dead");
            dead.push((
                view.sandbox_id.clone(),
                container.to_string(),
                alive.contains_key(container),
            ));
        }
        let found = dead.len();
        self.fail_after_grace(dead);
        Ok(found)
    }

    /// Fail the sandboxes of containers found dead (sandbox, container,
    /// whether the engine still lists it) `DEATH_GRACE` from now, in a task
    /// of their own, unless they ended meanwhile; remove what is left.
    fn fail_after_grace(self: &Arc<Self>, dead: Vec<(String, String, bool)>) {
        if dead.is_empty() {
            return;
        }
        let app = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(DEATH_GRACE).await;
            for (sandbox_id, container, listed) in dead {
                let failed = app
                    .provisioning
                    .fail(&sandbox_id, "the sandbox's container vanished or stopped")
                    .await;
                if !failed {
                    continue;
                }
                tracing::warn!(sandbox_id, "the sandbox's container died or vanished");
                if listed {
                    if let Err(e) = app.runtime.destroy(&container).await {
                        tracing::warn!(sandbox_id, error = %e, "could not remove a dead sandbox's container");
                    }
                }
            }
        });
    }

    /// A listing under load can miss or misstate a container: only a direct
    /// look that finds it stopped or gone is a death.
    async fn confirmed_dead(&self, container: &str) -> Result<bool, AppError> {
        Ok(matches!(
            self.runtime.container_status(container).await?,
            Some(ContainerStatus::Stopped) | None
        ))
    }

    pub async fn reconcile(self: &Arc<Self>) -> Result<ReconcileReport, AppError> {
        let mut report = ReconcileReport::default();
        let live = [
            SandboxState::Creating,
            SandboxState::Starting,
            SandboxState::Running,
            SandboxState::Paused,
        ];
        // Read before the listing, as the watch does: this process (or
        // another) keeps serving while it reconciles, and a sandbox whose
        // container started after the listing must not look vanished.
        let live_views = self.queries.sandboxes_in(&live);
        let containers = self.runtime.list_managed().await?;
        let mut by_sandbox: HashMap<String, Vec<(String, ContainerStatus)>> = HashMap::new();
        for c in containers {
            by_sandbox
                .entry(c.sandbox_id)
                .or_default()
                .push((c.container_id, c.status));
        }

        // Containers whose sandbox is not alive, or not the one it recorded.
        for (sandbox_id, found) in &by_sandbox {
            let sandbox = self.store.load(sandbox_id).await.ok();
            for (container_id, _) in found {
                // A sandbox being created owns the container made for it,
                // recorded or not: provisioning adopts it.
                let owned = sandbox.as_ref().is_some_and(|s| {
                    matches!(s.state, SandboxState::Creating | SandboxState::Starting)
                        || (!s.state.is_ended()
                            && s.container_id.as_deref() == Some(container_id.as_str()))
                });
                if !owned {
                    tracing::info!(sandbox_id, container_id, state = ?sandbox.as_ref().map(|s| s.state), "removing a container no live sandbox owns");
                    self.runtime.destroy(container_id).await?;
                    report.containers_removed += 1;
                }
            }
        }

        // Failed after the grace a terminate in another process gets to
        // record its end, as the watch does.
        let mut dead = Vec::new();
        for view in live_views {
            let status = view.container_id.as_deref().and_then(|container| {
                by_sandbox
                    .get(&view.sandbox_id)?
                    .iter()
                    .find(|(c, _)| c == container)
                    .map(|(_, s)| *s)
            });
            match (view.state, status) {
                (SandboxState::Creating | SandboxState::Starting, _) => {
                    self.provisioning
                        .provision_in_background(&view.sandbox_id, view.tier);
                    report.sandboxes_provisioned += 1;
                }
                (_, Some(ContainerStatus::Starting)) => {
                    // Started by the engine in a moment (or about to be
                    // seen stopped by the watch).
                }
                (_, None) | (_, Some(ContainerStatus::Stopped)) => {
                    let container = view.container_id.clone().unwrap_or_default();
                    if !container.is_empty() && !self.confirmed_dead(&container).await? {
                        continue;
                    }
                    let listed = status.is_some();
                    tracing::info!(sandbox_id = %view.sandbox_id, container, ?status, "a live sandbox's container is dead");
                    dead.push((view.sandbox_id.clone(), container, listed));
                }
                (SandboxState::Paused, Some(ContainerStatus::Running)) => {
                    if let Some(container) = view.container_id.as_deref() {
                        self.runtime.pause(container).await?;
                    }
                }
                (SandboxState::Running, Some(ContainerStatus::Paused)) => {
                    if let Some(container) = view.container_id.as_deref() {
                        self.runtime.resume(container).await?;
                    }
                }
                _ => {}
            }
        }

        report.sandboxes_failed = dead.len();
        self.fail_after_grace(dead);

        report.executions_ended = self.executions.end_orphaned().await?;

        report.credits_returned += self.billing.settle_credit_transfers().await;
        report.refunds_resumed = self.resume_refunds();
        Ok(report)
    }
}
