//! The metering arithmetic: what an interval of running time costs.
//!
//! Rule (stated to auditors): an interval of `d` milliseconds at `r` msats per
//! second costs `floor(r × d / 1000)` msats, capped at the balance left. Time
//! is integer milliseconds since the Unix epoch.

use crate::Msats;

/// The price of `duration_ms` of running time at `msats_per_second`.
pub fn interval_cost(msats_per_second: u64, duration_ms: u64) -> Msats {
    let cost = (msats_per_second as u128 * duration_ms as u128) / 1000;
    Msats(u64::try_from(cost).unwrap_or(u64::MAX))
}

/// What a charge for `[from_ms, to_ms)` takes from a balance: the interval
/// cost, capped at the balance.
pub fn charge(msats_per_second: u64, from_ms: i64, to_ms: i64, balance: Msats) -> Msats {
    let duration = u64::try_from(to_ms.saturating_sub(from_ms)).unwrap_or(0);
    interval_cost(msats_per_second, duration).min(balance)
}

/// Whole seconds a balance lasts at a rate (None when the rate is zero).
pub fn seconds_remaining(balance: Msats, msats_per_second: u64) -> Option<u64> {
    balance.0.checked_div(msats_per_second)
}

/// The low-balance rule: less than `low_balance_secs` of running left.
pub fn runs_low(balance: Msats, msats_per_second: u64, low_balance_secs: u64) -> bool {
    seconds_remaining(balance, msats_per_second).is_some_and(|left| left < low_balance_secs)
}

/// The millisecond at which a balance runs out when charging starts at `from_ms`.
pub fn exhausted_at(balance: Msats, msats_per_second: u64, from_ms: i64) -> Option<i64> {
    if msats_per_second == 0 {
        return None;
    }
    // Smallest d with floor(r*d/1000) >= balance: d = ceil(balance*1000/r).
    let needed = (balance.0 as u128 * 1000).div_ceil(msats_per_second as u128);
    i64::try_from(needed)
        .ok()
        .map(|d| from_ms.saturating_add(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_second_costs_the_rate() {
        assert_eq!(interval_cost(500, 1000), Msats(500));
        assert_eq!(interval_cost(2_500, 1), Msats(2));
        assert_eq!(interval_cost(500, 1), Msats(0));
    }

    #[test]
    fn charge_is_capped_at_the_balance() {
        assert_eq!(charge(1000, 0, 10_000, Msats(3_000)), Msats(3_000));
        assert_eq!(charge(1000, 10, 5, Msats(3_000)), Msats(0));
    }

    proptest! {
        /// Splitting an interval never charges more than charging it whole, and
        /// loses less than one msat per split.
        #[test]
        fn splitting_never_overcharges(rate in 0u64..100_000, cuts in proptest::collection::vec(0u64..100_000, 1..20)) {
            let mut sorted = cuts.clone();
            sorted.sort();
            let total = *sorted.last().unwrap_or(&0);
            let mut previous = 0;
            let mut sum = 0u64;
            for cut in &sorted {
                sum += interval_cost(rate, cut - previous).0;
                previous = *cut;
            }
            let whole = interval_cost(rate, total).0;
            prop_assert!(sum <= whole);
            prop_assert!(whole - sum <= sorted.len() as u64);
        }

        /// The exhaustion instant is the first millisecond at which the cost covers the balance.
        #[test]
        fn exhaustion_is_exact(balance in 0u64..10_000_000_000, rate in 1u64..100_000, from in 0i64..1_000_000_000) {
            let at = exhausted_at(Msats(balance), rate, from).unwrap();
            prop_assert!(interval_cost(rate, (at - from) as u64).0 >= balance);
            if at > from {
                prop_assert!(interval_cost(rate, (at - from - 1) as u64).0 < balance);
            }
        }

        /// A charge never exceeds the balance nor the interval's cost.
        #[test]
        fn charge_bounds(rate in 0u64..100_000, from in 0i64..1_000_000, len in 0i64..1_000_000, balance in 0u64..1_000_000_000) {
            let c = charge(rate, from, from + len, Msats(balance));
            prop_assert!(c.0 <= balance);
            prop_assert!(c <= interval_cost(rate, len as u64));
        }
    }
}
