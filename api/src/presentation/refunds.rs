//! The JSON of a refund, in every transport: paid or pending to a
//! Lightning Address, retrying, waiting behind an LNURL-withdraw link, or
//! nothing to refund; and a withdraw link as a bech32 `LNURL1...` string.

use crate::state::AppState;
use bech32::{Bech32, Hrp};
use commands::{RefundOutcome, WithdrawLink};
use serde_json::{json, Value};

/// A withdraw link as a bech32 `LNURL1...` string (LUD-01).
pub fn lnurl(url: &str) -> Option<String> {
    let hrp = Hrp::parse("lnurl").ok()?;
    bech32::encode::<Bech32>(hrp, url.as_bytes())
        .ok()
        .map(|s| s.to_uppercase())
}

/// A claimable withdraw link, as the terminate answer and the status show it.
pub fn withdraw_json(link: &commands::WithdrawLink) -> Value {
    json!({ "destination": "lnurl_withdraw", "status": "claimable", "amount_msats": link.amount.0, "lnurl": lnurl(&link.url), "url": link.url })
}

/// What the caller is told of a refund.
pub fn refund_json(state: &AppState, outcome: RefundOutcome) -> Value {
    match outcome {
        RefundOutcome::Nothing => {
            json!({ "destination": "none", "status": "nothing_to_refund", "amount_msats": 0 })
        }
        RefundOutcome::Paid {
            amount,
            payment_hash,
        } => {
            json!({ "destination": "lightning_address", "status": "paid", "amount_msats": amount.0, "payment_hash": payment_hash })
        }
        RefundOutcome::Pending {
            amount,
            payment_hash,
        } => {
            json!({ "destination": "lightning_address", "status": "pending", "amount_msats": amount.0, "payment_hash": payment_hash })
        }
        RefundOutcome::Retrying { amount, reason } => {
            json!({ "destination": "lightning_address", "status": "retrying", "amount_msats": amount.0, "reason": reason })
        }
        RefundOutcome::Withdraw { amount, k1 } => withdraw_json(&WithdrawLink {
            url: state.app.payouts().withdraw_url(&k1),
            amount,
        }),
    }
}

/// What a terminate answer says of the refund: `refund` when the sandbox
/// had one of its own (Lightning), else the credits that went back to the
/// account (`refunded`).
pub fn terminate_refund_json(
    state: &AppState,
    refund: Option<RefundOutcome>,
    refunded: domain::Msats,
) -> Value {
    match refund {
        None => json!({ "destination": "account", "amount_msats": refunded.0 }),
        Some(outcome) => refund_json(state, outcome),
    }
}

#[cfg(test)]
mod tests {
    use super::lnurl;

    #[test]
    fn lnurls_are_bech32_of_the_url() {
        let encoded = lnurl("https://example.com/v1/lnurl/withdraw/abc").unwrap();
        assert!(encoded.starts_with("LNURL1"));
        let (hrp, data) = bech32::decode(&encoded.to_lowercase()).unwrap();
        assert_eq!(hrp.as_str(), "lnurl");
        assert_eq!(data, b"https://example.com/v1/lnurl/withdraw/abc");
    }
}
