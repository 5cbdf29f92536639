//! When the runtime last served a sandbox (a command, a file, a shell, a
//! create): the warm pool's refill waits for a quiet moment before making a
//! container, so that making containers does not take the CPU from a burst
//! of commands — but never waits long, so the pool still refills under a
//! steady load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub(super) struct Activity {
    started: Instant,
    /// Milliseconds after `started` of the latest touch.
    last_ms: AtomicU64,
}

impl Activity {
    pub(super) fn new() -> Activity {
        Activity {
            started: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    /// The runtime serves a sandbox now.
    pub(super) fn touch(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(now, Ordering::Relaxed);
    }

    /// How long ago the latest touch was (since start when never touched).
    fn idle_for(&self) -> Duration {
        let now = self.started.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }

    /// Wait until nothing has been served for `quiet`, or `at_most`:
    /// whether it is quiet (false: the wait ended at its cap, still busy).
    pub(super) async fn quiet(&self, quiet: Duration, at_most: Duration) -> bool {
        let deadline = Instant::now() + at_most;
        loop {
            let idle = self.idle_for();
            if idle >= quiet {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            let wait = (quiet - idle).min(deadline.saturating_duration_since(Instant::now()));
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_refill_waits_for_quiet_but_not_forever() {
        let activity = Activity::new();
        activity.touch();
        let started = Instant::now();
        let calm = activity
            .quiet(Duration::from_millis(100), Duration::from_secs(5))
            .await;
        let waited = started.elapsed();
        assert!(calm, "the wait ended in the quiet");
        assert!(waited >= Duration::from_millis(90), "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");

        // Touched all the time (by a thread of its own, so a busy test
        // runner cannot leave a gap as long as the quiet): the wait ends
        // at its cap.
        let busy = std::sync::Arc::new(activity);
        let toucher = busy.clone();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let touching = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                toucher.touch();
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        busy.touch();
        let started = Instant::now();
        let calm = busy
            .quiet(Duration::from_millis(300), Duration::from_millis(600))
            .await;
        let waited = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        touching.join().expect("toucher");
        assert!(!calm, "the wait ended at its cap, still busy");
        assert!(
            waited >= Duration::from_millis(590) && waited < Duration::from_secs(3),
            "{waited:?}"
        );
    }
}
