//! The application's errors: one classification that every transport maps
//! (REST to a status and `{"code","message"}`, GraphQL and MCP alike).

use cqrs_es::AggregateError;
use domain::account::AccountError;
use domain::ports::RuntimeError;
use domain::sandbox::{SandboxError, SandboxState};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// Malformed or out-of-range input.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    /// Unknown, or not the caller's.
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// The sandbox has ended.
    #[error("{0}")]
    Gone(String),
    /// The request conflicts with the resource's state.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Money is missing.
    #[error("{message}")]
    PaymentRequired { code: &'static str, message: String },
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    RateLimited(String),
    /// No room for another sandbox of this tier.
    #[error("{0}")]
    NoCapacity(String),
    /// A dependency (Docker, Lightning) is unreachable or not configured.
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    /// A bug or an unexpected failure; the message is for logs, not clients.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Invalid { code, .. }
            | AppError::NotFound { code, .. }
            | AppError::Conflict { code, .. }
            | AppError::PaymentRequired { code, .. }
            | AppError::Unavailable { code, .. } => code,
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::Gone(_) => "sandbox_terminated",
            AppError::TooLarge(_) => "payload_too_large",
            AppError::RateLimited(_) => "rate_limited",
            AppError::NoCapacity(_) => "no_capacity",
            AppError::Internal(_) => "internal_error",
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        AppError::Invalid {
            code: "invalid_request",
            message: message.into(),
        }
    }

    pub fn sandbox_not_found() -> Self {
        AppError::NotFound {
            code: "sandbox_not_found",
            message: "no such sandbox".into(),
        }
    }

    pub fn execution_not_found() -> Self {
        AppError::NotFound {
            code: "execution_not_found",
            message: "no such execution".into(),
        }
    }
}

impl From<SandboxError> for AppError {
    fn from(e: SandboxError) -> Self {
        let message = e.to_string();
        match e {
            SandboxError::NotFound => AppError::sandbox_not_found(),
            SandboxError::AlreadyExists | SandboxError::DuplicateExecution => AppError::Conflict {
                code: "conflict",
                message,
            },
            SandboxError::Ended(state) => AppError::Gone(format!(
                "sandbox is {state}; create a new sandbox to continue"
            )),
            SandboxError::NotRunning { state, .. } => not_running(state, message),
            SandboxError::InvalidTransition { .. } => AppError::Conflict {
                code: "invalid_state",
                message,
            },
            SandboxError::OutOfBalance => AppError::PaymentRequired {
                code: "out_of_balance",
                message,
            },
            SandboxError::InvalidAmount | SandboxError::WrongFundingSource => {
                AppError::invalid(message)
            }
            SandboxError::Overflow => AppError::invalid(message),
            SandboxError::NotLightning => AppError::Invalid {
                code: "not_lightning",
                message,
            },
            SandboxError::UnknownPayment => AppError::Invalid {
                code: "unknown_payment",
                message,
            },
            SandboxError::InvoiceExpired => AppError::Conflict {
                code: "invoice_expired",
                message,
            },
            SandboxError::NotEnded | SandboxError::RefundTooLarge => AppError::Conflict {
                code: "invalid_state",
                message,
            },
        }
    }
}

/// The error for an operation that needs a running sandbox.
pub(crate) fn not_running(state: SandboxState, message: String) -> AppError {
    match state {
        SandboxState::AwaitingPayment => AppError::PaymentRequired {
            code: "payment_required",
            message: format!("{message}; pay the pending invoice first"),
        },
        SandboxState::Creating | SandboxState::Starting => AppError::Unavailable {
            code: "pod_starting",
            message: format!("{message}; it is starting, retry shortly"),
        },
        SandboxState::Paused => AppError::Conflict {
            code: "sandbox_paused",
            message: format!("{message}; resume it first"),
        },
        SandboxState::Terminated | SandboxState::Failed => AppError::Gone(message),
        SandboxState::Running | SandboxState::Unknown => AppError::Conflict {
            code: "invalid_state",
            message,
        },
    }
}

impl From<AccountError> for AppError {
    fn from(e: AccountError) -> Self {
        let message = e.to_string();
        match e {
            AccountError::NotFound => AppError::NotFound {
                code: "account_not_found",
                message,
            },
            AccountError::AlreadyOpened => AppError::Conflict {
                code: "conflict",
                message,
            },
            AccountError::InvalidAmount | AccountError::Overflow => AppError::invalid(message),
            AccountError::InsufficientCredits { .. } => AppError::PaymentRequired {
                code: "insufficient_credits",
                message,
            },
        }
    }
}

impl From<RuntimeError> for AppError {
    fn from(e: RuntimeError) -> Self {
        let message = e.to_string();
        match e {
            RuntimeError::FileNotFound(_) => AppError::NotFound {
                code: "file_not_found",
                message,
            },
            RuntimeError::IsDirectory(_) => AppError::Invalid {
                code: "is_a_directory",
                message,
            },
            RuntimeError::NotADirectory(_) => AppError::Invalid {
                code: "not_a_directory",
                message,
            },
            RuntimeError::NotWritable { .. } => AppError::Forbidden(message),
            RuntimeError::ContainerGone => AppError::Gone(message),
            RuntimeError::NoNetwork(_) => AppError::Conflict {
                code: "sandbox_offline",
                message,
            },
            RuntimeError::ImageMissing(_) | RuntimeError::Unavailable(_) => AppError::Unavailable {
                code: "runtime_unavailable",
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
                code: "conflict",
                message: "the resource changed concurrently; retry".into(),
            },
            other => AppError::Internal(format!("event store: {other}")),
        }
    }
}
