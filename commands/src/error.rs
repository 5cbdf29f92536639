//! The application's errors: one classification that every transport maps
//! (REST to a status and `{"code","message"}`, GraphQL and MCP alike).

pub use crate::error_code::ErrorCode;
use cqrs_es::AggregateError;
use domain::account::AccountError;
use domain::lightning::LightningError;
use domain::ports::RuntimeError;
use domain::sandbox::{SandboxError, SandboxState};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// Malformed or out-of-range input.
    #[error("{message}")]
    Invalid { code: ErrorCode, message: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    /// The sandbox's own rules refuse it (its user's file rights).
    #[error("{message}")]
    Denied { code: ErrorCode, message: String },
    /// The sandbox's disk is full.
    #[error("{0}")]
    NoSpace(String),
    /// Unknown, or not the caller's.
    #[error("{message}")]
    NotFound { code: ErrorCode, message: String },
    /// The sandbox has ended.
    #[error("{0}")]
    Gone(String),
    /// The request conflicts with the resource's state.
    #[error("{message}")]
    Conflict { code: ErrorCode, message: String },
    /// Money is missing.
    #[error("{message}")]
    PaymentRequired { code: ErrorCode, message: String },
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    RateLimited(String),
    /// No room for another sandbox of this tier.
    #[error("{0}")]
    NoCapacity(String),
    /// A dependency (Docker, Lightning) is unreachable or not configured.
    #[error("{message}")]
    Unavailable { code: ErrorCode, message: String },
    /// A bug or an unexpected failure; the message is for logs, not clients.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::Invalid { code, .. }
            | AppError::NotFound { code, .. }
            | AppError::Conflict { code, .. }
            | AppError::PaymentRequired { code, .. }
            | AppError::Unavailable { code, .. }
            | AppError::Denied { code, .. } => *code,
            AppError::NoSpace(_) => ErrorCode::NoSpace,
            AppError::Unauthorized(_) => ErrorCode::Unauthorized,
            AppError::Forbidden(_) => ErrorCode::Forbidden,
            AppError::Gone(_) => ErrorCode::SandboxTerminated,
            AppError::TooLarge(_) => ErrorCode::PayloadTooLarge,
            AppError::RateLimited(_) => ErrorCode::RateLimited,
            AppError::NoCapacity(_) => ErrorCode::NoCapacity,
            AppError::Internal(_) => ErrorCode::InternalError,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        AppError::Invalid {
            code: ErrorCode::InvalidRequest,
            message: message.into(),
        }
    }

    pub fn sandbox_not_found() -> Self {
        AppError::NotFound {
            code: ErrorCode::SandboxNotFound,
            message: "no such sandbox".into(),
        }
    }

    pub fn execution_not_found() -> Self {
        AppError::NotFound {
            code: ErrorCode::ExecutionNotFound,
            message: "no such execution".into(),
        }
    }

    pub fn account_not_found() -> Self {
        AppError::NotFound {
            code: ErrorCode::AccountNotFound,
            message: "no such account".into(),
        }
    }
}

impl From<SandboxError> for AppError {
    fn from(e: SandboxError) -> Self {
        let message = e.to_string();
        match e {
            SandboxError::NotFound => AppError::sandbox_not_found(),
            SandboxError::AlreadyExists | SandboxError::DuplicateExecution => AppError::Conflict {
                code: ErrorCode::Conflict,
                message,
            },
            SandboxError::Ended(state) => AppError::Gone(format!(
                "sandbox is {state}; create a new sandbox to continue"
            )),
            SandboxError::NotRunning { state, .. } => not_running(state, message),
            SandboxError::InvalidTransition { .. } => AppError::Conflict {
                code: ErrorCode::InvalidState,
                message,
            },
            SandboxError::OutOfBalance => AppError::PaymentRequired {
                code: ErrorCode::OutOfBalance,
                message,
            },
            SandboxError::InvalidAmount | SandboxError::WrongFundingSource => {
                AppError::invalid(message)
            }
            SandboxError::Overflow => AppError::invalid(message),
            SandboxError::NotLightning => AppError::Invalid {
                code: ErrorCode::NotLightning,
                message,
            },
            SandboxError::UnknownPayment => AppError::Invalid {
                code: ErrorCode::UnknownPayment,
                message,
            },
            SandboxError::InvoiceExpired => AppError::Conflict {
                code: ErrorCode::InvoiceExpired,
                message,
            },
            SandboxError::RefundInFlight => AppError::Conflict {
                code: ErrorCode::RefundInProgress,
                message,
            },
            SandboxError::WithdrawNotOffered => AppError::NotFound {
                code: ErrorCode::WithdrawNotFound,
                message,
            },
            SandboxError::TransferVoided | SandboxError::TransferTaken => AppError::Conflict {
                code: ErrorCode::Conflict,
                message,
            },
            SandboxError::TicketUsed => AppError::Unauthorized(message),
            SandboxError::NotEnded | SandboxError::RefundTooLarge => AppError::Conflict {
                code: ErrorCode::InvalidState,
                message,
            },
        }
    }
}

/// The error for an operation that needs a running sandbox.
pub(crate) fn not_running(state: SandboxState, message: String) -> AppError {
    match state {
        SandboxState::AwaitingPayment => AppError::PaymentRequired {
            code: ErrorCode::PaymentRequired,
            message: format!("{message}; pay the pending invoice first"),
        },
        SandboxState::Creating | SandboxState::Starting => AppError::Unavailable {
            code: ErrorCode::PodStarting,
            message: format!("{message}; it is starting, retry shortly"),
        },
        SandboxState::Queued => AppError::Unavailable {
            code: ErrorCode::PodStarting,
            message: format!("{message}; it is paid and waits for room on the server, retry later"),
        },
        SandboxState::Paused => AppError::Conflict {
            code: ErrorCode::SandboxPaused,
            message: format!("{message}; resume it first"),
        },
        SandboxState::Terminated | SandboxState::Failed | SandboxState::Expired => {
            AppError::Gone(message)
        }
        SandboxState::Running | SandboxState::Unknown => AppError::Conflict {
            code: ErrorCode::InvalidState,
            message,
        },
    }
}

impl From<AccountError> for AppError {
    fn from(e: AccountError) -> Self {
        let message = e.to_string();
        match e {
            AccountError::NotFound => AppError::NotFound {
                code: ErrorCode::AccountNotFound,
                message,
            },
            AccountError::AlreadyOpened => AppError::Conflict {
                code: ErrorCode::Conflict,
                message,
            },
            AccountError::InvalidAmount | AccountError::Overflow => AppError::invalid(message),
            AccountError::InsufficientCredits { .. } => AppError::PaymentRequired {
                code: ErrorCode::InsufficientCredits,
                message,
            },
        }
    }
}

/// The error a failed Lightning call is to the caller.
pub(crate) fn lightning_error(e: LightningError) -> AppError {
    match e {
        LightningError::Unavailable(_) => AppError::Unavailable {
            code: ErrorCode::LightningUnavailable,
            message: e.to_string(),
        },
        LightningError::Address(_) => AppError::Invalid {
            code: ErrorCode::InvalidLightningAddress,
            message: e.to_string(),
        },
        LightningError::InvalidInvoice(_) => AppError::Invalid {
            code: ErrorCode::InvalidInvoice,
            message: e.to_string(),
        },
        LightningError::Refused(_) | LightningError::PaymentFailed(_) => AppError::Unavailable {
            code: ErrorCode::LightningFailed,
            message: e.to_string(),
        },
    }
}

impl From<RuntimeError> for AppError {
    fn from(e: RuntimeError) -> Self {
        let message = e.to_string();
        match e {
            RuntimeError::FileNotFound(_) => AppError::NotFound {
                code: ErrorCode::FileNotFound,
                message,
            },
            RuntimeError::IsDirectory(_) => AppError::Invalid {
                code: ErrorCode::IsADirectory,
                message,
            },
            RuntimeError::NotADirectory(_) => AppError::Invalid {
                code: ErrorCode::NotADirectory,
                message,
            },
            RuntimeError::NotRegularFile(_) => AppError::Invalid {
                code: ErrorCode::NotARegularFile,
                message,
            },
            RuntimeError::TooManyEntries { .. } => AppError::Invalid {
                code: ErrorCode::TooManyEntries,
                message,
            },
            RuntimeError::NotWritable { .. } | RuntimeError::PermissionDenied(_) => {
                AppError::Denied {
                    code: ErrorCode::PermissionDenied,
                    message,
                }
            }
            RuntimeError::NoSpace(_) => AppError::NoSpace(message),
            RuntimeError::ContainerGone => AppError::Gone(message),
            RuntimeError::NoNetwork(_) => AppError::Conflict {
                code: ErrorCode::SandboxOffline,
                message,
            },
            RuntimeError::ImageMissing(_) | RuntimeError::Unavailable(_) => AppError::Unavailable {
                code: ErrorCode::RuntimeUnavailable,
                message,
            },
            RuntimeError::Failed(_) => AppError::Internal(message),
        }
    }
}

impl<E> From<AggregateError<E>> for AppError
where
    E: std::error::Error + Into<AppError>,
{
    fn from(e: AggregateError<E>) -> Self {
        match e {
            AggregateError::UserError(e) => e.into(),
            AggregateError::AggregateConflict => AppError::Conflict {
                code: ErrorCode::Conflict,
                message: "the resource changed concurrently; retry".into(),
            },
            other => AppError::Internal(format!("event store: {other}")),
        }
    }
}
