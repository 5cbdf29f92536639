//! A Lightning gateway and address resolver in memory. Invoices are
//! `lnfake:<payment hash>:<msats>:<expiry ms>`; the test marks them paid, and
//! decides how each outgoing payment ends.

use async_trait::async_trait;
use domain::lightning::{AddressResolver, Invoice, LightningError, LightningGateway, PaymentState};
use domain::ports::Clock;
use domain::Msats;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

/// How the next outgoing payment ends.
#[derive(Debug, Clone)]
pub enum PayOutcome {
    Settled,
    Failed(String),
}

pub struct FakeGateway {
    clock: Arc<dyn Clock>,
    incoming: Mutex<BTreeMap<String, (Invoice, PaymentState)>>,
    /// Outcomes of the next payments; settled when empty.
    outcomes: Mutex<VecDeque<PayOutcome>>,
    /// Every payment made (settled), by amount.
    pub paid: Mutex<Vec<Invoice>>,
    next: Mutex<u64>,
    /// How long each payment-state check takes.
    latency: Mutex<std::time::Duration>,
}

impl FakeGateway {
    pub fn new(clock: Arc<dyn Clock>) -> FakeGateway {
        FakeGateway {
            clock,
            incoming: Mutex::default(),
            outcomes: Mutex::default(),
            paid: Mutex::default(),
            next: Mutex::new(0),
            latency: Mutex::default(),
        }
    }

    /// Every payment-state check takes `latency` from now on.
    pub fn slow(&self, latency: std::time::Duration) {
        *self.latency.lock().unwrap_or_else(|p| p.into_inner()) = latency;
    }

    /// The payer pays the invoice.
    pub fn settle(&self, payment_hash: &str) {
        if let Some(entry) = self
            .incoming
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(payment_hash)
        {
            entry.1 = PaymentState::Paid;
        }
    }

    pub fn then_pay(&self, outcome: PayOutcome) {
        self.outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(outcome);
    }

    pub fn paid_msats(&self) -> u64 {
        self.paid
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|i| i.amount.0)
            .sum()
    }

    /// A fresh invoice string for `amount`, as a wallet would make.
    pub fn invoice_string(&self, amount: Msats) -> String {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        *next += 1;
        format!(
            "lnfake:{:064x}:{}:{}",
            *next,
            amount.0,
            self.clock.now_ms() + 600_000
        )
    }
}

#[async_trait]
impl LightningGateway for FakeGateway {
    async fn create_invoice(
        &self,
        amount: Msats,
        _memo: &str,
        _expiry_secs: u64,
        _webhook: Option<&str>,
    ) -> Result<Invoice, LightningError> {
        let invoice = self.decode(&self.invoice_string(amount))?;
        self.incoming
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                invoice.payment_hash.clone(),
                (invoice.clone(), PaymentState::Pending),
            );
        Ok(invoice)
    }

    async fn payment_state(&self, payment_hash: &str) -> Result<PaymentState, LightningError> {
        let latency = *self.latency.lock().unwrap_or_else(|p| p.into_inner());
        tokio::time::sleep(latency).await;
        Ok(self
            .incoming
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(payment_hash)
            .map_or(PaymentState::Failed, |(_, state)| *state))
    }

    async fn pay(&self, invoice: &Invoice) -> Result<String, LightningError> {
        let outcome = self
            .outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
            .unwrap_or(PayOutcome::Settled);
        match outcome {
            PayOutcome::Settled => {
                self.paid
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(invoice.clone());
                Ok(invoice.payment_hash.clone())
            }
            PayOutcome::Failed(reason) => Err(LightningError::PaymentFailed(reason)),
        }
    }

    fn decode(&self, bolt11: &str) -> Result<Invoice, LightningError> {
        let bad = || LightningError::InvalidInvoice(bolt11.to_string());
        let mut parts = bolt11.strip_prefix("lnfake:").ok_or_else(bad)?.split(':');
        let payment_hash = parts.next().ok_or_else(bad)?.to_string();
        let amount = parts.next().and_then(|a| a.parse().ok()).ok_or_else(bad)?;
        let expires_at_ms = parts.next().and_then(|e| e.parse().ok()).ok_or_else(bad)?;
        Ok(Invoice {
            bolt11: bolt11.to_string(),
            payment_hash,
            amount: Msats(amount),
            expires_at_ms,
        })
    }
}

/// Every Lightning Address resolves to an invoice of the gateway's making.
pub struct FakeResolver(pub Arc<FakeGateway>);

#[async_trait]
impl AddressResolver for FakeResolver {
    async fn invoice_for(&self, _address: &str, amount: Msats) -> Result<String, LightningError> {
        Ok(self.0.invoice_string(amount))
    }
}
