//! The error codes clients see, one enum for every transport: the `code` of
//! a REST error body, of a GraphQL error's extensions, and of an MCP tool
//! error. Codes are part of the wire contract: never rename one.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    AccountNotFound,
    Conflict,
    ExecutionFinished,
    ExecutionNotFound,
    FileNotFound,
    Forbidden,
    InsufficientCredits,
    InternalError,
    InvalidAmount,
    InvalidBase64,
    InvalidBillingMethod,
    InvalidContentType,
    InvalidInvoice,
    InvalidJson,
    InvalidLabel,
    InvalidLightningAddress,
    InvalidRequest,
    InvalidState,
    InvalidTier,
    InvalidNetworkPolicy,
    InvoiceExpired,
    IsADirectory,
    LightningFailed,
    LightningUnavailable,
    NoCapacity,
    NotADirectory,
    NotARegularFile,
    NotFound,
    NotLightning,
    NotUtf8,
    NoSpace,
    OutOfBalance,
    PayloadTooLarge,
    PaymentRequired,
    PermissionDenied,
    PodStarting,
    RateLimited,
    RefundInProgress,
    RuntimeUnavailable,
    SandboxNotFound,
    SandboxOffline,
    /// The server is stopping (a restart): reconnect, here or to another replica.
    ServerStopping,
    SandboxPaused,
    SandboxPortUnreachable,
    SandboxTerminated,
    TooManyEntries,
    Unauthorized,
    UnknownPayment,
    WithdrawClaimed,
    WithdrawNotFound,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::AccountNotFound => "account_not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::ExecutionFinished => "execution_finished",
            ErrorCode::ExecutionNotFound => "execution_not_found",
            ErrorCode::FileNotFound => "file_not_found",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::InsufficientCredits => "insufficient_credits",
            ErrorCode::InternalError => "internal_error",
            ErrorCode::InvalidAmount => "invalid_amount",
            ErrorCode::InvalidBase64 => "invalid_base64",
            ErrorCode::InvalidBillingMethod => "invalid_billing_method",
            ErrorCode::InvalidContentType => "invalid_content_type",
            ErrorCode::InvalidInvoice => "invalid_invoice",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidLabel => "invalid_label",
            ErrorCode::InvalidLightningAddress => "invalid_lightning_address",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidState => "invalid_state",
            ErrorCode::InvalidTier => "invalid_tier",
            ErrorCode::InvalidNetworkPolicy => "invalid_network_policy",
            ErrorCode::InvoiceExpired => "invoice_expired",
            ErrorCode::IsADirectory => "is_a_directory",
            ErrorCode::LightningFailed => "lightning_failed",
            ErrorCode::LightningUnavailable => "lightning_unavailable",
            ErrorCode::NoCapacity => "no_capacity",
            ErrorCode::NotADirectory => "not_a_directory",
            ErrorCode::NotARegularFile => "not_a_regular_file",
            ErrorCode::NotFound => "not_found",
            ErrorCode::NotLightning => "not_lightning",
            ErrorCode::NotUtf8 => "not_utf8",
            ErrorCode::OutOfBalance => "out_of_balance",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::PaymentRequired => "payment_required",
            ErrorCode::PodStarting => "pod_starting",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::RefundInProgress => "refund_in_progress",
            ErrorCode::RuntimeUnavailable => "runtime_unavailable",
            ErrorCode::SandboxNotFound => "sandbox_not_found",
            ErrorCode::SandboxOffline => "sandbox_offline",
            ErrorCode::ServerStopping => "server_stopping",
            ErrorCode::SandboxPaused => "sandbox_paused",
            ErrorCode::SandboxPortUnreachable => "sandbox_port_unreachable",
            ErrorCode::SandboxTerminated => "sandbox_terminated",
            ErrorCode::TooManyEntries => "too_many_entries",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::UnknownPayment => "unknown_payment",
            ErrorCode::WithdrawClaimed => "withdraw_claimed",
            ErrorCode::WithdrawNotFound => "withdraw_not_found",
            ErrorCode::NoSpace => "no_space",
            ErrorCode::PermissionDenied => "permission_denied",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn codes_serialize_as_their_wire_names() {
        assert_eq!(
            serde_json::to_value(ErrorCode::SandboxNotFound).unwrap(),
            "sandbox_not_found"
        );
        assert_eq!(ErrorCode::PodStarting.as_str(), "pod_starting");
    }
}
