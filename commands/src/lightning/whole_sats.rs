//! The part of a balance Lightning can pay: whole sats (a payment carries no
//! millisats, so the dust below one sat stays behind).

use domain::Msats;

/// `amount` rounded down to whole sats.
pub(crate) fn whole_sats(amount: Msats) -> Msats {
    Msats(amount.0 - amount.0 % 1000)
}
