//! A Lightning gateway and address resolver in memory. Invoices are
//! `lnfake:<payment hash>:<msats>:<expiry ms>`; the test marks them paid, and
//! decides how each outgoing payment ends.

use async_trait::async_trait;
use domain::lightning::{
    AddressResolver, Invoice, LightningError, LightningGateway, PayOutcome, PaymentPush,
    PaymentState,
};
use domain::ports::Clock;
use domain::Msats;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

/// How the next outgoing payment goes.
#[derive(Debug, Clone)]
pub enum FakePayment {
    Settled,
    /// In flight; `finish_payment` decides how it ends.
    Pending,
    /// Refused by the network: definitely not paid.
    Failed(String),
    /// The call hangs up: made or not, the caller cannot tell.
    Unreachable,
}

pub struct FakeGateway {
    clock: Arc<dyn Clock>,
    incoming: Mutex<BTreeMap<String, (Invoice, PaymentState)>>,
    /// Outcomes of the next payments; settled when empty.
    outcomes: Mutex<VecDeque<FakePayment>>,
    /// Outgoing payments made or in flight, by payment hash.
    outgoing: Mutex<BTreeMap<String, (Invoice, PaymentState)>>,
    next: Mutex<u64>,
    /// How long each payment-state check takes.
    latency: Mutex<std::time::Duration>,
    /// The receiving end of the push stream, until `payment_pushes` takes it.
    pushes: Mutex<Option<futures::channel::mpsc::UnboundedReceiver<PaymentPush>>>,
    /// Where `push` sends (pushes are offered only once `with_pushes` made them).
    push_sender: Mutex<Option<futures::channel::mpsc::UnboundedSender<PaymentPush>>>,
}

impl FakeGateway {
    pub fn new(clock: Arc<dyn Clock>) -> FakeGateway {
        FakeGateway {
            clock,
            incoming: Mutex::default(),
            outcomes: Mutex::default(),
            outgoing: Mutex::default(),
            next: Mutex::new(0),
            latency: Mutex::default(),
            pushes: Mutex::default(),
            push_sender: Mutex::default(),
        }
    }

    /// Offer a push stream (unconnected until `push(PaymentPush::Connected)`).
    pub fn with_pushes(&self) {
        let (sender, receiver) = futures::channel::mpsc::unbounded();
        *self.pushes.lock().unwrap_or_else(|p| p.into_inner()) = Some(receiver);
        *self.push_sender.lock().unwrap_or_else(|p| p.into_inner()) = Some(sender);
    }

    /// Send an item down the push stream.
    pub fn push(&self, item: PaymentPush) {
        if let Some(sender) = &*self.push_sender.lock().unwrap_or_else(|p| p.into_inner()) {
            let _ = sender.unbounded_send(item);
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

    pub fn then_pay(&self, outcome: FakePayment) {
        self.outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(outcome);
    }

    /// An outgoing payment in flight ends as `state`.
    pub fn finish_payment(&self, payment_hash: &str, state: PaymentState) {
        if let Some(entry) = self
            .outgoing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(payment_hash)
        {
            entry.1 = state;
        }
    }

    /// Msats that left the wallet (settled outgoing payments).
    pub fn paid_msats(&self) -> u64 {
        self.outgoing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|(_, state)| *state == PaymentState::Paid)
            .map(|(invoice, _)| invoice.amount.0)
            .sum()
    }

    /// Outgoing payments made or in flight.
    pub fn payments_made(&self) -> usize {
        self.outgoing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
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
        if let Some((_, state)) = self
            .outgoing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(payment_hash)
        {
            return Ok(*state);
        }
        // As LNbits answers 404 for a payment it never made.
        self.incoming
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(payment_hash)
            .map(|(_, state)| *state)
            .ok_or_else(|| LightningError::Refused("no such payment".into()))
    }

    async fn pay(&self, invoice: &Invoice) -> Result<PayOutcome, LightningError> {
        // As every node does: an expired invoice is not paid.
        if invoice.expires_at_ms < self.clock.now_ms() {
            return Err(LightningError::PaymentFailed(
                "the invoice has expired".into(),
            ));
        }
        let outcome = self
            .outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
            .unwrap_or(FakePayment::Settled);
        let mut outgoing = self.outgoing.lock().unwrap_or_else(|p| p.into_inner());
        if outgoing.contains_key(&invoice.payment_hash) {
            return Err(LightningError::PaymentFailed("invoice already paid".into()));
        }
        let state = match &outcome {
            FakePayment::Settled => PaymentState::Paid,
            FakePayment::Pending | FakePayment::Unreachable => PaymentState::Pending,
            FakePayment::Failed(reason) => {
                return Err(LightningError::PaymentFailed(reason.clone()));
            }
        };
        outgoing.insert(invoice.payment_hash.clone(), (invoice.clone(), state));
        match outcome {
            FakePayment::Unreachable => Err(LightningError::Unavailable("connection reset".into())),
            FakePayment::Pending => Ok(PayOutcome::Pending),
            _ => Ok(PayOutcome::Settled),
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

    fn payment_pushes(&self) -> Option<futures::stream::BoxStream<'static, PaymentPush>> {
        use futures::StreamExt;
        let receiver = self
            .pushes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()?;
        Some(receiver.boxed())
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
