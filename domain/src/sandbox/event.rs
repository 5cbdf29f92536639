//! Events of the `Sandbox` stream. Names and shapes are stable once stored: a
//! shape change gets a new version and an upcaster.

use crate::env::SealedEnv;
use crate::execution::{ExecutionStatus, OutputDigest};
use crate::lifetime::Lifetime;
use crate::lightning::Invoice;
use crate::network::NetworkPolicy;
use crate::{Msats, TierName};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillingMethod {
    Credits,
    Lightning,
}

impl BillingMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            BillingMethod::Credits => "credits",
            BillingMethod::Lightning => "lightning",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    Requested,
    OutOfBalance,
    /// Nothing happened in it for its `idle_pause_secs`.
    Idle,
}

/// Where money put into a sandbox came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum FundingSource {
    /// Credits allocated from an account, by a transfer (see
    /// `crate::transfers`; `None` in events written before transfers had ids).
    Account {
        account_id: String,
        transfer_id: Option<String>,
    },
    /// A settled Lightning invoice.
    Payment { payment_hash: String },
}

/// Where a refund that is being paid goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum RefundTarget {
    /// An invoice from a Lightning Address (LNURL-pay).
    LightningAddress { address: String },
    /// The wallet's invoice claiming an LNURL-withdraw link.
    Withdraw { k1_hash: String },
}

/// Where unused balance went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum RefundDestination {
    /// Credits returned to the owning account, by a transfer (see
    /// `crate::transfers`; `None` in events written before transfers had ids).
    Account {
        account_id: String,
        transfer_id: Option<String>,
    },
    Payment {
        payment_hash: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SandboxEvent {
    /// Version 1.1 carries the network policy (1.0 had none; its upcaster
    /// adds the open default) and the OCI runtime chosen for it (None: the
    /// engine's default).
    SandboxCreated {
        owner: Option<String>,
        tier: TierName,
        msats_per_second: u64,
        billing: BillingMethod,
        label: Option<String>,
        image: String,
        token_hash: Option<String>,
        #[serde(default)]
        network: NetworkPolicy,
        #[serde(default)]
        runtime: Option<String>,
        #[serde(default)]
        lifetime: Lifetime,
        /// Variables for every command, sealed (values never in clear).
        #[serde(default)]
        env: Option<SealedEnv>,
        at_ms: i64,
    },
    /// Version 1.1: an account source names its transfer.
    BalanceExtended {
        amount: Msats,
        source: FundingSource,
        balance_after: Msats,
        at_ms: i64,
    },
    SandboxStarted {
        container_id: String,
        at_ms: i64,
    },
    /// Version 1.1 names the process that runs the command (1.0 did not;
    /// its upcaster adds `runner: null`).
    ExecStarted {
        execution_id: String,
        command: String,
        working_dir: String,
        timeout_ms: u64,
        runner: Option<String>,
        at_ms: i64,
    },
    ExecFinished {
        execution_id: String,
        status: ExecutionStatus,
        exit_code: Option<i64>,
        error: Option<String>,
        duration_ms: u64,
        output: OutputDigest,
        at_ms: i64,
    },
    /// Running time `[from_ms, to_ms)` charged at `msats_per_second`:
    /// `amount = min(floor(rate × (to − from) / 1000), balance before)`.
    UsageCharged {
        from_ms: i64,
        to_ms: i64,
        msats_per_second: u64,
        amount: Msats,
        balance_after: Msats,
    },
    LowBalanceWarned {
        balance: Msats,
        seconds_remaining: u64,
        at_ms: i64,
    },
    SandboxPaused {
        reason: PauseReason,
        at_ms: i64,
    },
    /// A preview token (its hash) now opens the sandbox's proxied ports to
    /// whoever holds it; it replaces any earlier one.
    PreviewTokenIssued {
        token_hash: String,
        at_ms: i64,
    },
    /// The preview token no longer opens anything.
    PreviewTokenRevoked {
        at_ms: i64,
    },
    /// An interactive shell opened (by a single-use ticket's `ticket_nonce`,
    /// or by a credential in a header). What is typed is never recorded.
    ShellOpened {
        shell_id: String,
        ticket_nonce: Option<String>,
        at_ms: i64,
    },
    /// The shell closed, with how many bytes went in and came out.
    ShellClosed {
        shell_id: String,
        bytes_in: u64,
        bytes_out: u64,
        reason: String,
        at_ms: i64,
    },
    SandboxResumed {
        at_ms: i64,
    },
    SandboxTerminated {
        at_ms: i64,
    },
    /// Version 1.1: an account destination names its transfer.
    RefundIssued {
        amount: Msats,
        destination: RefundDestination,
        balance_after: Msats,
        at_ms: i64,
    },
    SandboxFailed {
        reason: String,
        at_ms: i64,
    },
    /// An unpaid sandbox ended: its first invoice expired.
    SandboxExpired {
        at_ms: i64,
    },
    InvoiceIssued {
        invoice: Invoice,
        at_ms: i64,
    },
    InvoiceExpired {
        payment_hash: String,
        at_ms: i64,
    },
    RefundFailed {
        amount: Msats,
        address: String,
        reason: String,
        attempt: u32,
        at_ms: i64,
    },
    /// Version 1.1 keeps the nonce the link's secret is derived from (1.0
    /// links had a random secret that was shown once: `nonce: null`).
    WithdrawOffered {
        k1_hash: String,
        nonce: Option<String>,
        amount: Msats,
        at_ms: i64,
    },
    /// An outgoing payment is about to be made: its amount leaves the balance
    /// and is held until the payment settles or definitely fails.
    RefundReserved {
        refund_id: String,
        amount: Msats,
        payment_hash: String,
        /// When the invoice being paid expires.
        expires_at_ms: i64,
        target: RefundTarget,
        balance_after: Msats,
        at_ms: i64,
    },
    /// The reserved payment settled: the amount is refunded.
    RefundSettled {
        refund_id: String,
        amount: Msats,
        payment_hash: String,
        at_ms: i64,
    },
    /// The reserved payment definitely failed: the amount is balance again.
    RefundReleased {
        refund_id: String,
        amount: Msats,
        reason: String,
        balance_after: Msats,
        at_ms: i64,
    },
    /// Paid while the server had no room: it waits, unbilled.
    SandboxQueued {
        at_ms: i64,
    },
    /// Room freed: the queued sandbox is being created.
    SandboxDequeued {
        at_ms: i64,
    },
    /// A credit transfer this sandbox never took, refused for good so its
    /// account can take the credits back (see `crate::transfers`). It may
    /// be the only event of a stream whose create never happened.
    TransferVoided {
        transfer_id: String,
        at_ms: i64,
    },
}

impl SandboxEvent {
    /// When it happened (a charge: the end of the interval it covers).
    pub fn at_ms(&self) -> i64 {
        match self {
            SandboxEvent::UsageCharged { to_ms, .. } => *to_ms,
            SandboxEvent::SandboxCreated { at_ms, .. }
            | SandboxEvent::BalanceExtended { at_ms, .. }
            | SandboxEvent::SandboxStarted { at_ms, .. }
            | SandboxEvent::ExecStarted { at_ms, .. }
            | SandboxEvent::ExecFinished { at_ms, .. }
            | SandboxEvent::LowBalanceWarned { at_ms, .. }
            | SandboxEvent::SandboxPaused { at_ms, .. }
            | SandboxEvent::SandboxResumed { at_ms }
            | SandboxEvent::SandboxTerminated { at_ms }
            | SandboxEvent::RefundIssued { at_ms, .. }
            | SandboxEvent::SandboxFailed { at_ms, .. }
            | SandboxEvent::SandboxExpired { at_ms }
            | SandboxEvent::InvoiceIssued { at_ms, .. }
            | SandboxEvent::InvoiceExpired { at_ms, .. }
            | SandboxEvent::RefundFailed { at_ms, .. }
            | SandboxEvent::WithdrawOffered { at_ms, .. }
            | SandboxEvent::RefundReserved { at_ms, .. }
            | SandboxEvent::RefundSettled { at_ms, .. }
            | SandboxEvent::RefundReleased { at_ms, .. }
            | SandboxEvent::TransferVoided { at_ms, .. }
            | SandboxEvent::SandboxQueued { at_ms }
            | SandboxEvent::SandboxDequeued { at_ms }
            | SandboxEvent::PreviewTokenIssued { at_ms, .. }
            | SandboxEvent::PreviewTokenRevoked { at_ms }
            | SandboxEvent::ShellOpened { at_ms, .. }
            | SandboxEvent::ShellClosed { at_ms, .. } => *at_ms,
        }
    }
}

impl DomainEvent for SandboxEvent {
    fn event_type(&self) -> String {
        let name = match self {
            SandboxEvent::SandboxCreated { .. } => "SandboxCreated",
            SandboxEvent::BalanceExtended { .. } => "BalanceExtended",
            SandboxEvent::SandboxStarted { .. } => "SandboxStarted",
            SandboxEvent::ExecStarted { .. } => "ExecStarted",
            SandboxEvent::ExecFinished { .. } => "ExecFinished",
            SandboxEvent::UsageCharged { .. } => "UsageCharged",
            SandboxEvent::LowBalanceWarned { .. } => "LowBalanceWarned",
            SandboxEvent::SandboxPaused { .. } => "SandboxPaused",
            SandboxEvent::SandboxResumed { .. } => "SandboxResumed",
            SandboxEvent::SandboxTerminated { .. } => "SandboxTerminated",
            SandboxEvent::RefundIssued { .. } => "RefundIssued",
            SandboxEvent::SandboxFailed { .. } => "SandboxFailed",
            SandboxEvent::SandboxExpired { .. } => "SandboxExpired",
            SandboxEvent::InvoiceIssued { .. } => "InvoiceIssued",
            SandboxEvent::InvoiceExpired { .. } => "InvoiceExpired",
            SandboxEvent::RefundFailed { .. } => "RefundFailed",
            SandboxEvent::WithdrawOffered { .. } => "WithdrawOffered",
            SandboxEvent::RefundReserved { .. } => "RefundReserved",
            SandboxEvent::RefundSettled { .. } => "RefundSettled",
            SandboxEvent::RefundReleased { .. } => "RefundReleased",
            SandboxEvent::TransferVoided { .. } => "TransferVoided",
            SandboxEvent::SandboxQueued { .. } => "SandboxQueued",
            SandboxEvent::SandboxDequeued { .. } => "SandboxDequeued",
            SandboxEvent::PreviewTokenIssued { .. } => "PreviewTokenIssued",
            SandboxEvent::PreviewTokenRevoked { .. } => "PreviewTokenRevoked",
            SandboxEvent::ShellOpened { .. } => "ShellOpened",
            SandboxEvent::ShellClosed { .. } => "ShellClosed",
        };
        name.to_string()
    }

    /// Each variant's payload version; a shape change bumps it and adds an
    /// upcaster (see `crate::upcasting`) that turns the old JSON into the new.
    fn event_version(&self) -> String {
        match self {
            SandboxEvent::SandboxCreated { .. }
            | SandboxEvent::ExecStarted { .. }
            | SandboxEvent::BalanceExtended { .. }
            | SandboxEvent::RefundIssued { .. }
            | SandboxEvent::WithdrawOffered { .. } => "1.1",
            SandboxEvent::SandboxStarted { .. }
            | SandboxEvent::ExecFinished { .. }
            | SandboxEvent::UsageCharged { .. }
            | SandboxEvent::LowBalanceWarned { .. }
            | SandboxEvent::SandboxPaused { .. }
            | SandboxEvent::SandboxResumed { .. }
            | SandboxEvent::SandboxTerminated { .. }
            | SandboxEvent::SandboxFailed { .. }
            | SandboxEvent::SandboxExpired { .. }
            | SandboxEvent::InvoiceIssued { .. }
            | SandboxEvent::InvoiceExpired { .. }
            | SandboxEvent::RefundFailed { .. }
            | SandboxEvent::RefundReserved { .. }
            | SandboxEvent::RefundSettled { .. }
            | SandboxEvent::RefundReleased { .. }
            | SandboxEvent::TransferVoided { .. }
            | SandboxEvent::SandboxQueued { .. }
            | SandboxEvent::SandboxDequeued { .. }
            | SandboxEvent::PreviewTokenIssued { .. }
            | SandboxEvent::PreviewTokenRevoked { .. }
            | SandboxEvent::ShellOpened { .. }
            | SandboxEvent::ShellClosed { .. } => "1.0",
        }
        .to_string()
    }
}
