//! Lookups in the views that the other services and the background make:
//! sandboxes by state, live counts (for admission, see
//! `sandboxes::admission`), open invoices, payouts and transfers. Named
//! here, so what reads a view — and may lag another process's commits — is
//! visible in one place.

use crate::queries::Queries;
use domain::lightning::Invoice;
use domain::sandbox::{RefundInFlight, SandboxState};
use domain::transfers::CreditTransfer;
use projections::{AccountView, ExecutionView, SandboxView};

impl Queries {
    pub(crate) fn view_of(&self, sandbox_id: &str) -> Option<SandboxView> {
        self.read.sandbox(sandbox_id)
    }

    pub(crate) fn account_view(&self, account_id: &str) -> Option<AccountView> {
        self.read.account(account_id)
    }

    pub(crate) fn execution_view(&self, execution_id: &str) -> Option<ExecutionView> {
        self.read.execution(execution_id)
    }

    pub(crate) fn running_executions(&self) -> Vec<ExecutionView> {
        self.read.running_executions()
    }

    pub(crate) fn sandboxes_in(&self, states: &[SandboxState]) -> Vec<SandboxView> {
        self.read.sandboxes_in(states)
    }

    pub(crate) fn live_sandbox_count(&self) -> usize {
        self.read.live_sandbox_count()
    }

    pub(crate) fn live_sandbox_count_of(&self, account_id: &str) -> usize {
        self.read.live_sandbox_count_of(account_id)
    }

    pub(crate) fn open_invoice(&self, payment_hash: &str) -> Option<(String, Invoice)> {
        self.read.open_invoice(payment_hash)
    }

    pub(crate) fn open_invoices(&self) -> Vec<(String, Invoice)> {
        self.read.open_invoices()
    }

    pub(crate) fn payouts_in_flight(&self) -> Vec<(String, RefundInFlight)> {
        self.read.payouts_in_flight()
    }

    pub(crate) fn open_transfers(&self, allocated_before_ms: i64) -> Vec<(String, CreditTransfer)> {
        self.read.open_transfers(allocated_before_ms)
    }

    pub(crate) fn sandbox_for_withdraw(&self, k1_hash: &str) -> Option<String> {
        self.read.sandbox_for_withdraw(k1_hash)
    }
}
