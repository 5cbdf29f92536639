//! LNURL-pay (LUD-06) through a Lightning Address (LUD-16): resolve the
//! address, ask its callback for an invoice of the exact amount (both
//! requests under the outbound policy, lnurl-rs's types for the answers),
//! and check the invoice's signature, amount and description hash before
//! anyone pays it.

use super::bolt11;
use super::outbound::{OutboundError, OutboundPolicy};
use async_trait::async_trait;
use domain::lightning::{AddressResolver, LightningError};
use domain::Msats;
use lnurl::pay::{LnURLPayInvoice, PayResponse};
use sha2::{Digest, Sha256};

pub struct LnurlResolver {
    /// What the address's server and its callback may be.
    policy: OutboundPolicy,
}

impl LnurlResolver {
    pub fn new(policy: OutboundPolicy) -> LnurlResolver {
        LnurlResolver { policy }
    }
}

/// `name@host` split and checked (host may carry a port).
pub(crate) fn parse_address(address: &str) -> Result<(String, String), LightningError> {
    let (name, host) = address.trim().split_once('@').ok_or_else(|| {
        LightningError::Address("a Lightning Address looks like name@host".into())
    })?;
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c));
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:".contains(c));
    if !name_ok || !host_ok {
        return Err(LightningError::Address(format!(
            "'{address}' is not a valid Lightning Address"
        )));
    }
    Ok((name.to_lowercase(), host.to_lowercase()))
}

fn refused(address: &str, e: OutboundError) -> LightningError {
    LightningError::Address(format!("cannot resolve {address}: {e}"))
}

#[async_trait]
impl AddressResolver for LnurlResolver {
    async fn invoice_for(&self, address: &str, amount: Msats) -> Result<String, LightningError> {
        let (name, host) = parse_address(address)?;
        let scheme = if self.policy.allow_http {
            "http"
        } else {
            "https"
        };
        let url = format!("{scheme}://{host}/.well-known/lnurlp/{name}");
        let pay: PayResponse = self
            .policy
            .get_json(&url)
            .await
            .map_err(|e| refused(address, e))?;
        if amount.0 < pay.min_sendable || amount.0 > pay.max_sendable {
            return Err(LightningError::Address(
                "the address does not accept this amount".into(),
            ));
        }
        let separator = if pay.callback.contains('?') { '&' } else { '?' };
        let callback = format!("{}{separator}amount={}", pay.callback, amount.0);
        // The callback is another caller-chosen URL: the same policy applies.
        let invoice: LnURLPayInvoice = self
            .policy
            .get_json(&callback)
            .await
            .map_err(|e| refused(address, e))?;
        // The signature, the amount, and the commitment to the metadata (LUD-06).
        let decoded = bolt11::decode(&invoice.pr)?;
        if decoded.amount != Some(amount) {
            return Err(LightningError::InvalidInvoice(
                "the address's invoice is for another amount".into(),
            ));
        }
        let expected: [u8; 32] = Sha256::digest(pay.metadata.as_bytes()).into();
        if decoded.description_hash != Some(expected) {
            return Err(LightningError::InvalidInvoice(
                "the address's invoice does not commit to its metadata".into(),
            ));
        }
        Ok(invoice.pr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked() {
        assert_eq!(
            parse_address("Alice@example.com").unwrap(),
            ("alice".into(), "example.com".into())
        );
        assert_eq!(
            parse_address("w1@127.0.0.1:5000").unwrap().1,
            "127.0.0.1:5000"
        );
        assert!(parse_address("no-at-sign").is_err());
        assert!(parse_address("a@b/c").is_err());
        assert!(parse_address("@host").is_err());
    }
}
