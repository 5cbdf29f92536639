//! A clock that moves only when the test moves it.

use domain::ports::Clock;
use std::sync::atomic::{AtomicI64, Ordering};

pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn at(now_ms: i64) -> ManualClock {
        ManualClock(AtomicI64::new(now_ms))
    }

    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
