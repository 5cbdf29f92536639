//! The LNbits gateway: Sockt's own LNbits wallet (its admin key) issues
//! invoices, reports on them, and pays refunds.

use super::bolt11;
use async_trait::async_trait;
use domain::lightning::{Invoice, LightningError, LightningGateway, PayOutcome, PaymentState};
use domain::Msats;
use serde_json::{json, Value};
use std::time::Duration;

pub struct LnbitsGateway {
    http: reqwest::Client,
    base: String,
    /// Admin key of Sockt's wallet; never logged.
    admin_key: String,
}

impl LnbitsGateway {
    pub fn new(base_url: &str, admin_key: &str) -> anyhow::Result<LnbitsGateway> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(LnbitsGateway {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            admin_key: admin_key.to_string(),
        })
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, LightningError> {
        let response = request
            .header("X-Api-Key", &self.admin_key)
            .send()
            .await
            .map_err(|e| {
                LightningError::Unavailable(format!("LNbits at {}: {}", self.base, e.without_url()))
            })?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let detail = body
                .get("detail")
                .map(|d| d.to_string())
                .unwrap_or_default();
            let message = format!("LNbits answered {status} {detail}");
            // A server error may come after a payment was made: not a refusal.
            return Err(if status.is_client_error() {
                LightningError::Refused(message)
            } else {
                LightningError::Unavailable(message)
            });
        }
        Ok(body)
    }
}

#[async_trait]
impl LightningGateway for LnbitsGateway {
    async fn create_invoice(
        &self,
        amount: Msats,
        memo: &str,
        expiry_secs: u64,
        webhook: Option<&str>,
    ) -> Result<Invoice, LightningError> {
        if amount.0 == 0 || !amount.0.is_multiple_of(1000) {
            return Err(LightningError::InvalidInvoice(
                "invoices are for whole sats".into(),
            ));
        }
        let mut body =
            json!({ "out": false, "amount": amount.0 / 1000, "memo": memo, "expiry": expiry_secs });
        if let Some(webhook) = webhook {
            body["webhook"] = json!(webhook);
        }
        let created = self
            .send(
                self.http
                    .post(format!("{}/api/v1/payments", self.base))
                    .json(&body),
            )
            .await?;
        let bolt11 = created["bolt11"]
            .as_str()
            .ok_or_else(|| LightningError::Refused("LNbits returned no bolt11".into()))?;
        let invoice = self.decode(bolt11)?;
        if invoice.amount != amount
            || Some(invoice.payment_hash.as_str()) != created["payment_hash"].as_str()
        {
            return Err(LightningError::InvalidInvoice(
                "LNbits returned an invoice for another amount or hash".into(),
            ));
        }
        Ok(invoice)
    }

    async fn payment_state(&self, payment_hash: &str) -> Result<PaymentState, LightningError> {
        if payment_hash.len() != 64 || !payment_hash.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(LightningError::InvalidInvoice(
                "a payment hash is 64 hex digits".into(),
            ));
        }
        let found = self
            .send(
                self.http
                    .get(format!("{}/api/v1/payments/{payment_hash}", self.base)),
            )
            .await?;
        if found["paid"] == true {
            return Ok(PaymentState::Paid);
        }
        let status = found["status"]
            .as_str()
            .or_else(|| found["details"]["status"].as_str())
            .unwrap_or("pending");
        Ok(match status {
            "failed" | "expired" => PaymentState::Failed,
            _ => PaymentState::Pending,
        })
    }

    async fn pay(&self, invoice: &Invoice) -> Result<PayOutcome, LightningError> {
        let body = json!({ "out": true, "bolt11": invoice.bolt11 });
        let paid = self
            .send(
                self.http
                    .post(format!("{}/api/v1/payments", self.base))
                    .json(&body),
            )
            .await?;
        // LNbits answers 201 with a failed record for, e.g., an expired invoice.
        match paid["status"].as_str() {
            Some("success") => Ok(PayOutcome::Settled),
            Some("failed") => Err(LightningError::PaymentFailed(
                "LNbits reports the payment as failed".into(),
            )),
            // "pending", or a shape we do not know: follow it by its hash.
            _ => Ok(PayOutcome::Pending),
        }
    }

    fn payment_pushes(
        &self,
    ) -> Option<futures::stream::BoxStream<'static, domain::lightning::PaymentPush>> {
        Some(super::push::payment_pushes(&self.base, &self.admin_key))
    }

    fn decode(&self, bolt11: &str) -> Result<Invoice, LightningError> {
        let decoded = bolt11::decode(bolt11)?;
        let amount = decoded
            .amount
            .ok_or_else(|| LightningError::InvalidInvoice("it names no amount".into()))?;
        Ok(Invoice {
            bolt11: bolt11.trim().to_string(),
            payment_hash: decoded.payment_hash,
            amount,
            expires_at_ms: decoded.expires_at_ms,
        })
    }
}
