//! Commands the `Sandbox` aggregate accepts. Every command carries the time it
//! is issued at, so the aggregate stays pure.

use super::event::{BillingMethod, FundingSource, PauseReason, RefundDestination, RefundTarget};
use crate::env::SealedEnv;
use crate::execution::{ExecutionStatus, OutputDigest};
use crate::lifetime::Lifetime;
use crate::lightning::Invoice;
use crate::network::NetworkPolicy;
use crate::{Msats, TierName};
use serde::{Deserialize, Serialize};

/// An amount and its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Funding {
    pub amount: Msats,
    pub source: FundingSource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SandboxCommand {
    CreateSandbox {
        owner: Option<String>,
        tier: TierName,
        billing: BillingMethod,
        label: Option<String>,
        image: String,
        token_hash: Option<String>,
        initial_funding: Option<Funding>,
        network: NetworkPolicy,
        runtime: Option<String>,
        lifetime: Lifetime,
        env: Option<SealedEnv>,
        now_ms: i64,
    },
    ExtendBalance {
        funding: Funding,
        now_ms: i64,
    },
    /// Let the holder of a new preview token reach the proxied ports.
    IssuePreviewToken {
        token_hash: String,
        now_ms: i64,
    },
    RevokePreviewToken {
        now_ms: i64,
    },
    /// Open a shell; a ticket's nonce opens at most one.
    OpenShell {
        shell_id: String,
        ticket_nonce: Option<String>,
        now_ms: i64,
    },
    CloseShell {
        shell_id: String,
        bytes_in: u64,
        bytes_out: u64,
        reason: String,
        now_ms: i64,
    },
    /// A paid sandbox that found no room waits, unbilled.
    QueueSandbox {
        now_ms: i64,
    },
    /// Room freed: the queued sandbox is created.
    DequeueSandbox {
        now_ms: i64,
    },
    /// Refuse credit transfer `transfer_id` for good (it has not reached the
    /// sandbox, which may not even exist yet), so its account can undo it.
    VoidTransfer {
        transfer_id: String,
        now_ms: i64,
    },
    RecordStarted {
        container_id: String,
        now_ms: i64,
    },
    StartExecution {
        execution_id: String,
        command: String,
        working_dir: String,
        timeout_ms: u64,
        /// The process that runs it (see `ports::Runners`).
        runner: Option<String>,
        now_ms: i64,
    },
    FinishExecution {
        execution_id: String,
        status: ExecutionStatus,
        exit_code: Option<i64>,
        error: Option<String>,
        duration_ms: u64,
        output: OutputDigest,
        now_ms: i64,
    },
    /// Charge running time up to `now_ms`; warn when fewer than
    /// `low_balance_secs` seconds of balance remain.
    ChargeUsage {
        now_ms: i64,
        low_balance_secs: u64,
    },
    PauseSandbox {
        reason: PauseReason,
        now_ms: i64,
    },
    ResumeSandbox {
        now_ms: i64,
    },
    TerminateSandbox {
        now_ms: i64,
    },
    /// A Lightning invoice that will fund the sandbox once paid.
    IssueInvoice {
        invoice: Invoice,
        now_ms: i64,
    },
    /// The pending invoice expired unpaid; it is never credited.
    ExpireInvoice {
        payment_hash: String,
        now_ms: i64,
    },
    /// Unused balance of an ended sandbox was paid out.
    RecordRefund {
        amount: Msats,
        destination: RefundDestination,
        now_ms: i64,
    },
    /// Hold `amount` of the balance for an outgoing payment about to be
    /// made (at most one at a time); recorded before the payment.
    ReserveRefund {
        refund_id: String,
        amount: Msats,
        payment_hash: String,
        expires_at_ms: i64,
        target: RefundTarget,
        now_ms: i64,
    },
    /// The reserved payment settled.
    SettleRefund {
        refund_id: String,
        now_ms: i64,
    },
    /// The reserved payment definitely failed: the amount is balance again.
    ReleaseRefund {
        refund_id: String,
        reason: String,
        now_ms: i64,
    },
    RecordRefundFailure {
        /// The Lightning Address the refund goes to (kept to retry after a restart).
        address: String,
        reason: String,
        now_ms: i64,
    },
    /// The unused balance waits behind an LNURL-withdraw link whose secret
    /// `k1` hashes to `k1_hash` (and is derived from `nonce`, so the owner
    /// can be shown the link again; see `commands::lightning::links`).
    OfferWithdraw {
        k1_hash: String,
        nonce: Option<String>,
        amount: Msats,
        now_ms: i64,
    },
    /// The sandbox can no longer run (its container could not be made or
    /// vanished). No time after the last charge is billed.
    FailSandbox {
        reason: String,
        now_ms: i64,
    },
}
