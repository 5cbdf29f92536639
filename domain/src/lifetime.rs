//! A sandbox's lifetime, chosen at create and shown in its status: a
//! `timeout_secs` after which it is terminated (its balance refunded), and
//! an `idle_pause_secs` after which a running sandbox with no command
//! running, no shell open and nothing started for that long pauses itself
//! (billing stops; resume brings it back). Both optional.

use serde::{Deserialize, Serialize};

/// The longest `timeout_secs`: thirty days.
pub const MAX_TIMEOUT_SECS: u64 = 30 * 24 * 3600;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifetime {
    /// Seconds from its start after which it is terminated.
    pub timeout_secs: Option<u64>,
    /// Seconds without activity after which it pauses.
    pub idle_pause_secs: Option<u64>,
}

impl Lifetime {
    /// Check a client's choice.
    pub fn new(
        timeout_secs: Option<u64>,
        idle_pause_secs: Option<u64>,
    ) -> Result<Lifetime, String> {
        for (name, value) in [
            ("timeout_secs", timeout_secs),
            ("idle_pause_secs", idle_pause_secs),
        ] {
            if let Some(secs) = value {
                if secs == 0 || secs > MAX_TIMEOUT_SECS {
                    return Err(format!("{name} must be between 1 and {MAX_TIMEOUT_SECS}"));
                }
            }
        }
        Ok(Lifetime {
            timeout_secs,
            idle_pause_secs,
        })
    }

    /// When a sandbox started at `started_at_ms` is to end, if ever.
    pub fn ends_at_ms(&self, started_at_ms: i64) -> Option<i64> {
        self.timeout_secs.map(|secs| {
            started_at_ms.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX / 1000) * 1000)
        })
    }

    /// Whether a sandbox last active at `last_active_ms` is idle at `now_ms`.
    pub fn idle_at(&self, last_active_ms: i64, now_ms: i64) -> bool {
        self.idle_pause_secs.is_some_and(|secs| {
            now_ms.saturating_sub(last_active_ms)
                >= i64::try_from(secs).unwrap_or(i64::MAX / 1000) * 1000
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_checked() {
        assert!(Lifetime::new(Some(0), None).is_err());
        assert!(Lifetime::new(None, Some(MAX_TIMEOUT_SECS + 1)).is_err());
        assert_eq!(Lifetime::new(None, None).unwrap(), Lifetime::default());
    }

    #[test]
    fn ends_and_idleness_follow_the_settings() {
        let lifetime = Lifetime::new(Some(60), Some(10)).unwrap();
        assert_eq!(lifetime.ends_at_ms(1_000), Some(61_000));
        assert!(!lifetime.idle_at(1_000, 10_999));
        assert!(lifetime.idle_at(1_000, 11_000));
        assert_eq!(Lifetime::default().ends_at_ms(1_000), None);
        assert!(!Lifetime::default().idle_at(0, i64::MAX));
    }
}
