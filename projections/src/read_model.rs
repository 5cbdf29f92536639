//! The in-memory read model: a `Query` for both aggregates that keeps every
//! view current, and the lookups the transports use.

use crate::accounts::{statement_entry, AccountEntry, AccountView};
use crate::executions::ExecutionView;
use crate::ledger::{entry_for, LedgerEntry};
use crate::sandboxes::SandboxView;
use async_trait::async_trait;
use cqrs_es::{EventEnvelope, Query};
use domain::account::{Account, AccountEvent};
use domain::execution::ExecutionStatus;
use domain::lightning::Invoice;
use domain::sandbox::FundingSource;
use domain::sandbox::{Sandbox, SandboxEvent, SandboxState};
use domain::transfers::{CreditTransfer, CreditTransfers};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

#[derive(Default, PartialEq, Serialize, Deserialize)]
struct Views {
    sandboxes: HashMap<String, SandboxView>,
    executions: HashMap<String, ExecutionView>,
    ledgers: HashMap<String, Vec<LedgerEntry>>,
    accounts: HashMap<String, AccountView>,
    statements: HashMap<String, Vec<AccountEntry>>,
    /// Ring buffers: a long-lived sandbox drops its oldest entry per new one.
    timelines: HashMap<String, VecDeque<TimelineEntry>>,
    account_by_key: HashMap<String, String>,
    /// Unpaid, unexpired invoices: payment hash → (sandbox, invoice).
    open_invoices: HashMap<String, (String, Invoice)>,
    /// LNURL-withdraw offers: k1 hash → sandbox.
    withdraw_offers: HashMap<String, String>,
    /// Sandbox tokens: token hash → sandbox.
    #[serde(default)]
    sandbox_by_token: HashMap<String, String>,
    /// Credit transfers between accounts and sandboxes not complete yet.
    #[serde(default)]
    open_transfers: CreditTransfers,
    /// Each sandbox's executions, in start order (so a sandbox's end or
    /// listing looks at its own executions, not at every one).
    #[serde(default)]
    executions_by_sandbox: HashMap<String, Vec<String>>,
    /// Sandboxes holding (or about to hold) a container, in all and per owner.
    #[serde(default)]
    live: usize,
    #[serde(default)]
    live_by_owner: HashMap<String, usize>,
}

fn is_live(state: SandboxState) -> bool {
    matches!(
        state,
        SandboxState::Creating
            | SandboxState::Starting
            | SandboxState::Running
            | SandboxState::Paused
    )
}

/// The shape of checkpoints; bump it whenever `Views` changes shape, so old
/// checkpoints are ignored and the views are rebuilt from the events.
pub const CHECKPOINT_FORMAT: u32 = 3;

#[derive(Serialize)]
struct Checkpoint<'a> {
    format: u32,
    views: &'a Views,
}

#[derive(Deserialize)]
struct LoadedCheckpoint {
    format: u32,
    views: Views,
}

/// A checkpoint that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("unusable read-model checkpoint: {0}")]
pub struct CheckpointError(String);

/// How many of a sandbox's most recent events its in-memory timeline keeps.
pub const TIMELINE_KEPT: usize = 1000;

/// One event of a sandbox's stream, for timelines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub sandbox_id: String,
    pub sequence: usize,
    pub event_type: String,
    pub at_ms: i64,
    /// The event itself (serialised, its JSON payload as stored).
    pub payload: SandboxEvent,
}

/// Shared, cheaply cloneable handle on every view.
#[derive(Clone)]
pub struct ReadModel {
    views: Arc<RwLock<Views>>,
    /// Every sandbox event as it is applied, for live subscribers.
    changes: tokio::sync::broadcast::Sender<TimelineEntry>,
}

impl Default for ReadModel {
    fn default() -> Self {
        ReadModel {
            views: Arc::default(),
            changes: tokio::sync::broadcast::channel(1024).0,
        }
    }
}

impl ReadModel {
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, Views> {
        self.views
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Views> {
        self.views
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Live sandbox events from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<TimelineEntry> {
        self.changes.subscribe()
    }

    /// A sandbox's most recent events (at most `TIMELINE_KEPT`), oldest first.
    pub fn timeline(&self, sandbox_id: &str) -> Vec<TimelineEntry> {
        self.read()
            .timelines
            .get(sandbox_id)
            .map(|timeline| timeline.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The executions of one sandbox, oldest first.
    pub fn executions_of(&self, sandbox_id: &str) -> Vec<ExecutionView> {
        let views = self.read();
        let mut list: Vec<ExecutionView> = views
            .executions_by_sandbox
            .get(sandbox_id)
            .into_iter()
            .flatten()
            .filter_map(|id| views.executions.get(id))
            .cloned()
            .collect();
        list.sort_by_key(|e| e.started_at_ms);
        list
    }

    /// Every sandbox, newest first.
    pub fn all_sandboxes(&self) -> Vec<SandboxView> {
        let mut list: Vec<SandboxView> = self.read().sandboxes.values().cloned().collect();
        list.sort_by(|a, b| {
            b.created_at_ms
                .cmp(&a.created_at_ms)
                .then(a.sandbox_id.cmp(&b.sandbox_id))
        });
        list
    }

    /// Every account.
    pub fn all_accounts(&self) -> Vec<AccountView> {
        let mut list: Vec<AccountView> = self.read().accounts.values().cloned().collect();
        list.sort_by_key(|a| a.created_at_ms);
        list
    }

    /// Every view, serialized, for a checkpoint (taken while no event is
    /// being delivered, with the position the views are at).
    pub fn export(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(&Checkpoint {
            format: CHECKPOINT_FORMAT,
            views: &self.read(),
        })
    }

    /// Replace every view with a checkpoint's. A checkpoint of another format
    /// is refused, and the caller rebuilds from the events instead.
    pub fn import(&self, checkpoint: &str) -> Result<(), CheckpointError> {
        let loaded: LoadedCheckpoint =
            serde_json::from_str(checkpoint).map_err(|e| CheckpointError(e.to_string()))?;
        if loaded.format != CHECKPOINT_FORMAT {
            return Err(CheckpointError(format!(
                "format {} is not {CHECKPOINT_FORMAT}",
                loaded.format
            )));
        }
        *self.write() = loaded.views;
        Ok(())
    }

    /// Drop every view (after a failed import, before a rebuild).
    pub fn import_empty(&self) {
        *self.write() = Views::default();
    }

    /// Whether two read models hold exactly the same views.
    pub fn same_as(&self, other: &ReadModel) -> bool {
        *self.read() == *other.read()
    }

    /// How many sandboxes, executions and accounts the model holds.
    pub fn counts(&self) -> (usize, usize, usize) {
        let views = self.read();
        (
            views.sandboxes.len(),
            views.executions.len(),
            views.accounts.len(),
        )
    }

    pub fn sandbox(&self, sandbox_id: &str) -> Option<SandboxView> {
        self.read().sandboxes.get(sandbox_id).cloned()
    }

    /// Every sandbox in one of `states`.
    pub fn sandboxes_in(&self, states: &[SandboxState]) -> Vec<SandboxView> {
        self.read()
            .sandboxes
            .values()
            .filter(|s| states.contains(&s.state))
            .cloned()
            .collect()
    }

    /// Sandboxes that hold (or are about to hold) a container.
    pub fn live_sandbox_count(&self) -> usize {
        self.read().live
    }

    /// The live sandboxes of one owner.
    pub fn live_sandbox_count_of(&self, owner: &str) -> usize {
        self.read().live_by_owner.get(owner).copied().unwrap_or(0)
    }

    pub fn count_by_state(&self) -> Vec<(SandboxState, usize)> {
        let mut counts: HashMap<SandboxState, usize> = HashMap::new();
        for s in self.read().sandboxes.values() {
            *counts.entry(s.state).or_default() += 1;
        }
        let mut counts: Vec<_> = counts.into_iter().collect();
        counts.sort_by_key(|(s, _)| s.as_str());
        counts
    }

    pub fn execution(&self, execution_id: &str) -> Option<ExecutionView> {
        self.read().executions.get(execution_id).cloned()
    }

    pub fn running_executions(&self) -> Vec<ExecutionView> {
        self.read()
            .executions
            .values()
            .filter(|e| e.status == ExecutionStatus::Running)
            .cloned()
            .collect()
    }

    pub fn ledger(&self, sandbox_id: &str) -> Vec<LedgerEntry> {
        self.read()
            .ledgers
            .get(sandbox_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Every movement of an account's credits, oldest first.
    pub fn account_statement(&self, account_id: &str) -> Vec<AccountEntry> {
        self.read()
            .statements
            .get(account_id)
            .cloned()
            .unwrap_or_default()
    }

    pub fn account(&self, account_id: &str) -> Option<AccountView> {
        self.read().accounts.get(account_id).cloned()
    }

    pub fn account_by_key_hash(&self, key_hash: &str) -> Option<AccountView> {
        let views = self.read();
        let id = views.account_by_key.get(key_hash)?;
        views.accounts.get(id).cloned()
    }

    /// Credit transfers a crash (or a process still at work) left open
    /// (see `domain::transfers`): every refund not yet taken back by its
    /// account, and the allocations started before `allocated_before_ms`
    /// that no sandbox took.
    pub fn open_transfers(&self, allocated_before_ms: i64) -> Vec<(String, CreditTransfer)> {
        self.read()
            .open_transfers
            .open()
            .filter(|(_, t)| t.is_refund() || t.started_at_ms < allocated_before_ms)
            .map(|(id, t)| (id.clone(), t.clone()))
            .collect()
    }

    /// Every invoice not yet paid nor expired, with its sandbox.
    pub fn open_invoices(&self) -> Vec<(String, Invoice)> {
        self.read().open_invoices.values().cloned().collect()
    }

    /// The sandbox that issued the invoice with this payment hash, if still open.
    pub fn open_invoice(&self, payment_hash: &str) -> Option<(String, Invoice)> {
        self.read().open_invoices.get(payment_hash).cloned()
    }

    /// Outgoing payments reserved and not yet settled or released.
    pub fn payouts_in_flight(&self) -> Vec<(String, domain::sandbox::RefundInFlight)> {
        self.read()
            .sandboxes
            .values()
            .filter_map(|v| {
                v.refund_in_flight
                    .clone()
                    .map(|payout| (v.sandbox_id.clone(), payout))
            })
            .collect()
    }

    /// The sandbox a sandbox token (by its hash) stands for, if any.
    pub fn sandbox_for_token(&self, token_hash: &str) -> Option<String> {
        self.read().sandbox_by_token.get(token_hash).cloned()
    }

    /// The sandbox whose LNURL-withdraw offer has this k1 hash.
    pub fn sandbox_for_withdraw(&self, k1_hash: &str) -> Option<String> {
        self.read().withdraw_offers.get(k1_hash).cloned()
    }

    fn apply_sandbox_event(
        views: &mut Views,
        sandbox_id: &str,
        sequence: usize,
        event: &SandboxEvent,
    ) {
        if let Some(view) = SandboxView::created(sandbox_id, event) {
            if let Some(token_hash) = &view.token_hash {
                views
                    .sandbox_by_token
                    .insert(token_hash.clone(), sandbox_id.to_string());
            }
            views.sandboxes.insert(sandbox_id.to_string(), view);
        }
        if let Some(view) = views.sandboxes.get_mut(sandbox_id) {
            let was_live = is_live(view.state);
            view.apply(event);
            let now_live = is_live(view.state);
            if was_live != now_live {
                let owner = view.owner.clone();
                Self::count_live(views, owner, now_live);
            }
        }
        if let Some(transfer_id) = views.open_transfers.record_sandbox_event(sandbox_id, event) {
            views.open_transfers.forget_complete(&transfer_id);
        }
        let ledger = value_of(&mut views.ledgers, sandbox_id);
        if let Some(entry) = entry_for(sequence, event, ledger.last()) {
            ledger.push(entry);
        }
        match event {
            SandboxEvent::ExecStarted {
                execution_id,
                command,
                working_dir,
                timeout_ms,
                runner,
                at_ms,
            } => {
                views
                    .executions_by_sandbox
                    .entry(sandbox_id.to_string())
                    .or_default()
                    .push(execution_id.clone());
                views.executions.insert(
                    execution_id.clone(),
                    ExecutionView {
                        execution_id: execution_id.clone(),
                        sandbox_id: sandbox_id.to_string(),
                        command: command.clone(),
                        working_dir: working_dir.clone(),
                        timeout_ms: *timeout_ms,
                        status: ExecutionStatus::Running,
                        exit_code: None,
                        error: None,
                        started_at_ms: *at_ms,
                        duration_ms: None,
                        output: None,
                        runner: runner.clone(),
                    },
                );
            }
            SandboxEvent::ExecFinished {
                execution_id,
                status,
                exit_code,
                error,
                duration_ms,
                output,
                ..
            } => {
                if let Some(view) = views.executions.get_mut(execution_id) {
                    view.status = *status;
                    view.exit_code = *exit_code;
                    view.error = error.clone();
                    view.duration_ms = Some(*duration_ms);
                    view.output = Some(output.clone());
                }
            }
            SandboxEvent::SandboxTerminated { .. } | SandboxEvent::SandboxFailed { .. } => {
                // A process that dies with its sandbox ends with it.
                let own = views
                    .executions_by_sandbox
                    .get(sandbox_id)
                    .cloned()
                    .unwrap_or_default();
                for id in own {
                    if let Some(view) = views.executions.get_mut(&id) {
                        if view.status == ExecutionStatus::Running {
                            view.status = ExecutionStatus::Failed;
                            view.error = Some("the sandbox ended while the command ran".into());
                        }
                    }
                }
            }
            SandboxEvent::InvoiceIssued { invoice, .. } => {
                views.open_invoices.insert(
                    invoice.payment_hash.clone(),
                    (sandbox_id.to_string(), invoice.clone()),
                );
            }
            SandboxEvent::InvoiceExpired { payment_hash, .. }
            | SandboxEvent::BalanceExtended {
                source: FundingSource::Payment { payment_hash },
                ..
            } => {
                views.open_invoices.remove(payment_hash);
            }
            SandboxEvent::WithdrawOffered { k1_hash, .. } => {
                views
                    .withdraw_offers
                    .insert(k1_hash.clone(), sandbox_id.to_string());
            }
            _ => {}
        }
    }

    /// A sandbox became live (or stopped being live).
    fn count_live(views: &mut Views, owner: Option<String>, live: bool) {
        let adjust = |n: &mut usize| {
            *n = if live { *n + 1 } else { n.saturating_sub(1) };
        };
        adjust(&mut views.live);
        if let Some(owner) = owner {
            adjust(views.live_by_owner.entry(owner).or_default());
        }
    }

    fn apply_account_event(
        views: &mut Views,
        account_id: &str,
        sequence: usize,
        event: &AccountEvent,
    ) {
        if let Some(entry) = statement_entry(sequence, event) {
            views
                .statements
                .entry(account_id.to_string())
                .or_default()
                .push(entry);
        }
        if let Some(view) = AccountView::opened(account_id, event) {
            views
                .account_by_key
                .insert(view.key_hash.clone(), account_id.to_string());
            views.accounts.insert(account_id.to_string(), view);
        }
        if let Some(view) = views.accounts.get_mut(account_id) {
            view.apply(event);
        }
        if let Some(transfer_id) = views.open_transfers.record_account_event(account_id, event) {
            views.open_transfers.forget_complete(&transfer_id);
        }
    }
}

#[async_trait]
impl Query<Sandbox> for ReadModel {
    async fn dispatch(&self, aggregate_id: &str, events: &[EventEnvelope<Sandbox>]) {
        // Nobody listening (a replay, a quiet server): the run's events
        // that later ones in it push out of the timeline are never made.
        let listening = self.changes.receiver_count() > 0;
        let kept_from = if listening {
            0
        } else {
            events.len().saturating_sub(TIMELINE_KEPT)
        };
        let mut entries = Vec::new();
        {
            let mut views = self.write();
            for (index, envelope) in events.iter().enumerate() {
                Self::apply_sandbox_event(
                    &mut views,
                    aggregate_id,
                    envelope.sequence,
                    &envelope.payload,
                );
                if index < kept_from {
                    continue;
                }
                let entry = TimelineEntry {
                    sandbox_id: aggregate_id.to_string(),
                    sequence: envelope.sequence,
                    event_type: cqrs_es::DomainEvent::event_type(&envelope.payload),
                    at_ms: envelope.payload.at_ms(),
                    payload: envelope.payload.clone(),
                };
                let timeline = value_of(&mut views.timelines, aggregate_id);
                // Memory stays bounded for long-lived sandboxes; the store keeps everything.
                if timeline.len() >= TIMELINE_KEPT {
                    timeline.pop_front();
                }
                if listening {
                    entries.push(entry.clone());
                }
                timeline.push_back(entry);
            }
        }
        for entry in entries {
            // A listener gone meanwhile is fine.
            let _ = self.changes.send(entry);
        }
    }
}

/// The map's value at `key`, made empty first if there is none (without
/// allocating the key when it is there, as `entry` would on every call).
fn value_of<'a, V: Default>(map: &'a mut HashMap<String, V>, key: &str) -> &'a mut V {
    if !map.contains_key(key) {
        map.insert(key.to_string(), V::default());
    }
    map.get_mut(key).expect("inserted just above")
}

#[async_trait]
impl Query<Account> for ReadModel {
    async fn dispatch(&self, aggregate_id: &str, events: &[EventEnvelope<Account>]) {
        let mut views = self.write();
        for envelope in events {
            Self::apply_account_event(
                &mut views,
                aggregate_id,
                envelope.sequence,
                &envelope.payload,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resumed(sequence: usize) -> EventEnvelope<Sandbox> {
        EventEnvelope {
            aggregate_id: "s".into(),
            sequence,
            payload: SandboxEvent::SandboxResumed {
                at_ms: sequence as i64,
            },
            metadata: HashMap::new(),
        }
    }

    #[tokio::test]
    async fn a_timeline_keeps_the_latest_events_in_order() {
        let model = ReadModel::new();
        let first: Vec<_> = (1..=TIMELINE_KEPT - 1).map(resumed).collect();
        model.dispatch("s", &first).await;
        let rest: Vec<_> = (TIMELINE_KEPT..TIMELINE_KEPT + 5).map(resumed).collect();
        model.dispatch("s", &rest).await;

        let timeline = model.timeline("s");
        assert_eq!(timeline.len(), TIMELINE_KEPT);
        let sequences: Vec<usize> = timeline.iter().map(|e| e.sequence).collect();
        let expected: Vec<usize> = (5..TIMELINE_KEPT + 5).collect();
        assert_eq!(sequences, expected);
        assert!(model.timeline("another").is_empty());
    }

    #[tokio::test]
    async fn a_long_run_keeps_its_latest_events_and_a_listener_hears_all() {
        let run: Vec<_> = (1..=TIMELINE_KEPT + 10).map(resumed).collect();
        let expected: Vec<usize> = (11..=TIMELINE_KEPT + 10).collect();

        let quiet = ReadModel::new();
        quiet.dispatch("s", &run).await;
        let kept: Vec<usize> = quiet.timeline("s").iter().map(|e| e.sequence).collect();
        assert_eq!(kept, expected);

        let heard = ReadModel::new();
        let mut listener = heard.subscribe();
        heard.dispatch("s", &run).await;
        let kept: Vec<usize> = heard.timeline("s").iter().map(|e| e.sequence).collect();
        assert_eq!(kept, expected);
        let mut received = Vec::new();
        while let Ok(entry) = listener.try_recv() {
            received.push(entry.sequence);
        }
        assert_eq!(received, (1..=TIMELINE_KEPT + 10).collect::<Vec<_>>());
    }
}
