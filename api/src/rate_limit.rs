//! Per-caller request rate limit (requests per minute per API key, sandbox
//! token, or client address for anonymous calls). HTTP requests
//! (`rest::middleware`) and GraphQL operations over WebSocket
//! (`graphql::gate`) draw from the same buckets, named by `bucket_of`.

use commands::Principal;
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

/// The bucket a caller draws from: its principal's own, or — anonymous, or
/// with a credential this process does not know — its address's, so that
/// invented tokens buy no extra requests.
pub fn bucket_of(principal: Option<&Principal>, client: Option<IpAddr>) -> String {
    match principal {
        Some(Principal::Admin) => "admin".to_string(),
        Some(Principal::Account(id)) => format!("account:{id}"),
        Some(Principal::SandboxToken(hash)) => format!("sandbox:{hash}"),
        Some(Principal::Anonymous) | None => match client {
            Some(ip) => format!("addr:{ip}"),
            None => "addr:unknown".to_string(),
        },
    }
}

/// Whole seconds to wait before retrying (at least 1).
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs_f64().ceil() as u64).max(1)
}

pub struct CallerLimiter {
    limiter: RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>,
    clock: DefaultClock,
}

impl CallerLimiter {
    pub fn per_minute(limit: NonZeroU32) -> CallerLimiter {
        CallerLimiter {
            limiter: RateLimiter::keyed(Quota::per_minute(limit)),
            clock: DefaultClock::default(),
        }
    }

    /// Ok, or how long the caller must wait.
    pub fn check(&self, caller: &str) -> Result<(), Duration> {
        self.limiter
            .check_key(&caller.to_string())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forget callers whose buckets are full again.
    pub fn shrink(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_applies_per_caller() {
        let limiter = CallerLimiter::per_minute(NonZeroU32::new(2).unwrap());
        assert!(limiter.check("a").is_ok());
        assert!(limiter.check("a").is_ok());
        let wait = limiter.check("a").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(30));
        assert!(limiter.check("b").is_ok());
    }

    #[test]
    fn anonymous_callers_share_their_address_bucket() {
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(bucket_of(None, Some(ip)), "addr:192.0.2.7");
        assert_eq!(
            bucket_of(Some(&Principal::Anonymous), Some(ip)),
            "addr:192.0.2.7"
        );
        assert_eq!(bucket_of(None, None), "addr:unknown");
        assert_eq!(
            bucket_of(Some(&Principal::Account("acc_1".into())), Some(ip)),
            "account:acc_1"
        );
        assert_eq!(bucket_of(Some(&Principal::Admin), None), "admin");
    }
}
