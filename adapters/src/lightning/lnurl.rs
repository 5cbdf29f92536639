//! LNURL-pay (LUD-06) through a Lightning Address (LUD-16): resolve the
//! address, ask its callback for an invoice of the exact amount, and check
//! the invoice's amount and description hash before anyone pays it.

use super::bolt11;
use async_trait::async_trait;
use domain::lightning::{AddressResolver, LightningError};
use domain::Msats;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::Duration;

pub struct LnurlResolver {
    http: reqwest::Client,
    /// Plain http for address hosts (tests against a loopback LNbits only).
    allow_http: bool,
}

impl LnurlResolver {
    pub fn new(allow_http: bool) -> anyhow::Result<LnurlResolver> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()?;
        Ok(LnurlResolver { http, allow_http })
    }

    async fn get_json(&self, url: &str) -> Result<Value, LightningError> {
        let response =
            self.http.get(url).send().await.map_err(|e| {
                LightningError::Address(format!("{} is unreachable", e.without_url()))
            })?;
        let body: Value = response
            .json()
            .await
            .map_err(|_| LightningError::Address("the answer is not JSON".into()))?;
        if body["status"] == "ERROR" {
            return Err(LightningError::Address(
                body["reason"]
                    .as_str()
                    .unwrap_or("the service refused")
                    .to_string(),
            ));
        }
        Ok(body)
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

#[async_trait]
impl AddressResolver for LnurlResolver {
    async fn invoice_for(&self, address: &str, amount: Msats) -> Result<String, LightningError> {
        let (name, host) = parse_address(address)?;
        let scheme = if self.allow_http { "http" } else { "https" };
        let pay = self
            .get_json(&format!("{scheme}://{host}/.well-known/lnurlp/{name}"))
            .await?;
        if pay["tag"] != "payRequest" {
            return Err(LightningError::Address(
                "the address does not accept payments (no payRequest)".into(),
            ));
        }
        let (min, max) = (
            pay["minSendable"].as_u64().unwrap_or(1),
            pay["maxSendable"].as_u64().unwrap_or(0),
        );
        if amount.0 < min || amount.0 > max {
            return Err(LightningError::Address(format!(
                "the address accepts {min}..{max} msat, not {}",
                amount.0
            )));
        }
        let callback = pay["callback"]
            .as_str()
            .ok_or_else(|| LightningError::Address("no callback".into()))?;
        let metadata = pay["metadata"]
            .as_str()
            .ok_or_else(|| LightningError::Address("no metadata".into()))?;
        let separator = if callback.contains('?') { '&' } else { '?' };
        let answer = self
            .get_json(&format!("{callback}{separator}amount={}", amount.0))
            .await?;
        let bolt11 = answer["pr"]
            .as_str()
            .ok_or_else(|| LightningError::Address("the callback returned no invoice".into()))?;
        let decoded = bolt11::decode(bolt11)?;
        if decoded.amount != Some(amount) {
            return Err(LightningError::InvalidInvoice(
                "the address's invoice is for another amount".into(),
            ));
        }
        let expected: [u8; 32] = Sha256::digest(metadata.as_bytes()).into();
        if decoded.description_hash != Some(expected) {
            return Err(LightningError::InvalidInvoice(
                "the address's invoice does not commit to its metadata".into(),
            ));
        }
        Ok(bolt11.to_string())
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
