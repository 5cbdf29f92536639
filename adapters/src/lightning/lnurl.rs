//! LNURL-pay (LUD-06) through a Lightning Address (LUD-16), with lnurl-rs:
//! resolve the address, ask its callback for an invoice of the exact amount,
//! and check the invoice's signature, amount and description hash before
//! anyone pays it.

use super::bolt11;
use async_trait::async_trait;
use domain::lightning::{AddressResolver, LightningError};
use domain::Msats;
use sha2::{Digest, Sha256};

pub struct LnurlResolver {
    client: lnurl::AsyncClient,
    /// Plain http for address hosts (tests against a loopback LNbits only).
    allow_http: bool,
}

impl LnurlResolver {
    pub fn new(allow_http: bool) -> anyhow::Result<LnurlResolver> {
        let client = lnurl::AsyncClient::from_builder(lnurl::Builder::default().timeout(20))?;
        Ok(LnurlResolver { client, allow_http })
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

fn address_error(host: &str, e: lnurl::Error) -> LightningError {
    match e {
        lnurl::Error::Reqwest(_) => LightningError::Address(format!("{host} is unreachable")),
        lnurl::Error::InvalidAmount => {
            LightningError::Address("the address does not accept this amount".into())
        }
        lnurl::Error::InvoiceAmountMismatch { .. } => {
            LightningError::InvalidInvoice("the address's invoice is for another amount".into())
        }
        other => LightningError::Address(format!("{host} answered unexpectedly: {other}")),
    }
}

#[async_trait]
impl AddressResolver for LnurlResolver {
    async fn invoice_for(&self, address: &str, amount: Msats) -> Result<String, LightningError> {
        // lnurl-rs builds https URLs from addresses; build ours (LUD-16) so a
        // test wallet on loopback http works, and let lnurl-rs do the rest.
        let (name, host) = parse_address(address)?;
        let scheme = if self.allow_http { "http" } else { "https" };
        let url = format!("{scheme}://{host}/.well-known/lnurlp/{name}");
        let pay = match self
            .client
            .make_request(&url)
            .await
            .map_err(|e| address_error(&host, e))?
        {
            lnurl::LnUrlResponse::LnUrlPayResponse(pay) => pay,
            _ => {
                return Err(LightningError::Address(
                    "the address does not accept payments (no payRequest)".into(),
                ))
            }
        };
        let invoice = self
            .client
            .get_invoice(&pay, amount.0, None, None)
            .await
            .map_err(|e| address_error(&host, e))?;
        // Check what lnurl-rs does not: the signature, and the commitment to the metadata (LUD-06).
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
