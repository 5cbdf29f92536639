//! Rules a `Sandbox` command can break, one variant per rule.

use super::lifecycle_state::SandboxState;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    #[error("sandbox not found")]
    NotFound,
    #[error("sandbox already exists")]
    AlreadyExists,
    #[error("sandbox is {0}")]
    Ended(SandboxState),
    #[error("sandbox is {state}, it must be running to {action}")]
    NotRunning {
        state: SandboxState,
        action: &'static str,
    },
    #[error("cannot {action} a sandbox that is {state}")]
    InvalidTransition {
        state: SandboxState,
        action: &'static str,
    },
    #[error("the sandbox has no balance left; extend its balance first")]
    OutOfBalance,
    #[error("amount must be positive")]
    InvalidAmount,
    #[error("the funding source does not match the sandbox's billing method")]
    WrongFundingSource,
    #[error("execution already exists")]
    DuplicateExecution,
    #[error("amount overflows")]
    Overflow,
    #[error("this sandbox is not billed over Lightning")]
    NotLightning,
    #[error("that payment was not requested by this sandbox")]
    UnknownPayment,
    #[error("that invoice expired unpaid")]
    InvoiceExpired,
    #[error("the sandbox must have ended before its balance is paid out")]
    NotEnded,
    #[error("the refund exceeds the balance")]
    RefundTooLarge,
    #[error("a refund of this sandbox is already being paid; wait until it settles or fails")]
    RefundInFlight,
    #[error("no such withdraw link, or already claimed")]
    WithdrawNotOffered,
    #[error("that credit transfer was voided; its credits went back to the account")]
    TransferVoided,
    #[error("that credit transfer already reached the sandbox")]
    TransferTaken,
    #[error("this shell ticket was used already; ask for a new shell URL")]
    TicketUsed,
}
