//! Settlement: the background work of Lightning billing, as independent
//! loops so that no slow or hanging gateway call in one holds up another —
//! top-up invoices for sandboxes running low (every second, whatever else
//! is slow), outgoing payments followed to their end, open invoices polled
//! (every second while the gateway's payment pushes are not flowing, now
//! and then while they are), and pushed payments settled as they arrive.
//! Every gateway call has a deadline.

use crate::app::App;
use crate::lightning::gateway_limits::{GATEWAY_CONCURRENCY, GATEWAY_TIMEOUT};
use domain::lightning::PaymentPush;
use domain::sandbox::{BillingMethod, PauseReason, SandboxState};
use domain::Msats;
use futures::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long before a sandbox runs low its top-up invoice is issued.
const TOPUP_LEAD: Duration = Duration::from_secs(3);
/// How often each loop makes its pass.
const PASS_EVERY: Duration = Duration::from_secs(1);
/// How often open invoices are polled while the gateway's pushes are
/// connected (polling is then only the fallback for a lost push).
const POLL_WITH_PUSH_EVERY: u32 = 10;

pub struct Settlement;

impl Settlement {
    /// Run every loop until `shutdown` is cancelled.
    pub async fn run(app: Arc<App>, shutdown: CancellationToken) {
        if app.invoices.lightning().is_err() {
            return;
        }
        let pushes_flow = Arc::new(AtomicBool::new(false));
        let topups = every_pass(&shutdown, || app.offer_topups());
        let payouts = every_pass(&shutdown, || app.payouts.follow_payouts());
        let mut passes: u32 = 0;
        let polls = every_pass(&shutdown, || {
            let due =
                !pushes_flow.load(Ordering::Relaxed) || passes.is_multiple_of(POLL_WITH_PUSH_EVERY);
            passes = passes.wrapping_add(1);
            let app = &app;
            async move {
                if due {
                    app.poll_open_invoices().await
                }
            }
        });
        let pushes = follow_pushes(app.clone(), &shutdown, pushes_flow.clone());
        tokio::join!(topups, payouts, polls, pushes);
    }
}

/// Run `pass` every second (a long pass delays only its own next one)
/// until `shutdown`.
async fn every_pass<F: std::future::Future<Output = ()>>(
    shutdown: &CancellationToken,
    mut pass: impl FnMut() -> F,
) {
    let mut tick = tokio::time::interval(PASS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = pass() => {}
        }
    }
}

/// Take the gateway's payment pushes: note whether they flow, and settle
/// each pushed payment in a task of its own.
async fn follow_pushes(app: Arc<App>, shutdown: &CancellationToken, pushes_flow: Arc<AtomicBool>) {
    let Some(mut pushes) = app
        .invoices
        .lightning()
        .ok()
        .and_then(|l| l.gateway.payment_pushes())
    else {
        return;
    };
    loop {
        let push = tokio::select! {
            _ = shutdown.cancelled() => return,
            push = pushes.next() => push,
        };
        match push {
            None => {
                pushes_flow.store(false, Ordering::Relaxed);
                return;
            }
            Some(PaymentPush::Connected) => pushes_flow.store(true, Ordering::Relaxed),
            Some(PaymentPush::Disconnected) => pushes_flow.store(false, Ordering::Relaxed),
            Some(PaymentPush::Payment(payment_hash)) => {
                let app = app.clone();
                tokio::spawn(async move { app.settle_pushed(&payment_hash).await });
            }
        }
    }
}

impl App {
    /// Settle a payment the gateway pushed (only hashes of our open
    /// invoices are looked at; the gateway is asked whether it is paid).
    async fn settle_pushed(self: &Arc<Self>, payment_hash: &str) {
        if self.queries.open_invoice(payment_hash).is_none() {
            return;
        }
        match tokio::time::timeout(GATEWAY_TIMEOUT, self.invoices.settle_payment(payment_hash))
            .await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(payment_hash, error = %e, "could not settle a pushed payment; polling will retry")
            }
            Err(_) => tracing::warn!(
                payment_hash,
                "the gateway did not answer in time; polling will retry"
            ),
        }
    }

    /// Ask the gateway about every open invoice, crediting the paid ones.
    async fn poll_open_invoices(self: &Arc<Self>) {
        futures::stream::iter(self.queries.open_invoices())
            .for_each_concurrent(GATEWAY_CONCURRENCY, |(_, invoice)| async move {
                let checked =
                    tokio::time::timeout(GATEWAY_TIMEOUT, self.invoices.settle_payment(&invoice.payment_hash))
                        .await;
                match checked {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(payment_hash = %invoice.payment_hash, error = %e, "could not check a payment")
                    }
                    Err(_) => {
                        tracing::warn!(payment_hash = %invoice.payment_hash, "the gateway did not answer in time")
                    }
                }
            })
            .await;
    }

    /// Offer a top-up invoice to Lightning sandboxes running low or paused
    /// empty that have none to pay (several at once: one slow answer from
    /// the gateway holds up no other sandbox's invoice).
    async fn offer_topups(self: &Arc<Self>) {
        let Ok(lightning) = self.invoices.lightning() else {
            return;
        };
        let topup = Msats::from_sats(lightning.config.topup_sats).unwrap_or(Msats(1000));
        let now = self.now_ms();
        let wanting = self
            .queries
            .sandboxes_in(&[SandboxState::Running, SandboxState::Paused])
            .into_iter()
            .filter(|view| {
                view.billing == BillingMethod::Lightning
                    && view.pending_invoice.is_none()
                    && match view.state {
                        // A few seconds early: the invoice is there by the
                        // time the status says `low_balance`, not after.
                        SandboxState::Running => view.runs_low_at(
                            now + TOPUP_LEAD.as_millis() as i64,
                            self.config.low_balance_secs,
                        ),
                        _ => view.pause_reason == Some(PauseReason::OutOfBalance),
                    }
            });
        futures::stream::iter(wanting)
            .for_each_concurrent(GATEWAY_CONCURRENCY, |view| async move {
                let issued = tokio::time::timeout(
                    GATEWAY_TIMEOUT,
                    self.invoices.issue_invoice(&view.sandbox_id, topup),
                )
                .await;
                match issued {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(sandbox_id = %view.sandbox_id, error = %e, "could not issue a top-up invoice")
                    }
                    Err(_) => {
                        tracing::warn!(sandbox_id = %view.sandbox_id, "the gateway did not issue a top-up invoice in time")
                    }
                }
            })
            .await;
    }
}
