//! The meter: charges running sandboxes periodically and the moment their
//! balance runs out, warns on low balance, and pauses a sandbox with nothing
//! left. A restart resumes from the last charge in the log. It shares its
//! loop with the container watch and the sweep of stalled creations, and
//! never waits on Lightning (settlement runs in a task of its own).

use crate::app::App;
use domain::metering;
use domain::sandbox::{PauseReason, SandboxState};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const TICK: Duration = Duration::from_millis(500);
/// Sandboxes charged at once in a tick (their commits share transactions).
const CHARGES_AT_ONCE: usize = 64;
/// How often containers are checked for having died behind Sockt's back.
const WATCH: Duration = Duration::from_secs(5);

pub struct Meter;

impl Meter {
    /// Run until `shutdown` is cancelled.
    pub async fn run(app: Arc<App>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut watch = tokio::time::interval(WATCH);
        watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {
                    app.meter_tick().await;
                    app.provisioning.provision_stalled();
                }
                _ = watch.tick() => {
                    if let Err(e) = app.watch_containers().await {
                        tracing::error!(error = %e, "could not check the sandboxes' containers");
                    }
                    app.billing.settle_credit_transfers().await;
                    app.end_long_paused().await;
                    app.enforce_lifetimes().await;
                    app.start_queued().await;
                }
            }
        }
    }
}

impl App {
    /// Charge every running sandbox that is due, and pause those at zero.
    /// Charges go out together, so the store writes them in a few
    /// transactions rather than one per sandbox.
    pub async fn meter_tick(&self) {
        use futures::StreamExt;
        let interval_ms = self.config.charge_interval.as_millis() as i64;
        let now = self.now_ms();
        let due = self
            .queries
            .sandboxes_in(&[SandboxState::Running])
            .into_iter()
            .filter(|view| {
                let Some(from) = view.charged_until_ms else {
                    return false;
                };
                let exhausted = metering::exhausted_at(view.balance, view.msats_per_second, from)
                    .unwrap_or(i64::MAX);
                let low =
                    !view.low_balance_warned && view.runs_low_at(now, self.config.low_balance_secs);
                now - from >= interval_ms || now >= exhausted || low
            })
            .map(|view| view.sandbox_id);
        futures::stream::iter(due)
            .for_each_concurrent(CHARGES_AT_ONCE, |sandbox_id| async move {
                self.charge(&sandbox_id).await;
            })
            .await;
    }

    /// Charge one sandbox up to now; pause it if that emptied it.
    async fn charge(&self, sandbox_id: &str) {
        if self.billing.charge_usage(sandbox_id).await {
            tracing::info!(sandbox_id, "balance exhausted; pausing");
            if let Err(e) = self
                .provisioning
                .pause_for(sandbox_id, PauseReason::OutOfBalance)
                .await
            {
                tracing::error!(sandbox_id, error = %e, "could not pause an exhausted sandbox");
            }
        }
    }
}
