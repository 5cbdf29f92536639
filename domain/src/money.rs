//! Money values. All ledger amounts are integer millisatoshis; credits bought in
//! US cents convert to millisatoshis at a fixed, recorded price.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How many millisatoshis one US cent of credits buys (1 sat = 0.1 cent).
/// Every credit event records the amounts on both sides, so changing this
/// constant never rewrites history.
pub const MSATS_PER_CENT: u64 = 10_000;

/// An amount of millisatoshis. Never negative, never a float.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Msats(pub u64);

impl Msats {
    pub const ZERO: Msats = Msats(0);

    pub fn from_sats(sats: u64) -> Option<Msats> {
        sats.checked_mul(1000).map(Msats)
    }

    pub fn from_cents(cents: u64) -> Option<Msats> {
        cents.checked_mul(MSATS_PER_CENT).map(Msats)
    }

    /// Whole cents this amount is worth, rounded down.
    pub fn whole_cents(self) -> u64 {
        self.0 / MSATS_PER_CENT
    }

    pub fn checked_add(self, other: Msats) -> Option<Msats> {
        self.0.checked_add(other.0).map(Msats)
    }

    pub fn checked_sub(self, other: Msats) -> Option<Msats> {
        self.0.checked_sub(other.0).map(Msats)
    }

    pub fn saturating_sub(self, other: Msats) -> Msats {
        Msats(self.0.saturating_sub(other.0))
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Msats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} msat", self.0)
    }
}
