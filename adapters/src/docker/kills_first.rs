//! Stopping containers goes before starting them: a start waits while more
//! than a few containers are being killed. A terminate answers once its
//! kill is done, so under a busy engine terminates are served first, and
//! the CPU goes back to the running sandboxes before more containers start.

use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Notify;

/// Starts wait while more kills than this are in flight.
pub(super) const KILLS_BEFORE_STARTS: usize = 8;

#[derive(Default)]
pub(super) struct KillsFirst {
    in_flight: AtomicUsize,
    fewer: Notify,
}

/// A kill in flight, counted until dropped.
pub(super) struct Killing<'a>(&'a KillsFirst);

impl Drop for Killing<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.fewer.notify_waiters();
    }
}

impl KillsFirst {
    /// Count a kill until the guard is dropped.
    pub(super) fn killing(&self) -> Killing<'_> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Killing(self)
    }

    /// Wait until at most `KILLS_BEFORE_STARTS` kills are in flight.
    pub(super) async fn start_turn(&self) {
        loop {
            let fewer = self.fewer.notified();
            tokio::pin!(fewer);
            // Registered before the look, so a kill ending in between wakes it.
            fewer.as_mut().enable();
            if self.in_flight.load(Ordering::SeqCst) <= KILLS_BEFORE_STARTS {
                return;
            }
            fewer.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_start_waits_while_too_many_kills_are_in_flight() {
        let kills = KillsFirst::default();
        let mut guards: Vec<_> = (0..KILLS_BEFORE_STARTS).map(|_| kills.killing()).collect();
        // As many as allowed: a start goes at once.
        tokio::time::timeout(Duration::from_millis(100), kills.start_turn())
            .await
            .expect("a start with few kills in flight waited");
        guards.push(kills.killing());
        let waiting = tokio::time::timeout(Duration::from_millis(100), kills.start_turn()).await;
        assert!(
            waiting.is_err(),
            "a start went with too many kills in flight"
        );
        // One kill ends: the waiting start goes.
        let start = kills.start_turn();
        tokio::pin!(start);
        assert!(futures::poll!(start.as_mut()).is_pending());
        guards.pop();
        tokio::time::timeout(Duration::from_millis(100), start)
            .await
            .expect("a start was not woken when a kill ended");
        drop(guards);
        assert_eq!(kills.in_flight.load(Ordering::SeqCst), 0);
    }
}
