//! Background duties and who runs them: the meter (with the container watch
//! and the sweep of stalled creations), Lightning settlement (a task of its
//! own) and reconciliation run only in the process that holds the leadership
//! lease. Every process renews or tries the
//! lease each second; one that gains it reconciles (finishing what a dead
//! leader left half done) and starts the duties, one that loses it stops them.

use crate::app::App;
use crate::background::meter::Meter;
use crate::background::settlement::Settlement;
use crate::error::AppError;
use domain::ports::LeadershipLease;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the lease is renewed, or tried by the processes that follow.
pub const LEASE_RENEW: Duration = Duration::from_secs(1);

pub struct Duties {
    app: Arc<App>,
    lease: Box<dyn LeadershipLease>,
    /// Cancels the running duties; set while this process leads.
    leading: Option<CancellationToken>,
    leadership: Leadership,
}

/// Whether this process leads now, for health checks and metrics.
#[derive(Clone, Default)]
pub struct Leadership(Arc<AtomicBool>);

impl Leadership {
    pub fn is_leading(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Duties {
    pub fn new(app: Arc<App>, lease: Box<dyn LeadershipLease>) -> Duties {
        Duties {
            app,
            lease,
            leading: None,
            leadership: Leadership::default(),
        }
    }

    pub fn leadership(&self) -> Leadership {
        self.leadership.clone()
    }

    /// Take or renew the lease and start or stop the duties to match.
    /// Returns an error only from the reconciliation of a new leader (which
    /// leads all the same and retries nothing: its duties repair as they go).
    pub async fn step(&mut self, shutdown: &CancellationToken) -> Result<(), AppError> {
        let holds = self.lease.hold().await;
        match (holds, &self.leading) {
            (true, None) => {
                tracing::info!(
                    "this process leads: reconciling, then running the background duties"
                );
                let token = shutdown.child_token();
                self.leading = Some(token.clone());
                self.leadership.0.store(true, Ordering::SeqCst);
                let reconciled = self.app.reconcile().await;
                tokio::spawn(Meter::run(self.app.clone(), token.clone()));
                tokio::spawn(Settlement::run(self.app.clone(), token));
                let report = reconciled?;
                tracing::info!(?report, "reconciled");
            }
            (false, Some(token)) => {
                tracing::warn!("lost the leadership lease; stopping the background duties");
                token.cancel();
                self.leading = None;
                self.leadership.0.store(false, Ordering::SeqCst);
            }
            _ => {}
        }
        Ok(())
    }

    /// Keep stepping until `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut renew = tokio::time::interval(LEASE_RENEW);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = renew.tick() => {
                    if let Err(e) = self.step(&shutdown).await {
                        tracing::error!(error = %e, "reconciling as the new leader failed");
                    }
                }
            }
        }
        if let Some(token) = self.leading.take() {
            token.cancel();
        }
        self.leadership.0.store(false, Ordering::SeqCst);
    }
}
